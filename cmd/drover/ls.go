package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/drover/drover/reconcile"
)

func lsCommand() command {
	return command{
		name: "ls", args: "",
		summary: "List the projects on this engine (drover's and docker compose's) with their services' states.",
		example: "  drover ls\n  drover ls --format json",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			format := fs.String("format", "table", "output format: table or json")
			return func(ctx context.Context, a *app, args []string) error {
				if err := checkFormat(*format); err != nil {
					return err
				}
				if len(args) > 0 {
					return usageError{"ls takes no arguments"}
				}
				d, err := a.connect(ctx)
				if err != nil {
					return err
				}
				defer d.Close()
				cs, err := d.AllProjects(ctx)
				if err != nil {
					return err
				}
				rows := reconcile.Projects(cs)
				if *format == "json" {
					if rows == nil {
						rows = []reconcile.ProjectSummary{}
					}
					return writeJSON(a.stdout, rows)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "NAME\tRUNNING\tSERVICES\tDIRECTORY")
				for _, r := range rows {
					fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%s\n", r.Name, r.Running, r.Containers, dash(r.States), dash(r.WorkingDir))
				}
				return tw.Flush()
			}
		},
	}
}

// checkProjectExists refuses a project given by name alone (no files) that
// has no container on the engine, rather than answering as if it were an
// empty one ("nothing to roll back to").
func (a *app) checkProjectExists(ctx context.Context, s *session, obs reconcile.Observed) error {
	if s.project != nil || len(obs.Containers) > 0 || len(obs.Warnings) > 0 {
		return nil
	}
	// A project whose containers are gone may still have its network or
	// volumes, which down must be able to remove.
	if nets, err := s.engine.ProjectNetworks(ctx, s.name); err != nil || len(nets) > 0 {
		return err
	}
	if vols, err := s.engine.ProjectVolumes(ctx, s.name); err != nil || len(vols) > 0 {
		return err
	}
	cs, err := s.engine.AllProjects(ctx)
	if err != nil {
		return err
	}
	return reconcile.NoSuchProject(s.name, reconcile.Projects(cs))
}

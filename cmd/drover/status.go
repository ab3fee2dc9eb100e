package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/drover/drover/reconcile"
)

func statusCommand() command {
	return command{
		name: "status", args: "",
		summary: "Show each service's upgrade state (active, upgrading, upgraded), revision, serving and kept containers, and the command that goes on from there.",
		example: "  drover status\n  drover -p mystack status --format json",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			format := fs.String("format", "table", "output format: table or json")
			registry := fs.Bool("registry", false, "ask the registry about every service that pulls its image (by default only those that follow their tag: pull always, daily, weekly, every_<duration>)")
			return func(ctx context.Context, a *app, args []string) error {
				if err := checkFormat(*format); err != nil {
					return err
				}
				s, obs, err := a.openObserved(ctx, filesOptional, false, nil)
				if err != nil {
					return err
				}
				defer s.close()
				rows := reconcile.Status(s.project, obs)
				var notes []string
				for _, c := range a.askRegistries(ctx, s, nil, *registry) {
					note := c.Note()
					for i := range rows {
						if rows[i].Service == c.Service {
							rows[i].Registry = note
						}
					}
					if note != "" {
						notes = append(notes, note)
					}
				}
				if *format == "json" {
					return writeJSON(a.stdout, rows)
				}
				tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "SERVICE\tSTATE\tREV\tSERVING\tKEPT\tOUT OF SYNC\tNEXT")
				defer func() {
					for _, r := range rows {
						for _, b := range r.Proxy {
							fmt.Fprintf(a.stdout, "proxy %s %s\n", r.Service, b)
						}
					}
					for _, n := range notes {
						fmt.Fprintf(a.stdout, "registry %s\n", n)
					}
				}()
				for _, r := range rows {
					if r.State == reconcile.StateLoadBalancer {
						// No container: its rules and backends follow.
						fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t-\t%s\n", r.Service, r.State, dash(r.Next))
						continue
					}
					serving := fmt.Sprint(r.Serving)
					if s.project != nil {
						serving = fmt.Sprintf("%d/%d", r.Serving, r.Scale)
					}
					fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%d\t%s\t%s\n", r.Service, r.State, r.Revision, serving, r.Kept, dash(r.OutOfSync), dash(r.Next))
				}
				return tw.Flush()
			}
		},
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func diffCommand() command {
	return command{
		name: "diff", args: "[SERVICE...]",
		summary: "Show, key by key, what differs between the files and the running revision of services; environment values and config contents (their digests) are masked.",
		example: "  drover diff web\n  drover diff --show-values",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			show := fs.Bool("show-values", false, "print environment values and config digests instead of masking them")
			registry := fs.Bool("registry", false, "ask the registry about every service that pulls its image (by default only those that follow their tag)")
			return func(ctx context.Context, a *app, args []string) error {
				s, obs, err := a.openObserved(ctx, filesRequired, false, nil)
				if err != nil {
					return err
				}
				defer s.close()
				diffs, err := reconcile.Diff(s.project, obs, args)
				if err != nil {
					return err
				}
				// A container another tool made has no drover spec to diff
				// against: its inspect data says, key by key, what drover
				// would change. Read for such services only (a container and an
				// image inspect each), and by diff alone: status and up stay cheap.
				adopted := reconcile.Adopted(s.project, obs)
				for i, d := range diffs {
					c, ok := adopted[d.Service]
					if !ok {
						continue
					}
					got, err := s.engine.InspectSpec(ctx, c.ID)
					if err != nil {
						return fmt.Errorf("diff of service %q: %w", d.Service, err)
					}
					if diffs[i], err = reconcile.WithInspected(s.project, d, c, got, obs.APIVersion); err != nil {
						return err
					}
				}
				registryNotes := map[string]string{}
				for _, c := range a.askRegistries(ctx, s, args, *registry) {
					registryNotes[c.Service] = strings.TrimPrefix(c.Note(), c.Service+": ")
				}
				printDiffs(a.stdout, diffs, *show, registryNotes)
				return nil
			}
		},
	}
}

// printDiffs prints each service's differences, values of secret keys
// masked unless show.
// notes holds a line to print first per service (what its registry says).
func printDiffs(w io.Writer, diffs []reconcile.ServiceDiff, show bool, notes map[string]string) {
	for _, d := range diffs {
		if note := notes[d.Service]; note != "" {
			fmt.Fprintf(w, "%s: registry: %s\n", d.Service, note)
		}
		if len(d.Changes) == 0 && d.Image == "" {
			fmt.Fprintf(w, "%s: in sync\n", d.Service)
			continue
		}
		fmt.Fprintf(w, "%s:\n", d.Service)
		if d.Image != "" {
			fmt.Fprintf(w, "  image id  %s\n", d.Image)
		}
		for _, c := range d.Changes {
			old, new := c.Old, c.New
			if c.Secret && !show {
				old, new = mask(old), mask(new)
			}
			fmt.Fprintf(w, "  %s\n    - %s\n    + %s\n", c.Key, dash(old), dash(new))
		}
	}
}

// mask hides a value but says whether there is one.
func mask(v string) string {
	if v == "" {
		return ""
	}
	return "****"
}

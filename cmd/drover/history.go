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

func historyCommand() command {
	return command{
		name: "history", args: "[SERVICE...]",
		summary: "List each service's recorded revisions: when, the image and its ID, and what changed from the one before (environment values masked); up --rollback --to-revision N goes back to one.",
		example: "  drover history web\n  drover -p mystack history --format json\n  drover up --rollback --to-revision 2 web",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			format := fs.String("format", "table", "output format: table or json")
			show := fs.Bool("show-values", false, "print environment values instead of masking them")
			return func(ctx context.Context, a *app, args []string) error {
				if err := checkFormat(*format); err != nil {
					return err
				}
				s, obs, err := a.openObserved(ctx, filesOptional, false, args)
				if err != nil {
					return err
				}
				defer s.close()
				services := reconcile.History(obs, args)
				for i := range services {
					for j := range services[i].Revisions {
						maskChanges(services[i].Revisions[j].Changes, *show)
					}
					for _, w := range services[i].Warnings {
						fmt.Fprintf(a.stderr, "warning: %s: %s\n", services[i].Service, w)
					}
				}
				if *format == "json" {
					return writeJSON(a.stdout, services)
				}
				return historyTable(a.stdout, services)
			}
		},
	}
}

// maskChanges hides secret values unless asked, in place.
func maskChanges(changes []reconcile.Change, show bool) {
	for i, c := range changes {
		if c.Secret && !show {
			changes[i].Old, changes[i].New = mask(c.Old), mask(c.New)
		}
	}
}

// historyTable prints a block per service: a line per revision, what
// changed from the one before it in the last column, a line per key.
func historyTable(w io.Writer, services []reconcile.ServiceRevisions) error {
	for i, sr := range services {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s:\n", sr.Service)
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  REV\tCREATED\tIMAGE\tIMAGE ID\tCONTAINERS\tNOTE\tCHANGES")
		for _, r := range sr.Revisions {
			created := "-"
			if !r.Created.IsZero() {
				created = r.Created.Local().Format("2006-01-02 15:04:05")
			}
			var note []string
			if r.RollbackOf > 0 {
				note = append(note, fmt.Sprintf("rollback to %d", r.RollbackOf))
			}
			if !r.SpecKept {
				note = append(note, "spec not recorded")
			}
			changes := []string{"-"}
			if len(r.Changes) > 0 {
				changes = nil
			}
			for _, c := range r.Changes {
				changes = append(changes, fmt.Sprintf("%s: %s → %s", c.Key, dash(c.Old), dash(c.New)))
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Revision, created, dash(r.Image), dash(shortID(strings.TrimPrefix(r.ImageID, "sha256:"))), dash(r.Containers), dash(strings.Join(note, "; ")), changes[0])
			for _, c := range changes[1:] {
				fmt.Fprintf(tw, "\t\t\t\t\t\t%s\n", c)
			}
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

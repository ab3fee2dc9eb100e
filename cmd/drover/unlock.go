package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/moby/term"
	"github.com/spf13/pflag"

	"github.com/drover/drover/lease"
)

func unlockCommand() command {
	return command{
		name: "unlock", args: "",
		summary: "Remove the project's lease, left on the engine by a run that is gone, instead of waiting for it to expire.",
		example: "  drover unlock -p mystack\n  drover -p mystack unlock --yes",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			yes := fs.BoolP("yes", "y", false, "remove the lease without asking")
			name := fs.StringP("project-name", "p", "", "project name (the global -p, accepted after the command too)")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usageError{"unlock takes no arguments"}
				}
				if *name != "" {
					a.files.ProjectName = *name
				}
				return a.unlock(ctx, *yes)
			}
		},
	}
}

// unlock shows the project's lease and, once confirmed, removes it (by its
// ID: a lease taken since by another run is left alone).
func (a *app) unlock(ctx context.Context, yes bool) error {
	s, err := a.open(ctx, filesOptional, false)
	if err != nil {
		return err
	}
	defer s.close()
	st := s.engine.Leases()
	cur, err := st.Inspect(ctx, s.name)
	if errors.Is(err, lease.ErrGone) {
		fmt.Fprintf(a.stdout, "project %q has no lease: nothing to remove\n", s.name)
		return nil
	}
	if err != nil {
		return err
	}
	now, err := st.Now(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "The lease on project %q is %s.\n", s.name, lease.Describe(cur, now))
	if !cur.Expired(now) {
		fmt.Fprintln(a.stdout, "It is still being renewed: if that run is alive, it stops as soon as it finds its lease gone, maybe in the middle of an upgrade (the next run finishes or rolls back what it left).")
	}
	if !yes {
		// A real terminal, not just a character device: /dev/null is one.
		if !term.IsTerminal(os.Stdin.Fd()) {
			return errors.New("not removing the lease without a confirmation, and there is no terminal to ask on: run drover unlock --yes")
		}
		fmt.Fprintf(a.stderr, "Remove it? [y/N] ")
		answer, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			return errors.New("not removed")
		}
	}
	switch err := st.Remove(ctx, cur.ID); {
	case errors.Is(err, lease.ErrGone):
		fmt.Fprintf(a.stdout, "the lease was released or taken over meanwhile: nothing removed\n")
		return nil
	case err != nil:
		return err
	}
	fmt.Fprintf(a.stdout, "removed the lease on project %q\n", s.name)
	return nil
}

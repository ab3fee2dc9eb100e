package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/drover/drover/reconcile"
)

func upCommand() command {
	return command{
		name: "up", args: "[SERVICE...]",
		summary: "Create and start what is missing, remove what is beyond the scale; report services whose configuration changed.",
		example: "  drover up -d\n  drover -f docker-compose.yml -r rancher-compose.yml up web",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			detach := fs.BoolP("detach", "d", false, "return once the project has converged (drover always does; accepted for docker compose users)")
			attach := fs.Bool("attach", false, "stream the services' logs once the project has converged")
			removeOrphans := fs.Bool("remove-orphans", false, "remove containers of services the files no longer define")
			waitTimeout := fs.Duration("wait-timeout", reconcile.DefaultWaitTimeout, "how long to wait for containers to be running and healthy")
			dryRun := fs.Bool("dry-run", false, "print the plan and change nothing")
			return func(ctx context.Context, a *app, args []string) error {
				_ = *detach
				return a.up(ctx, reconcile.Options{Services: args, RemoveOrphans: *removeOrphans, WaitTimeout: *waitTimeout}, *dryRun, *attach, "up")
			}
		},
	}
}

func scaleCommand() command {
	return command{
		name: "scale", args: "SERVICE=N...",
		summary: "Set the number of containers of services, until the next up reads the files again.",
		example: "  drover scale web=4 worker=2",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			waitTimeout := fs.Duration("wait-timeout", reconcile.DefaultWaitTimeout, "how long to wait for containers to be running and healthy")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) == 0 {
					return usageError{"expected SERVICE=N arguments"}
				}
				opts := reconcile.Options{Scale: map[string]int{}, WaitTimeout: *waitTimeout}
				for _, arg := range args {
					name, num, ok := strings.Cut(arg, "=")
					n, err := strconv.Atoi(num)
					if !ok || err != nil || n < 0 {
						return usageError{fmt.Sprintf("%q: expected SERVICE=N with N a whole number", arg)}
					}
					opts.Scale[name] = n
					opts.Services = append(opts.Services, name)
				}
				return a.up(ctx, opts, false, false, "scale")
			}
		},
	}
}

// up plans and applies a plain up (or a scale), then prints what the user
// must know: services out of sync, orphans.
func (a *app) up(ctx context.Context, opts reconcile.Options, dryRun, attach bool, verb string) error {
	s, err := a.open(ctx, filesRequired, !dryRun)
	if err != nil {
		return err
	}
	defer s.close()
	obs, err := s.observe(ctx)
	if err != nil {
		return err
	}
	plan, err := reconcile.Up(s.project, obs, opts)
	if err != nil {
		return err
	}
	for _, w := range plan.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", w)
	}
	if dryRun {
		fmt.Fprint(a.stdout, plan.String())
		if plan.Empty() {
			fmt.Fprintln(a.stdout, "nothing to do")
		}
		return nil
	}
	pr := a.printer()
	applyErr := reconcile.Apply(ctx, s.engine, plan, pr.event)
	for _, n := range plan.Notes {
		fmt.Fprintf(a.stderr, "%s\n", n)
	}
	pr.summary(verb)
	if applyErr != nil {
		return applyErr
	}
	if attach {
		return a.streamLogs(ctx, s, opts.Services, true, "all", false)
	}
	return nil
}

func durationPtr(d time.Duration) *time.Duration {
	if d < 0 {
		return nil
	}
	return &d
}

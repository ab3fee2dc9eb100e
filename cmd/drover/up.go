package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

// upFlags are the flags of up.
type upFlags struct {
	attach, removeOrphans, dryRun  bool
	upgrade, forceUpgrade, confirm bool
	rollback, force                bool
	recreateProxy, build           bool
	// pull is --pull: always, missing or never over the files' policies.
	pull           compose.PullMode
	batchSize      int
	toRevision     int
	interval       string
	waitTimeout    time.Duration
	waitTimeoutSet bool
}

func upCommand() command {
	return command{
		name: "up", args: "[SERVICE...]",
		summary: "Create and start what is missing; with --upgrade, upgrade what changed in health-gated batches, keeping the old containers for --rollback until --confirm-upgrade.",
		example: "  drover up -d\n  drover up --upgrade web            # staged upgrade, old containers kept\n  drover up --confirm-upgrade        # drop the kept containers\n  drover -p mystack up --rollback    # back to them, from any directory",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			var f upFlags
			fs.BoolP("detach", "d", false, "return once the project has converged (drover always does; accepted for docker compose users)")
			fs.BoolVar(&f.attach, "attach", false, "stream the services' logs once the project has converged")
			fs.BoolVar(&f.removeOrphans, "remove-orphans", false, "remove containers of services the files no longer define")
			fs.DurationVar(&f.waitTimeout, "wait-timeout", reconcile.DefaultWaitTimeout, "how long to wait for containers to be running and healthy (for an upgrade batch: the service's health timeout, 60s unless health_check.initializing_timeout says otherwise)")
			fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan and change nothing")
			fs.BoolVarP(&f.upgrade, "upgrade", "u", false, "upgrade the services whose configuration or image changed, in batches (alias --recreate)")
			fs.BoolVar(&f.upgrade, "recreate", false, "alias of --upgrade, as in rancher-compose")
			fs.BoolVar(&f.forceUpgrade, "force-upgrade", false, "upgrade the named services (all when none is named) even when in sync (alias --force-recreate)")
			fs.BoolVar(&f.forceUpgrade, "force-recreate", false, "alias of --force-upgrade")
			fs.BoolVarP(&f.confirm, "confirm-upgrade", "c", false, "remove the containers kept for a rollback of upgraded services (with --upgrade: upgrade, then confirm)")
			fs.BoolVarP(&f.rollback, "rollback", "r", false, "bring the kept containers back and remove the new ones; with nothing kept (after a confirm), make the revision before the serving one again from its record")
			fs.IntVar(&f.toRevision, "to-revision", 0, "with --rollback: go back to this revision (see drover history): its kept containers, or new ones made from its recorded spec and image ID in health-gated batches, keeping the serving ones for a rollback")
			fs.BoolVar(&f.recreateProxy, "recreate-proxy", false, "replace the front proxy when its ports (or drover's build) changed: its ports close for about a second")
			fs.BoolVar(&f.force, "force", false, "with --confirm-upgrade: confirm even when the new revision has not passed its health gate or has failed since")
			fs.BoolVar(&f.build, "build", false, "build the images of services with a build section first (an image that changed is then out of sync: with --upgrade, upgraded)")
			pull := fs.String("pull", "", "pull policy for this run, over pull_policy and io.rancher.container.pull_image: always, missing or never")
			fs.IntVar(&f.batchSize, "batch-size", 0, "containers upgraded at once (default: the service's policy, else 2)")
			fs.StringVar(&f.interval, "interval", "", "pause between batches: milliseconds (1500) or a duration (1.5s) (default: the service's policy, else 1000)")
			return func(ctx context.Context, a *app, args []string) error {
				f.waitTimeoutSet = fs.Changed("wait-timeout")
				if *pull != "" {
					mode, err := compose.ParsePullFlag(*pull)
					if err != nil {
						return usageError{err.Error()}
					}
					f.pull = mode
				}
				return a.upCmd(ctx, f, args)
			}
		},
	}
}

func (a *app) upCmd(ctx context.Context, f upFlags, args []string) error {
	if f.rollback && (f.upgrade || f.forceUpgrade || f.confirm) {
		return usageError{"--rollback goes with no other upgrade flag"}
	}
	if f.toRevision != 0 && !f.rollback {
		return usageError{"--to-revision goes with --rollback"}
	}
	if f.toRevision < 0 {
		return usageError{"--to-revision must be a revision number (see drover history)"}
	}
	if f.force && !f.confirm {
		return usageError{"--force goes with --confirm-upgrade"}
	}
	if f.batchSize < 0 {
		return usageError{"--batch-size must be at least 1"}
	}
	interval, err := parseInterval(f.interval)
	if err != nil {
		return usageError{err.Error()}
	}
	opts := reconcile.UpgradeOptions{
		Options:   reconcile.Options{Services: args, RemoveOrphans: f.removeOrphans, WaitTimeout: f.waitTimeout, RecreateProxy: f.recreateProxy},
		BatchSize: f.batchSize, Interval: interval,
	}
	if f.waitTimeoutSet {
		opts.HealthTimeout = f.waitTimeout
	}
	switch {
	case f.rollback:
		return a.rollback(ctx, reconcile.RollbackToOptions{UpgradeOptions: opts, Revision: f.toRevision}, f.dryRun)
	case f.confirm && !f.upgrade && !f.forceUpgrade:
		return a.confirm(ctx, args, f.force, f.dryRun)
	case f.upgrade || f.forceUpgrade:
		if f.forceUpgrade {
			opts.Force = args
			if len(args) == 0 {
				opts.Force = []string{"*"}
			}
		}
		return a.upgrade(ctx, opts, f)
	}
	return a.up(ctx, reconcile.Options{Services: args, RemoveOrphans: f.removeOrphans, WaitTimeout: f.waitTimeout, RecreateProxy: f.recreateProxy}, f, "up")
}

// parseInterval reads --interval: a bare number is milliseconds, as
// rancher-compose took it; anything else is a Go duration.
func parseInterval(s string) (*time.Duration, error) {
	if s == "" {
		return nil, nil
	}
	if ms, err := strconv.Atoi(s); err == nil && ms >= 0 {
		d := time.Duration(ms) * time.Millisecond
		return &d, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("--interval %q: expected milliseconds (1500) or a duration (1.5s)", s)
	}
	return &d, nil
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
				return a.up(ctx, opts, upFlags{}, "scale")
			}
		},
	}
}

// up plans and applies a plain up (or a scale), then prints what the user
// must know: services out of sync, orphans. An up (not a scale) first
// fetches what the pull policies ask for (refresh).
func (a *app) up(ctx context.Context, opts reconcile.Options, f upFlags, verb string) error {
	dryRun, attach := f.dryRun, f.attach
	s, err := a.open(ctx, filesRequired, !dryRun)
	if err != nil {
		return err
	}
	defer s.close()
	a.warn(s.project)
	a.overrideFetch(s, f)
	obs, err := s.observe(ctx)
	if err != nil {
		return err
	}
	if verb == "up" {
		if obs, err = a.refreshed(ctx, s, opts.Services, obs, dryRun); err != nil {
			return err
		}
	}
	plan, err := reconcile.Up(s.project, obs, opts)
	if err != nil {
		return err
	}
	if err := a.run(ctx, s, plan, dryRun, verb); err != nil {
		if ctx.Err() != nil {
			a.adviseAfterInterrupt(ctx, s)
			return interrupted{err}
		}
		return err
	}
	if left := plan.Left(); len(left) > 0 && !dryRun {
		return notConverged{left}
	}
	if attach && !dryRun {
		if obs, err = s.observe(ctx); err != nil {
			return err
		}
		// Following logs changes nothing: let other runs in meanwhile.
		if s.release != nil {
			s.release()
			s.release = nil
		}
		return a.streamLogs(ctx, s, obs, opts.Services, true, "all", false)
	}
	return nil
}

// run prints a plan (dry run) or applies it, with its warnings and notes.
func (a *app) run(ctx context.Context, s *session, plan reconcile.Plan, dryRun bool, verb string) error {
	if a.printPlan(plan.Warnings, plan, dryRun) {
		return nil
	}
	pr := a.printer(plan.Targets()...)
	err := reconcile.Apply(ctx, s.engine, plan, pr.event)
	pr.summary(verb) // ends the live line before anything else is printed
	for _, n := range plan.AllNotes() {
		fmt.Fprintln(a.stderr, n)
	}
	return err
}

// upgrade runs up --upgrade: pull what the pull policies ask for, plan, apply; a service whose
// batch fails is rolled back or paused as its policy says; with
// --confirm-upgrade the upgraded services are confirmed at the end.
func (a *app) upgrade(ctx context.Context, opts reconcile.UpgradeOptions, f upFlags) error {
	s, err := a.open(ctx, filesRequired, !f.dryRun)
	if err != nil {
		return err
	}
	defer s.close()
	a.warn(s.project)
	a.overrideFetch(s, f)
	obs, err := s.observe(ctx)
	if err != nil {
		return err
	}
	if obs, err = a.refreshed(ctx, s, opts.Services, obs, f.dryRun); err != nil {
		return err
	}
	plan, err := reconcile.Upgrade(s.project, obs, opts)
	if err != nil {
		return err
	}
	applyErr := a.run(ctx, s, plan, f.dryRun, "upgrade")
	if f.dryRun {
		return nil
	}
	if applyErr != nil {
		return a.afterFailure(ctx, s, opts, applyErr)
	}
	if !f.confirm {
		return nil
	}
	obs, err = s.observe(ctx)
	if err != nil {
		return err
	}
	confirm, err := reconcile.Confirm(obs, opts.Services, f.force)
	if err != nil {
		return err
	}
	return a.run(ctx, s, confirm, false, "confirm")
}

// afterFailure carries out each failed service's failure action: rollback
// (the default) restores the kept revision; pause leaves it upgrading. The
// reason and the failing container's last lines are printed either way.
func (a *app) afterFailure(ctx context.Context, s *session, opts reconcile.UpgradeOptions, applyErr error) error {
	failed := reconcile.FailedServices(applyErr)
	if ctx.Err() != nil {
		a.adviseAfterInterrupt(ctx, s)
		return interrupted{applyErr}
	}
	if len(failed) == 0 {
		return applyErr
	}
	var rollback []string
	for _, fe := range failed {
		fmt.Fprintf(a.stderr, "%v\n", fe)
		a.printLastLogs(ctx, s, fe)
		svc, ok := s.project.Service(fe.Service)
		switch {
		case !ok:
		case opts.Policy(svc).FailureAction == compose.FailurePause:
			fmt.Fprintf(a.stderr, "%s: paused (failure_action: pause); go on with drover up --upgrade %s, or back with drover up --rollback %s\n", fe.Service, fe.Service, fe.Service)
		default:
			rollback = append(rollback, fe.Service)
		}
	}
	if len(rollback) > 0 {
		obs, err := s.observe(ctx)
		if err != nil {
			return errors.Join(applyErr, err)
		}
		plan, err := reconcile.Rollback(obs, reconcile.RollbackOptions{Services: rollback, Timeout: opts.WaitTimeout, Monitor: a.monitor(s, rollback), DrainTimeouts: reconcile.DrainTimeouts(s.project)})
		if errors.Is(err, reconcile.ErrNothingKept) {
			return applyErr // nothing had changed yet
		}
		if err != nil {
			return errors.Join(applyErr, err)
		}
		fmt.Fprintf(a.stderr, "rolling back %s\n", strings.Join(rollback, ", "))
		if err := a.run(ctx, s, plan, false, "rollback"); err != nil {
			return errors.Join(applyErr, fmt.Errorf("the rollback failed too: %w", err))
		}
	}
	return fmt.Errorf("upgrade failed: %s", strings.Join(serviceNames(failed), ", "))
}

func serviceNames(errs []*reconcile.ServiceError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, e.Service)
	}
	return out
}

// printLastLogs shows the last lines of the container that failed.
func (a *app) printLastLogs(ctx context.Context, s *session, fe *reconcile.ServiceError) {
	var ce *reconcile.ContainerError
	if !errors.As(fe, &ce) {
		return
	}
	lines, err := lastLines(ctx, s.engine, ce.Ref, 10)
	if err != nil && len(lines) == 0 {
		return
	}
	name := ce.Name
	if name == "" {
		name = ce.Ref
	}
	fmt.Fprintf(a.stderr, "last lines of %s:\n", name)
	for _, line := range lines {
		fmt.Fprintf(a.stderr, "  | %s\n", line)
	}
}

// rollback runs up --rollback: back to the kept containers; with nothing
// kept, or with --to-revision, to a recorded revision (rollbackTo).
func (a *app) rollback(ctx context.Context, to reconcile.RollbackToOptions, dryRun bool) error {
	services := to.Services
	s, obs, err := a.openObserved(ctx, filesOptional, !dryRun, services)
	if err != nil {
		return err
	}
	defer s.close()
	opts := reconcile.RollbackOptions{Services: services, Timeout: to.WaitTimeout, Monitor: a.monitor(s, services), DrainTimeouts: reconcile.DrainTimeouts(s.project)}
	plan, err := reconcile.Rollback(obs, opts)
	if to.Revision > 0 || errors.Is(err, reconcile.ErrNothingKept) {
		if s.project == nil {
			return fmt.Errorf("%w; going back to an earlier recorded revision makes new containers from it, which needs the project's files (see drover history)", err)
		}
		return a.rollbackTo(ctx, s, obs, to, dryRun)
	}
	if err != nil {
		return err
	}
	err = a.run(ctx, s, plan, dryRun, "rollback")
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		a.adviseAfterInterrupt(ctx, s)
		return interrupted{err}
	}
	return a.forwardAgain(ctx, s, opts, err)
}

// rollbackTo goes back to a recorded revision: its kept containers, or new
// ones made from its record in health-gated batches. A failure while
// making it again is undone like a failed upgrade's (the failure action);
// one while bringing kept containers back, like a failed rollback's.
func (a *app) rollbackTo(ctx context.Context, s *session, obs reconcile.Observed, to reconcile.RollbackToOptions, dryRun bool) error {
	plan, recreated, err := reconcile.RollbackTo(s.project, obs, to)
	if err != nil {
		return err
	}
	err = a.run(ctx, s, plan, dryRun, "rollback")
	switch {
	case err == nil || dryRun:
		return nil
	case ctx.Err() != nil:
		a.adviseAfterInterrupt(ctx, s)
		return interrupted{err}
	}
	for _, fe := range reconcile.FailedServices(err) {
		if slices.Contains(recreated, fe.Service) {
			return a.afterFailure(ctx, s, to.UpgradeOptions, err)
		}
	}
	opts := reconcile.RollbackOptions{Services: to.Services, Timeout: to.WaitTimeout, Monitor: a.monitor(s, to.Services)}
	return a.forwardAgain(ctx, s, opts, err)
}

// forwardAgain puts the new revision back when the kept one did not come
// back (would not start, or failed its gate), so that a bad rollback does
// not leave the service with nothing serving.
func (a *app) forwardAgain(ctx context.Context, s *session, opts reconcile.RollbackOptions, rollbackErr error) error {
	failed := reconcile.FailedServices(rollbackErr)
	if len(failed) == 0 {
		return rollbackErr
	}
	opts.Services = serviceNames(failed)
	for _, fe := range failed {
		fmt.Fprintf(a.stderr, "%v\n", fe)
		a.printLastLogs(ctx, s, fe)
	}
	obs, err := s.observe(ctx)
	if err != nil {
		return errors.Join(rollbackErr, err)
	}
	plan, err := reconcile.Forward(obs, opts)
	if err != nil {
		return errors.Join(rollbackErr, err)
	}
	fmt.Fprintf(a.stderr, "the kept revision of %s did not come back: putting the new revision back\n", strings.Join(opts.Services, ", "))
	if err := a.run(ctx, s, plan, false, "forward"); err != nil {
		return errors.Join(rollbackErr, fmt.Errorf("putting the new revision back failed too: %w", err))
	}
	return fmt.Errorf("rollback failed: %s: the kept revision did not come back; the new revision serves", strings.Join(opts.Services, ", "))
}

// monitor is the monitor period a rollback gives kept containers without a
// health check: the longest of the services' policies, as an upgrade would
// give them, or the default without files.
func (a *app) monitor(s *session, services []string) time.Duration {
	m := compose.DefaultPolicy().Monitor
	if s.project == nil {
		return m
	}
	for _, svc := range s.project.Services {
		if len(services) == 0 || slices.Contains(services, svc.Name) {
			m = max(m, svc.Policy.Monitor)
		}
	}
	return m
}

// adviseAfterInterrupt prints, for each service left between revisions,
// what is right to run next in the state the interruption left. The
// command's own context is cancelled by then, so it reads with one that is
// not, for a few seconds.
func (a *app) adviseAfterInterrupt(ctx context.Context, s *session) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	obs, err := s.observe(rctx)
	if err != nil {
		fmt.Fprintf(a.stderr, "interrupted; the state could not be read (%v): run drover status\n", err)
		return
	}
	said := false
	for _, st := range reconcile.Status(s.project, obs) {
		if st.State == reconcile.Active.String() || st.Next == "" {
			continue
		}
		fmt.Fprintf(a.stderr, "interrupted: %s is %s; next: %s\n", st.Service, st.State, st.Next)
		said = true
	}
	if !said {
		fmt.Fprintln(a.stderr, "interrupted before anything changed an upgrade's state; run the same command again")
	}
}

func (a *app) confirm(ctx context.Context, services []string, force, dryRun bool) error {
	s, obs, err := a.openObserved(ctx, filesOptional, !dryRun, services)
	if err != nil {
		return err
	}
	defer s.close()
	plan, err := reconcile.Confirm(obs, services, force)
	if err != nil {
		return err
	}
	return a.run(ctx, s, plan, dryRun, "confirm")
}

func durationPtr(d time.Duration) *time.Duration {
	if d < 0 {
		return nil
	}
	return &d
}

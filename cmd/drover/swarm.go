package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"

	"github.com/docker/docker/pkg/stdcopy"
	"github.com/spf13/pflag"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/engine"
	"github.com/drover/drover/reconcile"
	"github.com/drover/drover/swarm"
)

// The --engine swarm glue: each verb reads its own flags by name, opens a
// swarm session and hands the plan to swarm.Apply; the decisions are in
// the swarm package.

// engineKind is --engine, else DROVER_ENGINE, else docker.
func engineKind(flag string, set bool) (string, error) {
	v := flag
	if !set && os.Getenv("DROVER_ENGINE") != "" {
		v = os.Getenv("DROVER_ENGINE")
	}
	switch v {
	case "docker", "swarm":
		return v, nil
	}
	return "", fmt.Errorf("--engine %q (or DROVER_ENGINE): expected docker or swarm", v)
}

// swarmRunner is the swarm version of a command, reading the flags the
// command registered; an error for a command that has none.
func swarmRunner(name string, fs *pflag.FlagSet) (func(context.Context, *app, []string) error, error) {
	switch name {
	case "up":
		return func(ctx context.Context, a *app, args []string) error { return a.swarmUp(ctx, fs, args) }, nil
	case "status":
		return func(ctx context.Context, a *app, args []string) error { return a.swarmStatus(ctx, fs) }, nil
	case "ps":
		return func(ctx context.Context, a *app, args []string) error { return a.swarmPS(ctx, fs, args) }, nil
	case "diff":
		return func(ctx context.Context, a *app, args []string) error { return a.swarmDiff(ctx, fs, args) }, nil
	case "logs":
		return func(ctx context.Context, a *app, args []string) error { return a.swarmLogs(ctx, fs, args) }, nil
	case "down":
		return func(ctx context.Context, a *app, args []string) error { return a.swarmDown(ctx, fs, args) }, nil
	case "config", "version", "unlock":
		return nil, nil // the same on both engines
	}
	return nil, usageError{fmt.Sprintf("%s is not available with --engine swarm (it has up, up --upgrade, --rollback, --confirm-upgrade, status, ps, diff, logs, down, config, unlock)", name)}
}

// swarmSession is a session on a swarm manager.
type swarmSession struct {
	swarm.Session
	d       *engine.Docker
	release func()
	env     map[string]string
}

func (s *swarmSession) close() {
	if s.release != nil {
		s.release()
	}
	s.d.Close()
}

// openSwarm loads the files (or settles for the project name where they
// are optional), checks them against what a swarm can honour, connects,
// refuses an engine that is no swarm manager, and takes the project's
// lease for a command that changes anything. The lease is the single
// engine's: a never-started container on the manager drover talks to
// (see docs/design.md for several managers).
func (a *app) openSwarm(ctx context.Context, need needFiles, lock bool) (*swarmSession, error) {
	opts := a.files
	opts.Swarm = true
	s := &swarmSession{}
	p, err := compose.Load(ctx, opts)
	switch {
	case err == nil:
		s.Project, s.Name = p, p.Name
		s.env = map[string]string(p.Compose.Environment)
		if err := swarm.Check(p); err != nil {
			return nil, err
		}
	case need == filesOptional && noComposeFile(err) && a.projectNameOnly() != "":
		s.Name = a.projectNameOnly()
	case need == filesOptional && !noComposeFile(err) && compose.FallbackName(opts) != "":
		s.Name = compose.FallbackName(opts)
		fmt.Fprintf(a.stderr, "warning: %s; going on without the files, for project %q\n", oneLine(err), s.Name)
	default:
		return nil, err
	}
	if s.d, err = a.connect(ctx); err != nil {
		return nil, err
	}
	s.Cluster = s.d
	if _, err := swarm.CheckManager(ctx, s.d, s.d.Host()); err != nil {
		s.d.Close()
		return nil, err
	}
	if lock {
		if s.release, err = a.takeLease(ctx, s.d, s.Name); err != nil {
			s.d.Close()
			return nil, err
		}
	}
	return s, nil
}

func (a *app) swarmUp(ctx context.Context, fs *pflag.FlagSet, args []string) error {
	b := func(n string) bool { v, _ := fs.GetBool(n); return v }
	upgrade, force, confirm, rollback := b("upgrade") || b("recreate"), b("force-upgrade") || b("force-recreate"), b("confirm-upgrade"), b("rollback")
	dryRun := b("dry-run")
	wait, _ := fs.GetDuration("wait-timeout")
	batch, _ := fs.GetInt("batch-size")
	intervalText, _ := fs.GetString("interval")
	interval, err := parseInterval(intervalText)
	switch {
	case err != nil:
		return usageError{err.Error()}
	case rollback && (upgrade || force || confirm):
		return usageError{"--rollback goes with no other upgrade flag"}
	case b("force") && !confirm:
		return usageError{"--force goes with --confirm-upgrade"}
	case b("attach") || b("pull") || b("recreate-proxy"):
		return usageError{"--attach, --pull and --recreate-proxy are not available with --engine swarm (Swarm's nodes pull; logs: drover --engine swarm logs -f)"}
	}
	need := filesRequired
	if (rollback || confirm) && !upgrade && !force {
		need = filesOptional
	}
	s, err := a.openSwarm(ctx, need, !dryRun)
	if err != nil {
		return err
	}
	defer s.close()
	if s.Project != nil {
		a.warn(s.Project)
	}
	switch {
	case rollback:
		plan, err := s.Rollback(ctx, args, wait)
		if err != nil {
			return err
		}
		fmt.Fprintln(a.stderr, "note: Swarm keeps the previous spec of a service, not its containers: the rollback runs new tasks of the previous revision, in batches")
		return a.swarmApply(ctx, s, plan, dryRun, "rollback")
	case confirm && !upgrade && !force:
		plan, err := s.Confirm(ctx, args, b("force"), wait)
		if err != nil {
			return err
		}
		return a.swarmApply(ctx, s, plan, dryRun, "confirm")
	case upgrade || force:
		opts := reconcile.UpgradeOptions{Options: reconcile.Options{Services: args, WaitTimeout: wait}, BatchSize: batch, Interval: interval}
		if fs.Changed("wait-timeout") {
			opts.HealthTimeout = wait
		}
		if force {
			opts.Force = args
			if len(args) == 0 {
				opts.Force = []string{"*"}
			}
		}
		plan, err := s.Upgrade(ctx, opts)
		if err != nil {
			return err
		}
		if confirm {
			plan = plan.ThenConfirm()
		}
		if err := a.swarmApply(ctx, s, plan, dryRun, "upgrade"); err != nil {
			if failed := reconcile.FailedServices(err); len(failed) > 0 && ctx.Err() == nil {
				for _, fe := range failed {
					fmt.Fprintf(a.stderr, "%v\n", fe)
				}
				return fmt.Errorf("upgrade failed: %s", strings.Join(serviceNames(failed), ", "))
			}
			return err
		}
		if !confirm || dryRun {
			return nil
		}
		plan, err = s.Confirm(ctx, args, b("force"), wait)
		if err != nil {
			return err
		}
		return a.swarmApply(ctx, s, plan, false, "confirm")
	}
	plan, err := s.Up(ctx, reconcile.Options{Services: args, WaitTimeout: wait})
	if err != nil {
		return err
	}
	if err := a.swarmApply(ctx, s, plan, dryRun, "up"); err != nil {
		return err
	}
	if len(plan.Left) > 0 && !dryRun {
		return notConverged{plan.Left}
	}
	return nil
}

// swarmApply prints a plan (dry run) or applies it, in the same progress
// as on one engine, then its notes.
func (a *app) swarmApply(ctx context.Context, s *swarmSession, plan swarm.Plan, dryRun bool, verb string) error {
	if a.printPlan(plan.Warnings, plan, dryRun) {
		return nil
	}
	pr := a.printer()
	err := swarm.Apply(ctx, s.Cluster, plan, s.env, pr.event)
	pr.summary(verb)
	for _, n := range plan.Notes {
		fmt.Fprintln(a.stderr, n)
	}
	if err != nil && ctx.Err() != nil {
		fmt.Fprintln(a.stderr, "interrupted: Swarm carries on with what it was asked; drover --engine swarm status shows where it stands")
		return interrupted{err}
	}
	return err
}

func (a *app) swarmStatus(ctx context.Context, fs *pflag.FlagSet) error {
	format, _ := fs.GetString("format")
	if err := checkFormat(format); err != nil {
		return err
	}
	s, err := a.openSwarm(ctx, filesOptional, false)
	if err != nil {
		return err
	}
	defer s.close()
	rows, err := s.Status(ctx)
	if err != nil {
		return err
	}
	if format == "json" {
		return writeJSON(a.stdout, rows)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tREV\tSERVING\tOUT OF SYNC\tNEXT")
	for _, r := range rows {
		scale := fmt.Sprint(r.Scale)
		if r.Scale < 0 {
			scale = "global"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%s\t%s\t%s\n", r.Service, r.State, r.Revision, r.Serving, scale, dash(r.OutOfSync), dash(r.Next))
	}
	return tw.Flush()
}

// swarmTaskRow is one task in ps.
type swarmTaskRow struct {
	Name     string `json:"name"`
	Service  string `json:"service"`
	Node     string `json:"node"`
	Revision int    `json:"revision"`
	State    string `json:"state"`
	Desired  string `json:"desired"`
	Image    string `json:"image"`
	ID       string `json:"id"`
	Error    string `json:"error,omitempty"`
}

func (a *app) swarmPS(ctx context.Context, fs *pflag.FlagSet, args []string) error {
	format, _ := fs.GetString("format")
	all, _ := fs.GetBool("all")
	if err := checkFormat(format); err != nil {
		return err
	}
	s, err := a.openSwarm(ctx, filesOptional, false)
	if err != nil {
		return err
	}
	defer s.close()
	tasks, err := s.Tasks(ctx, args, all)
	if err != nil {
		return err
	}
	rows := []swarmTaskRow{}
	for _, t := range tasks {
		rows = append(rows, swarmTaskRow{Name: t.Name(), Service: t.Service, Node: t.Node, Revision: t.Revision, State: string(t.State), Desired: string(t.Desired), Image: t.Image, ID: shortID(t.ID), Error: t.Err})
	}
	if format == "json" {
		return writeJSON(a.stdout, rows)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tTASK\tREV\tSTATE\tDESIRED\tIMAGE\tID")
	for _, r := range sortedByNode(rows) {
		state := r.State
		if r.Error != "" {
			state += ": " + r.Error
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\n", r.Node, r.Name, r.Revision, state, r.Desired, r.Image, r.ID)
	}
	return tw.Flush()
}

// sortedByNode groups the tasks by node, keeping their order within one.
func sortedByNode(rows []swarmTaskRow) []swarmTaskRow {
	var nodes []string
	by := map[string][]swarmTaskRow{}
	for _, r := range rows {
		if _, ok := by[r.Node]; !ok {
			nodes = append(nodes, r.Node)
		}
		by[r.Node] = append(by[r.Node], r)
	}
	var out []swarmTaskRow
	for _, n := range nodes {
		out = append(out, by[n]...)
	}
	return out
}

func (a *app) swarmDiff(ctx context.Context, fs *pflag.FlagSet, args []string) error {
	show, _ := fs.GetBool("show-values")
	s, err := a.openSwarm(ctx, filesRequired, false)
	if err != nil {
		return err
	}
	defer s.close()
	diffs, err := s.Diff(ctx, args)
	if err != nil {
		return err
	}
	printDiffs(a.stdout, diffs, show, nil)
	return nil
}

func (a *app) swarmLogs(ctx context.Context, fs *pflag.FlagSet, args []string) error {
	follow, _ := fs.GetBool("follow")
	tail, _ := fs.GetString("tail")
	s, err := a.openSwarm(ctx, filesOptional, false)
	if err != nil {
		return err
	}
	defer s.close()
	ids, err := s.ServiceIDs(ctx, args)
	if err != nil {
		return err
	}
	errs := make(chan error, len(ids))
	done := make(chan struct{})
	var mu sync.Mutex
	for name, id := range ids {
		go func() {
			defer func() { done <- struct{}{} }()
			rc, err := s.d.ServiceLogs(ctx, id, follow, tail)
			if err != nil {
				errs <- fmt.Errorf("logs of %s: %w", name, err)
				return
			}
			defer rc.Close()
			// Swarm prefixes nothing: each line says its service, as
			// docker service logs does with its task name.
			out := &linePrefixer{prefix: name + " | ", w: a.stdout, mu: &mu}
			if _, err := stdcopy.StdCopy(out, out, rc); err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) {
				errs <- fmt.Errorf("logs of %s: %w", name, err)
			}
			out.flush()
		}()
	}
	for range ids {
		<-done
	}
	close(errs)
	return <-errs
}

func (a *app) swarmDown(ctx context.Context, fs *pflag.FlagSet, args []string) error {
	if len(args) > 0 {
		return usageError{"down takes no service names: it removes the whole project"}
	}
	volumes, _ := fs.GetBool("volumes")
	s, err := a.openSwarm(ctx, filesOptional, true)
	if err != nil {
		return err
	}
	defer s.close()
	plan, err := s.Down(ctx, volumes)
	if err != nil {
		return err
	}
	return a.swarmApply(ctx, s, plan, false, "down")
}

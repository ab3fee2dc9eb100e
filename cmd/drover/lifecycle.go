package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/docker/docker/pkg/stdcopy"
	"github.com/spf13/pflag"

	"github.com/drover/drover/reconcile"
)

func downCommand() command {
	return command{
		name: "down", args: "",
		summary: "Stop and remove every container of the project (kept ones included) and its networks; with -v its volumes.",
		example: "  drover down\n  drover -p mystack down -v",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			volumes := fs.BoolP("volumes", "v", false, "also remove the project's named volumes")
			timeout := fs.DurationP("timeout", "t", -1, "stop timeout (default: each container's own, 10s unless stop_grace_period says otherwise)")
			fs.Bool("remove-orphans", false, "accepted for docker compose users: down always removes orphans")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usageError{"down takes no service names: it removes the whole project"}
				}
				s, obs, err := a.openObserved(ctx, filesOptional, true, nil)
				var none *reconcile.NoProjectError
				if errors.As(err, &none) {
					// As docker compose down: nothing to remove is done.
					fmt.Fprintf(a.stderr, "%v: nothing to remove\n", err)
					return nil
				}
				if err != nil {
					return err
				}
				defer s.close()
				nets, err := s.engine.ProjectNetworks(ctx, s.name)
				if err != nil {
					return err
				}
				vols, err := s.engine.ProjectVolumes(ctx, s.name)
				if err != nil {
					return err
				}
				plan := reconcile.Down(obs, s.dependents(), reconcile.DownOptions{
					Networks: nets, Volumes: vols, RemoveVolumes: *volumes, Timeout: durationPtr(*timeout),
				})
				return a.run(ctx, s, plan, false, "down")
			}
		},
	}
}

func stopCommand() command {
	return command{
		name: "stop", args: "[SERVICE...]",
		summary: "Stop the running containers of services, without removing them.",
		example: "  drover stop\n  drover stop -t 30 web",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			timeout := fs.DurationP("timeout", "t", -1, "stop timeout (default: each container's own)")
			return lifecycle("stop", func(obs reconcile.Observed, services []string, _ map[string]time.Duration) reconcile.Plan {
				return reconcile.Stop(obs, services, durationPtr(*timeout))
			})
		},
	}
}

func startCommand() command {
	return command{
		name: "start", args: "[SERVICE...]",
		summary: "Start the stopped containers of services (not the ones kept for a rollback).",
		example: "  drover start web",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			wait := fs.Duration("wait-timeout", reconcile.DefaultWaitTimeout, "how long to wait for containers to be running and healthy")
			return lifecycle("start", func(obs reconcile.Observed, services []string, _ map[string]time.Duration) reconcile.Plan {
				return reconcile.Start(obs, services, *wait)
			})
		},
	}
}

func restartCommand() command {
	return command{
		name: "restart", args: "[SERVICE...]",
		summary: "Restart the serving containers of services one at a time, each ready before the next.",
		example: "  drover restart web",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			timeout := fs.DurationP("timeout", "t", -1, "stop timeout (default: each container's own)")
			wait := fs.Duration("wait-timeout", reconcile.DefaultWaitTimeout, "how long to wait for each container to be ready again")
			return lifecycle("restart", func(obs reconcile.Observed, services []string, drains map[string]time.Duration) reconcile.Plan {
				return reconcile.Restart(obs, services, durationPtr(*timeout), *wait, drains)
			})
		},
	}
}

// lifecycle is the shape of stop, start and restart: observe, check the
// service names, plan (with the files' drain timeouts when they were
// read), apply.
func lifecycle(verb string, plan func(reconcile.Observed, []string, map[string]time.Duration) reconcile.Plan) func(context.Context, *app, []string) error {
	return func(ctx context.Context, a *app, args []string) error {
		s, obs, err := a.openObserved(ctx, filesOptional, true, args)
		if err != nil {
			return err
		}
		defer s.close()
		return a.run(ctx, s, plan(obs, args, reconcile.DrainTimeouts(s.project)), false, verb)
	}
}

func logsCommand() command {
	return command{
		name: "logs", args: "[SERVICE...]",
		summary: "Print the output of the services' serving containers, each line prefixed by its container.",
		example: "  drover logs -f --tail 20 web",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			follow := fs.BoolP("follow", "f", false, "keep streaming new output")
			tail := fs.String("tail", "all", "number of lines to show from the end of each container's output")
			all := fs.BoolP("all", "a", false, "include the containers kept for a rollback")
			return func(ctx context.Context, a *app, args []string) error {
				s, obs, err := a.openObserved(ctx, filesOptional, false, args)
				if err != nil {
					return err
				}
				defer s.close()
				return a.streamLogs(ctx, s, obs, args, *follow, *tail, *all)
			}
		},
	}
}

// streamLogs copies each container's output to stdout a line at a time,
// prefixed by the container's name, until all streams end (or ctx does).
func (a *app) streamLogs(ctx context.Context, s *session, obs reconcile.Observed, services []string, follow bool, tail string, all bool) error {
	rows := psRows(obs, s.serviceOrder(obs), services, all)
	width := 0
	for _, r := range rows {
		width = max(width, len(r.Name))
	}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	errs := make(chan error, len(rows))
	for _, r := range rows {
		wg.Add(1)
		go func(r psRow) {
			defer wg.Done()
			rc, tty, err := s.engine.Logs(ctx, r.ID, follow, tail)
			if err != nil {
				errs <- fmt.Errorf("logs of %s: %w", r.Name, err)
				return
			}
			defer rc.Close()
			prefix := fmt.Sprintf("%-*s | ", width, r.Name)
			out := &linePrefixer{prefix: prefix, w: a.stdout, mu: &mu}
			if tty {
				_, err = io.Copy(out, rc)
			} else {
				_, err = stdcopy.StdCopy(out, out, rc)
			}
			out.flush()
			if err != nil && ctx.Err() == nil {
				errs <- fmt.Errorf("logs of %s: %w", r.Name, err)
			}
		}(r)
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// linePrefixer writes whole lines, each with a prefix, under a shared lock
// so that lines of several containers never mix.
type linePrefixer struct {
	prefix string
	w      io.Writer
	mu     *sync.Mutex
	buf    []byte
}

func (l *linePrefixer) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.writeLine(l.buf[:i+1])
		l.buf = l.buf[i+1:]
	}
}

func (l *linePrefixer) flush() {
	if len(l.buf) > 0 {
		l.writeLine(append(l.buf, '\n'))
		l.buf = nil
	}
}

func (l *linePrefixer) writeLine(line []byte) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s%s", l.prefix, line)
}

func pullCommand() command {
	return command{
		name: "pull", args: "[SERVICE...]",
		summary: "Pull the images of services from their registry.",
		example: "  drover pull web",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, args []string) error {
				s, err := a.open(ctx, filesRequired, false)
				if err != nil {
					return err
				}
				defer s.close()
				return a.pullImages(ctx, s, args)
			}
		},
	}
}

// pullImages pulls the images of the named services (all when none is
// named); services that only build have nothing to pull.
func (a *app) pullImages(ctx context.Context, s *session, services []string) error {
	for _, name := range services {
		if _, ok := s.project.Service(name); !ok {
			return fmt.Errorf("no such service: %q", name)
		}
	}
	plan, err := reconcile.PullPlan(s.project, services)
	if err != nil {
		return err
	}
	return a.run(ctx, s, plan, false, "pull")
}

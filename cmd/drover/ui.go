package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/docker/docker/pkg/stdcopy"
	"github.com/spf13/pflag"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/engine"
	"github.com/drover/drover/reconcile"
	"github.com/drover/drover/ui"
)

func uiCommand() command {
	return command{
		name: "ui", args: "",
		summary: "Serve a web page of the projects on this engine, with Upgrade, Finish upgrade, Rollback, Scale, Stop and Start buttons that run drover's verbs.",
		example: "  drover ui                                  # on 127.0.0.1:8099; open the URL it prints\n  drover ui --listen 127.0.0.1:0             # any free port",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			listen := fs.String("listen", "127.0.0.1:8099", "address to serve on: loopback unless --allow-remote")
			remote := fs.Bool("allow-remote", false, "allow --listen on an address other hosts reach (the page lets whoever has its URL upgrade, roll back and stop services)")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) > 0 {
					return usageError{"ui takes no arguments"}
				}
				loopback := ui.IsLoopback(*listen)
				if !loopback && !*remote {
					return usageError{fmt.Sprintf("--listen %s is not a loopback address: the page can change what runs, so serving it to other hosts needs --allow-remote", *listen)}
				}
				return a.serveUI(ctx, *listen, loopback)
			}
		},
	}
}

// serveUI serves the page until ctx ends (Ctrl-C).
func (a *app) serveUI(ctx context.Context, listen string, loopback bool) error {
	token, err := ui.NewToken()
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: ui.New(ctx, uiBackend{a}, token, loopback).Handler(), ReadHeaderTimeout: 10 * time.Second}
	host := ln.Addr().String()
	if !loopback {
		fmt.Fprintf(a.stderr, "warning: serving to other hosts on %s, over plain HTTP: whoever has the URL can change what runs\n", host)
	}
	fmt.Fprintf(a.stdout, "drover ui: http://%s/?token=%s\n", host, token)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

// uiBackend reads the projects for the page and runs its buttons' verbs
// through the command tree, as if typed: same flags, same lease, same
// messages.
type uiBackend struct{ a *app }

// projectFiles are the compose files and directory a project's containers
// were made from, as their labels say.
func projectFiles(cs []reconcile.Container, project string) (dir string, files []string) {
	for _, c := range cs {
		if c.Labels[reconcile.LabelProject] != project {
			continue
		}
		dir = c.Labels[reconcile.LabelWorkingDir]
		if f := c.Labels[reconcile.LabelConfigFiles]; f != "" {
			files = strings.Split(f, ",")
		}
		if dir != "" {
			return dir, files
		}
	}
	return dir, files
}

// readable says whether every file can be read.
func readable(files []string) bool {
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return false
		}
		fh.Close()
	}
	return len(files) > 0
}

// globals are the global flags that name a project as its labels do.
func globals(dir string, files []string, project string) []string {
	var out []string
	if readable(files) {
		for _, f := range files {
			out = append(out, "-f", f)
		}
	}
	if dir != "" {
		out = append(out, "--project-directory", dir)
	}
	return append(out, "-p", project)
}

func (b uiBackend) Run(ctx context.Context, act ui.Action, stdout, stderr io.Writer) error {
	d, err := b.a.connect(ctx)
	if err != nil {
		return err
	}
	cs, err := d.AllProjects(ctx)
	d.Close()
	if err != nil {
		return err
	}
	dir, files := projectFiles(cs, act.Project)
	args := append(globals(dir, files, act.Project), "--progress", "json", "--engine", b.a.engine)
	switch act.Verb {
	case "upgrade":
		args = append(args, "up", "--upgrade", "--", act.Service)
	case "confirm":
		args = append(args, "up", "--confirm-upgrade", "--", act.Service)
	case "rollback":
		args = append(args, "up", "--rollback", "--", act.Service)
	case "scale":
		args = append(args, "scale", "--", act.Service+"="+strconv.Itoa(act.Scale))
	case "stop", "start":
		args = append(args, act.Verb, "--", act.Service)
	default:
		return fmt.Errorf("unknown action %q", act.Verb)
	}
	last := &lastLine{w: stderr}
	sub := &app{stdout: stdout, stderr: last, docker: b.a.docker, dockerFlags: b.a.dockerFlags}
	if code := execute(ctx, newRootCommand(sub, args), args, stdout, last); code != 0 {
		// execute's last line is drover's message, as the command line
		// prints it.
		return errors.New(last.String())
	}
	return nil
}

// lastLine passes writes on and remembers the last line written.
type lastLine struct {
	w    io.Writer
	mu   sync.Mutex
	last string
	cur  []byte
}

func (l *lastLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.cur = append(l.cur, p...)
	if i := bytes.LastIndexByte(bytes.TrimRight(l.cur, "\n"), '\n'); i >= 0 {
		l.cur = l.cur[i+1:]
	}
	if s := strings.TrimSpace(string(l.cur)); s != "" {
		l.last = s
	}
	l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lastLine) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.last
}

func (b uiBackend) Projects(ctx context.Context) ([]ui.Project, error) {
	d, err := b.a.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	cs, err := d.AllProjects(ctx)
	if err != nil {
		return nil, err
	}
	var out []ui.Project
	for _, sum := range reconcile.Projects(cs) {
		if sum.Name == "" {
			continue
		}
		dir, files := projectFiles(cs, sum.Name)
		out = append(out, b.project(ctx, d, sum.Name, dir, files))
	}
	return out, nil
}

// project reads one project as status, diff and ps do.
func (b uiBackend) project(ctx context.Context, d *engine.Docker, name, dir string, files []string) ui.Project {
	var notes bytes.Buffer
	up := ui.Project{Name: name, Dir: dir}
	s := &session{name: name, engine: d, stderr: &notes, warned: map[string]bool{}}
	if readable(files) {
		p, err := compose.Load(ctx, compose.Options{Files: files, ProjectDir: dir, ProjectName: name, Swarm: b.a.engine == "swarm"})
		if err != nil {
			fmt.Fprintf(&notes, "the files in %s do not load: %s\n", dir, oneLine(err))
		} else {
			s.project, up.Files = p, true
		}
	}
	obs, err := s.observe(ctx)
	if err != nil {
		up.Notes = append(up.Notes, err.Error())
		return up
	}
	var diffs []reconcile.ServiceDiff
	if s.project != nil {
		if diffs, err = reconcile.Diff(s.project, obs, nil); err != nil {
			fmt.Fprintf(&notes, "%s\n", oneLine(err))
		}
	}
	rows := psRows(obs, s.serviceOrder(obs), nil, true)
	for _, st := range reconcile.Status(s.project, obs) {
		svc := ui.Service{Name: st.Service, State: st.State, Revision: st.Revision, Serving: st.Serving, Scale: st.Scale,
			Kept: st.Kept, OutOfSync: st.OutOfSync, Next: st.Next, Proxy: st.Proxy}
		if s.project != nil {
			if cs, ok := s.project.Service(st.Service); ok {
				svc.Image = cs.Config.Image
				svc.Policy = policyText(cs.Policy)
			}
		}
		for _, r := range rows {
			if r.Service != st.Service || r.Role == "proxy" {
				continue
			}
			svc.Containers = append(svc.Containers, ui.Container{Name: r.Name, Role: r.Role, State: r.State, Health: r.Health})
			if r.Role == string(reconcile.Serving) {
				if svc.Image == "" {
					svc.Image = r.Image
				}
				if svc.Health == "" {
					svc.Health = r.Health
				}
			}
		}
		for _, df := range diffs {
			if df.Service != st.Service {
				continue
			}
			if df.Image != "" {
				svc.Diff = append(svc.Diff, ui.Change{Key: "image id", New: df.Image})
			}
			for _, c := range df.Changes {
				old, new := c.Old, c.New
				if c.Secret {
					old, new = mask(old), mask(new)
				}
				svc.Diff = append(svc.Diff, ui.Change{Key: c.Key, Old: dash(old), New: dash(new)})
			}
		}
		svc.Ports = portLinks(obs, st.Service)
		if c, ok := failing(obs, st.Service); ok {
			svc.Failing = c.Name
			svc.LastLogs, _ = lastLines(ctx, d, c.ID, 10)
		}
		up.Services = append(up.Services, svc)
	}
	for _, l := range strings.Split(strings.TrimSpace(notes.String()), "\n") {
		if l != "" {
			up.Notes = append(up.Notes, l)
		}
	}
	return up
}

// policyText is an upgrade policy in words.
func policyText(p compose.Policy) string {
	order := "stop-first"
	if p.StartFirst {
		order = "start-first"
	}
	return fmt.Sprintf("%s, batches of %d, %s apart, on failure %s", order, p.BatchSize, p.Interval, p.FailureAction)
}

// portLinks are the ports a service is reached on: the front proxy's for
// it, and those its containers publish themselves.
func portLinks(obs reconcile.Observed, service string) []ui.Link {
	var out []ui.Link
	seen := map[string]bool{}
	add := func(ip string, port int, proto string) {
		if ip == "" || ip == "0.0.0.0" || ip == "::" {
			ip = "127.0.0.1"
		}
		hostport := net.JoinHostPort(ip, strconv.Itoa(port))
		if seen[hostport] {
			return
		}
		seen[hostport] = true
		out = append(out, ui.Link{URL: "http://" + hostport + "/", Text: hostport + "/" + proto})
	}
	for _, r := range reconcile.RoutesOf(obs.Proxy) {
		if r.Service == service && r.Rules == nil {
			add(r.HostIP, r.Listen, r.Mode)
		}
	}
	for _, c := range obs.Containers {
		if c.Service != service {
			continue
		}
		for _, p := range c.Ports {
			if p.HostPort != 0 {
				add(p.HostIP, int(p.HostPort), p.Protocol)
			}
		}
	}
	return out
}

// failing is a container of the service that exited in error, restarts or
// is unhealthy.
func failing(obs reconcile.Observed, service string) (reconcile.Container, bool) {
	for _, c := range obs.Containers {
		if c.Service == service && (c.State == "exited" && c.ExitCode != 0 || c.State == "dead" || c.State == "restarting" || c.Health == "unhealthy") {
			return c, true
		}
	}
	return reconcile.Container{}, false
}

// lastLines is the last n lines of a container's output.
func lastLines(ctx context.Context, d *engine.Docker, ref string, n int) ([]string, error) {
	rc, tty, err := d.Logs(ctx, ref, false, strconv.Itoa(n))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var buf bytes.Buffer
	if tty {
		_, err = buf.ReadFrom(rc)
	} else {
		_, err = stdcopy.StdCopy(&buf, &buf, rc)
	}
	if s := strings.TrimRight(buf.String(), "\n"); s != "" {
		return strings.Split(s, "\n"), err
	}
	return nil, err
}

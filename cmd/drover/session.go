package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/engine"
	"github.com/drover/drover/reconcile"
)

// session is a command's view of one project on one engine.
type session struct {
	project *compose.Project // nil when the command runs from -p alone
	name    string
	engine  *engine.Docker
	release func()
	// stderr gets the warnings about what the engine holds, each once
	// however often the command observes.
	stderr io.Writer
	warned map[string]bool
}

func (s *session) close() {
	if s.release != nil {
		s.release()
	}
	if s.engine != nil {
		s.engine.Close()
	}
}

// needFiles says whether a command can do without the compose files: ps,
// down, stop, logs and the like work from the containers' labels alone, given
// a project name.
type needFiles bool

const (
	filesRequired needFiles = true
	filesOptional needFiles = false
)

// open loads the project (or, where the files are optional, settles for the
// project name), connects to the engine and, for a command that changes
// anything, takes the project lock. Files are read and checked before the
// engine is reached, so bad input never changes anything.
func (a *app) open(ctx context.Context, need needFiles, lock bool) (*session, error) {
	s := &session{stderr: a.stderr, warned: map[string]bool{}}
	p, err := compose.Load(ctx, a.files)
	switch {
	case err == nil:
		s.project, s.name = p, p.Name
	case need == filesOptional && noComposeFile(err) && a.projectNameOnly() != "":
		s.name = a.projectNameOnly()
	case need == filesOptional && !noComposeFile(err) && compose.FallbackName(a.files) != "":
		// The containers' labels are enough for this command: a broken
		// file must not keep the user from seeing or removing what runs.
		s.name = compose.FallbackName(a.files)
		fmt.Fprintf(a.stderr, "warning: %s; going on without the files, for project %q\n", oneLine(err), s.name)
	default:
		return nil, err
	}
	if s.engine, err = a.connect(ctx); err != nil {
		return nil, err
	}
	if lock {
		if s.release, err = a.takeLease(ctx, s.engine, s.name); err != nil {
			s.engine.Close()
			return nil, err
		}
	}
	return s, nil
}

// oneLine joins the lines of an error that spans several.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

func noComposeFile(err error) bool {
	return strings.HasPrefix(err.Error(), "no compose file found")
}

// projectNameOnly is the project name given without files: -p, else
// COMPOSE_PROJECT_NAME.
func (a *app) projectNameOnly() string {
	if a.files.ProjectName != "" {
		return a.files.ProjectName
	}
	return os.Getenv("COMPOSE_PROJECT_NAME")
}

// warn prints what loading the files found worth saying, for the commands
// that act on the files.
func (a *app) warn(p *compose.Project) {
	for _, w := range p.Warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", w)
	}
}

// openObserved opens a session, observes the project and refuses service
// names that neither the files nor the containers know.
func (a *app) openObserved(ctx context.Context, need needFiles, lock bool, services []string) (*session, reconcile.Observed, error) {
	s, err := a.open(ctx, need, lock)
	if err != nil {
		return nil, reconcile.Observed{}, err
	}
	obs, err := s.observe(ctx)
	if err == nil {
		err = a.checkProjectExists(ctx, s, obs)
	}
	if err == nil {
		err = reconcile.CheckServices(obs, s.serviceOrder(obs), services)
	}
	if err != nil {
		s.close()
		return nil, reconcile.Observed{}, err
	}
	return s, obs, nil
}

// writeJSON prints a value as indented JSON, with <, > and & as they are.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func (s *session) observe(ctx context.Context) (reconcile.Observed, error) {
	obs, err := reconcile.Observe(ctx, s.engine, s.name)
	if s.project != nil && s.project.NeedsProxy() {
		obs.ProxyImage = s.engine.ProxyImage()
	}
	for _, w := range obs.Warnings {
		if !s.warned[w] {
			s.warned[w] = true
			fmt.Fprintf(s.stderr, "warning: %s\n", w)
		}
	}
	return obs, err
}

// serviceOrder is the project's services in dependency order, or, without
// files, the services the containers name.
func (s *session) serviceOrder(obs reconcile.Observed) []string {
	var out []string
	if s.project != nil {
		for _, svc := range s.project.Services {
			out = append(out, svc.Name)
		}
		return out
	}
	seen := map[string]bool{}
	for _, c := range obs.Containers {
		if !seen[c.Service] {
			seen[c.Service] = true
			out = append(out, c.Service)
		}
	}
	return out
}

// dependents maps each service to the services that depend on it; empty
// without files.
func (s *session) dependents() map[string][]string {
	out := map[string][]string{}
	if s.project == nil {
		return out
	}
	for _, svc := range s.project.Services {
		for dep := range svc.Config.DependsOn {
			out[dep] = append(out[dep], svc.Name)
		}
	}
	return out
}

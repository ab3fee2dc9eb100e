package swarm

import (
	"context"
	"fmt"
	"time"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

// Session is one command's view of a project on a swarm: what each verb
// observes and plans. The command line prints and applies the plans.
type Session struct {
	Cluster Cluster
	Project *compose.Project // nil when the command runs from -p alone
	Name    string
}

// CheckManager refuses an engine that is not a manager of an active
// swarm, saying how to make one.
func CheckManager(ctx context.Context, c Cluster, host string) (State, error) {
	st, err := c.SwarmState(ctx)
	if err != nil {
		return st, err
	}
	switch {
	case !st.Active:
		return st, fmt.Errorf("--engine swarm: the engine at %s is not in a swarm: make it a manager with docker swarm init (or point DOCKER_HOST at a manager)", host)
	case !st.Manager:
		return st, fmt.Errorf("--engine swarm: the engine at %s is a swarm worker: point DOCKER_HOST at a manager (docker node ls there lists them)", host)
	}
	return st, nil
}

func (s Session) observe(ctx context.Context) (Observed, error) {
	return Observe(ctx, s.Cluster, s.Name)
}

// Up plans a plain up.
func (s Session) Up(ctx context.Context, opts reconcile.Options) (Plan, error) {
	obs, err := s.observe(ctx)
	if err != nil {
		return Plan{}, err
	}
	return Up(s.Project, obs, opts)
}

// Upgrade plans up --upgrade.
func (s Session) Upgrade(ctx context.Context, opts reconcile.UpgradeOptions) (Plan, error) {
	obs, err := s.observe(ctx)
	if err != nil {
		return Plan{}, err
	}
	return Upgrade(s.Project, obs, opts)
}

// Rollback plans up --rollback.
func (s Session) Rollback(ctx context.Context, services []string, timeout time.Duration) (Plan, error) {
	obs, err := s.observe(ctx)
	if err != nil {
		return Plan{}, err
	}
	if err := known(obs, s.Project, services); err != nil {
		return Plan{}, err
	}
	return Rollback(obs, services, timeout)
}

// Confirm plans up --confirm-upgrade; timeout bounds the wait for Swarm
// to remove a slot's second task.
func (s Session) Confirm(ctx context.Context, services []string, force bool, timeout time.Duration) (Plan, error) {
	obs, err := s.observe(ctx)
	if err != nil {
		return Plan{}, err
	}
	if err := known(obs, s.Project, services); err != nil {
		return Plan{}, err
	}
	return Confirm(obs, services, force, timeout)
}

// Down plans down [-v]: everything the project's labels name on the swarm.
func (s Session) Down(ctx context.Context, volumes bool) (Plan, error) {
	obs, err := s.observe(ctx)
	if err != nil {
		return Plan{}, err
	}
	nets, err := s.Cluster.ProjectNetworks(ctx, s.Name)
	if err != nil {
		return Plan{}, err
	}
	var vols []string
	if volumes {
		if vols, err = s.Cluster.ProjectVolumes(ctx, s.Name); err != nil {
			return Plan{}, err
		}
	}
	secrets, err := s.Cluster.ProjectObjects(ctx, "secret", s.Name)
	if err != nil {
		return Plan{}, err
	}
	configs, err := s.Cluster.ProjectObjects(ctx, "config", s.Name)
	if err != nil {
		return Plan{}, err
	}
	return Down(obs, nets, vols, secrets, configs, volumes), nil
}

// Status is each service's state.
func (s Session) Status(ctx context.Context) ([]reconcile.ServiceStatus, error) {
	obs, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	return Status(s.Project, obs), nil
}

// Tasks lists the tasks of the named services (all when none is named),
// newest revision first within a slot; with all, also the tasks Swarm
// keeps in its history (shut down, failed).
func (s Session) Tasks(ctx context.Context, services []string, all bool) ([]Task, error) {
	obs, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	if err := known(obs, s.Project, services); err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range services {
		want[n] = true
	}
	var out []Task
	for _, t := range obs.Tasks {
		if (len(want) == 0 || want[t.Service]) && (all || t.Desired == "running" || t.State == "running") {
			out = append(out, t)
		}
	}
	return out, nil
}

// Diff compares the files with each service's current spec, key by key.
func (s Session) Diff(ctx context.Context, services []string) ([]reconcile.ServiceDiff, error) {
	obs, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	if err := known(obs, s.Project, services); err != nil {
		return nil, err
	}
	var out []reconcile.ServiceDiff
	for _, svc := range selected(s.Project, services) {
		d := reconcile.ServiceDiff{Service: svc.Name}
		o, ok := obs.Services[svc.Name]
		if !ok {
			d.Changes = []reconcile.Change{{Key: "service", New: "(not created yet)"}}
			out = append(out, d)
			continue
		}
		d.Changes = reconcile.DiffSpecs([]byte(o.Spec.Labels[reconcile.LabelSpec]), svc.Spec)
		if id := obs.ImageID(svc.Config.Image); id != "" && o.ImageID != "" && id != o.ImageID {
			d.Image = fmt.Sprintf("%.19s -> %.19s", o.ImageID, id)
		}
		out = append(out, d)
	}
	return out, nil
}

// ServiceID finds the ID of a project service, for logs.
func (s Session) ServiceIDs(ctx context.Context, services []string) (map[string]string, error) {
	obs, err := s.observe(ctx)
	if err != nil {
		return nil, err
	}
	if err := known(obs, s.Project, services); err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, name := range observedNames(obs, services) {
		out[name] = obs.Services[name].ID
	}
	return out, nil
}

// known refuses service names that neither the files nor the swarm know.
func known(obs Observed, p *compose.Project, services []string) error {
	for _, n := range services {
		if _, ok := obs.Services[n]; ok {
			continue
		}
		if p != nil {
			if _, ok := p.Service(n); ok {
				continue
			}
		}
		return fmt.Errorf("no such service: %q", n)
	}
	return nil
}

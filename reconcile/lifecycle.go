package reconcile

import (
	"fmt"
	"slices"
	"time"
)

// Actions that only down needs.
type (
	RemoveNetwork struct{ Name string }
	RemoveVolume  struct{ Name string }
)

func (RemoveNetwork) Kind() string { return "remove-network" }
func (RemoveVolume) Kind() string  { return "remove-volume" }

// DownOptions shape a down.
type DownOptions struct {
	// Networks and Volumes are the project's own (labelled) ones; volumes
	// are removed only with RemoveVolumes.
	Networks      []string
	Volumes       []string
	RemoveVolumes bool
	Timeout       *time.Duration
}

// Down plans the removal of every container of the project, kept ones and
// orphans included, then of its networks, and with RemoveVolumes of its
// volumes. A service goes once the services that depend on it are gone
// (dependents maps a service to them); the others go in parallel.
func Down(obs Observed, dependents map[string][]string, o DownOptions) Plan {
	plan := Plan{Project: obs.Project}
	present := serviceNames(obs, nil)
	for _, name := range present {
		var lanes [][]Step
		for _, c := range obs.Containers {
			if c.Service == name {
				lanes = append(lanes, removeSteps(c, "down", o.Timeout))
			}
		}
		var after []string
		for _, d := range dependents[name] {
			if slices.Contains(present, d) {
				after = append(after, d)
			}
		}
		plan.Services = append(plan.Services, ServicePlan{Service: name, After: after, Steps: inLanes(name, lanes...)})
	}
	if px := obs.Proxy; px != nil {
		plan.Teardown = append(plan.Teardown, removeSteps(*px, "down", o.Timeout)...)
	}
	if l := obs.ProxyPorts; l != nil {
		plan.Teardown = append(plan.Teardown, removeSteps(*l, "down", o.Timeout)...)
	}
	if v := ProxyVolume(obs.Project); obs.Volumes[v] && !(o.RemoveVolumes && slices.Contains(o.Volumes, v)) {
		// drover's own, made with the proxy: it goes with it, -v or not.
		plan.Teardown = append(plan.Teardown, Step{Target: v, Reason: "down", Action: RemoveVolume{Name: v}})
	}
	for _, n := range o.Networks {
		plan.Teardown = append(plan.Teardown, Step{Target: n, Reason: "down", Action: RemoveNetwork{Name: n}})
	}
	if o.RemoveVolumes {
		for _, v := range o.Volumes {
			plan.Teardown = append(plan.Teardown, Step{Target: v, Reason: "down -v", Action: RemoveVolume{Name: v}})
		}
	}
	return plan
}

// Stop plans stopping the running containers of the named services (all
// when none is named), kept containers aside since they are stopped already.
func Stop(obs Observed, services []string, timeout *time.Duration) Plan {
	plan := Plan{Project: obs.Project}
	var lanes [][]Step
	for _, c := range pick(obs.Containers, services) {
		if c.Running() {
			lanes = append(lanes, append(preStop(c, c.Target(), ""), Step{Target: c.Target(), Action: StopContainer{Ref: c.ID, Timeout: timeout}}))
		}
	}
	plan.Setup = inLanes(obs.Project, lanes...)
	return plan
}

// Start plans starting the stopped containers of the newest revision of the
// named services; kept containers stay stopped, since starting them is what
// a rollback does.
func Start(obs Observed, services []string, timeout time.Duration) Plan {
	plan := Plan{Project: obs.Project}
	var refs []string
	var lanes [][]Step
	for _, c := range current(pick(obs.Containers, services)) {
		if !c.Running() {
			lanes = append(lanes, append([]Step{{Target: c.Target(), Action: StartContainer{Ref: c.ID}}}, postStart(c, c.Target())...))
			refs = append(refs, c.ID)
		}
	}
	plan.Setup = inLanes(obs.Project, lanes...)
	if len(refs) > 0 {
		plan.Setup = append(plan.Setup, Step{Target: obs.Project, Action: Wait{Refs: refs, Until: Ready, Timeout: timeout}})
	}
	return plan
}

// Restart plans a stop and a start of each serving container, one at a
// time, so that a service with several containers keeps serving; stopped
// ones go first, since starting them can only add to what serves. Behind
// the front proxy each is drained before it stops (drains: each service's
// drain timeout, DefaultDrainTimeout for one not in it) and served once
// ready; with no other container to serve, the proxy holds new connections
// meanwhile, as in a stop-first upgrade.
func Restart(obs Observed, services []string, stopTimeout *time.Duration, wait time.Duration, drains map[string]time.Duration) Plan {
	plan := Plan{Project: obs.Project}
	cs := current(pick(obs.Containers, services))
	slices.SortStableFunc(cs, func(a, b Container) int {
		if a.Running() == b.Running() {
			return 0
		}
		if a.Running() {
			return 1
		}
		return -1
	})
	routes := RoutesOf(obs.Proxy)
	// served follows what the proxy serves of each service as the plan goes.
	served := map[string][]Container{}
	for _, c := range servingNow(cs) {
		served[c.Service] = append(served[c.Service], c)
	}
	for _, c := range cs {
		var px *proxyPlan
		if obs.Proxy != nil && obs.Proxy.Running() && fronted(routes, c.Service) && Passed(c) {
			px = &proxyPlan{ref: obs.Proxy.Name, routes: routes, drain: drainFor(drains, c.Service)}
		}
		if px != nil && c.Running() {
			others, _ := withoutBackends(served[c.Service], []Container{c})
			served[c.Service] = others
			plan.Setup = append(plan.Setup, px.switchStep(c.Service, "drain "+c.Target()+" before its restart", others, []Container{c}))
		}
		if c.Running() {
			plan.Setup = append(plan.Setup, preStop(c, c.Target(), "")...)
			plan.Setup = append(plan.Setup, Step{Target: c.Target(), Action: StopContainer{Ref: c.ID, Timeout: stopTimeout}})
		}
		plan.Setup = append(plan.Setup, Step{Target: c.Target(), Action: StartContainer{Ref: c.ID}})
		plan.Setup = append(plan.Setup, postStart(c, c.Target())...)
		plan.Setup = append(plan.Setup, Step{Target: c.Target(), Action: Wait{Refs: []string{c.ID}, Until: Ready, Timeout: wait}})
		if px != nil {
			served[c.Service] = append(served[c.Service], c)
			plan.Setup = append(plan.Setup, px.switchStep(c.Service, "serve "+c.Target(), served[c.Service], nil))
		}
	}
	return plan
}

// CheckServices refuses service names the observation does not know.
func CheckServices(obs Observed, known []string, services []string) error {
	ok := map[string]bool{}
	for _, k := range known {
		ok[k] = true
	}
	for _, c := range obs.Containers {
		ok[c.Service] = true
	}
	for _, s := range services {
		if !ok[s] {
			return fmt.Errorf("no such service: %q", s)
		}
	}
	return nil
}

func pick(cs []Container, services []string) []Container {
	if len(services) == 0 {
		return cs
	}
	want := map[string]bool{}
	for _, s := range services {
		want[s] = true
	}
	var out []Container
	for _, c := range cs {
		if want[c.Service] {
			out = append(out, c)
		}
	}
	return out
}

// current keeps the containers of each service's newest revision.
func current(cs []Container) []Container {
	newest := map[string]int{}
	for _, c := range cs {
		if c.Revision > newest[c.Service] {
			newest[c.Service] = c.Revision
		}
	}
	var out []Container
	for _, c := range cs {
		if c.Revision == newest[c.Service] {
			out = append(out, c)
		}
	}
	return out
}

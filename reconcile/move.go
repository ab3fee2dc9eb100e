package reconcile

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover/drover/compose"
)

// Moving a service behind the front proxy. The files put every fixed TCP
// port behind the proxy by default, but a service made before that (by
// docker-compose, or by drover with x-drover: {proxy: false}) has
// containers that publish the port themselves, and the proxy cannot bind a
// port a running container holds. Such a service is planned as it is (its
// containers keep their ports) until up --upgrade moves it: the new
// containers, without ports, start and pass their gate beside the old ones;
// the old ones are kept (the port closes); then the proxy is made with the
// port and serves the new ones. The port is closed once, for about a second.
//
// Whether a service is moving is read from the containers alone, so a run
// killed half-way is finished by the next one: while an old container that
// publishes the port runs, the move is not done; once the old ones are
// kept, the service is behind the proxy and the plain planners create the
// proxy (the port is free by then) and push its table.

// LabelProxied marks a container whose published ports the front proxy
// owns: it publishes none itself.
const LabelProxied = "io.drover.proxied"

// publishesItself reports whether a container publishes host ports itself.
// A running container says so; a stopped one is judged by how it was made.
func publishesItself(c Container) bool {
	if c.Labels[LabelProxied] == "true" {
		return false
	}
	for _, p := range c.Ports {
		if p.HostPort != 0 {
			return true
		}
	}
	if c.Running() {
		return false
	}
	spec, ok := c.Labels[LabelSpec]
	if !ok {
		// Made by docker-compose: what it publishes is in the engine's
		// host config, which a list does not show; assume it does.
		return c.Labels[LabelVersion] == ""
	}
	var cfg struct {
		Ports []types.ServicePortConfig `json:"ports"`
	}
	if json.Unmarshal([]byte(spec), &cfg) != nil {
		return false
	}
	for _, p := range cfg.Ports {
		if p.Published != "" {
			return true
		}
	}
	return false
}

// movingToProxy lists the services the files put behind the proxy whose
// containers still publish their ports themselves: a running container
// does, or one of the newest revision does.
func movingToProxy(p *compose.Project, obs Observed) map[string]bool {
	out := map[string]bool{}
	groups := byService(obs.Containers)
	for _, svc := range p.Services {
		if !svc.Proxy {
			continue
		}
		view := viewOf(groups[svc.Name], svc.Scale)
		for _, c := range groups[svc.Name] {
			if publishesItself(c) && (c.Running() || c.Revision == view.Revision) {
				out[svc.Name] = true
			}
		}
	}
	return out
}

// withoutProxy is the project as it can be planned while the moving
// services keep their ports on their containers.
func withoutProxy(p *compose.Project, moving map[string]bool) *compose.Project {
	return proxiedAs(p, moving, false)
}

// proxiedAs is p with the named services behind the proxy (proxied) or not,
// whatever the files say; p itself when none is named.
func proxiedAs(p *compose.Project, names map[string]bool, proxied bool) *compose.Project {
	if len(names) == 0 {
		return p
	}
	q := *p
	q.Services = slices.Clone(p.Services)
	for i := range q.Services {
		if names[q.Services[i].Name] {
			q.Services[i].Proxy = proxied
		}
	}
	return &q
}

// movingNote tells the user a service can move behind the proxy, and what
// it costs.
func movingNote(svc compose.Service, proxyExists bool) string {
	how := "drover up --upgrade moves it behind the front proxy (its ports close once, for about a second)"
	if proxyExists {
		how = "drover up --upgrade --recreate-proxy moves it behind the front proxy (the proxy is replaced: its ports and this service's close once, for about a second)"
	}
	return fmt.Sprintf("%s: its containers publish %s themselves; %s, or set x-drover: {proxy: false} to keep them so", svc.Name, publishedList(svc), how)
}

func publishedList(svc compose.Service) string {
	var ports []string
	for _, p := range svc.Config.Ports {
		if p.Published != "" {
			ports = append(ports, "port "+p.Published)
		}
	}
	return strings.Join(ports, ", ")
}

// moveSteps are the steps of a move, for a service planned by
// upgradeService with a proxied spec: one batch, the new containers
// started and gated beside the old ones (they publish nothing, so nothing
// collides), then the old ones kept. The proxy is made afterwards, in the
// plan's teardown (proxyAfterMove), once every moving service has let its
// ports go. The gate is the containers' own health (or the monitor period):
// a rancher-compose health_check probe runs in the proxy, which does not
// exist yet.
func moveSteps(svc compose.Service, policy compose.Policy, pending [][]slot) []Step {
	if len(pending) == 0 {
		return nil
	}
	policy.StartFirst = true
	return batchSteps(svc.Name, policy, pending, 1, 1, nil)
}

// proxyAfterMove are the teardown steps of a run that moves services
// behind the proxy: the proxy made with every route (the old one removed
// first, where there was one), started, and every proxied service's routes
// pushed as they are at the end of the run (final, per service).
func proxyAfterMove(p *compose.Project, obs Observed, final map[string][]ProxyTableRoute) ([]Step, error) {
	create, err := proxyCreateSteps(p, obs, proxyRoutes(p), "owns the published ports")
	if err != nil {
		return nil, err
	}
	name := ProxyName(p.Name)
	steps := append(proxyRemoveSteps(obs, "--recreate-proxy: its ports change"), create...)
	var services []string
	for s := range final {
		services = append(services, s)
	}
	sort.Strings(services)
	for _, s := range services {
		steps = append(steps, Step{Target: s, Reason: "its containers serve", Action: ProxyApply{Container: name, Routes: final[s], DrainTimeout: DefaultDrainTimeout}})
	}
	return steps, nil
}

// finalRoutes are a service's routes once its plan is carried out: those of
// its last proxy switch without what drains, or, without a switch, what
// serves now.
func finalRoutes(routes []ProxyRoute, sp ServicePlan, current []Container) []ProxyTableRoute {
	for i := len(sp.Steps) - 1; i >= 0; i-- {
		a, ok := sp.Steps[i].Action.(ProxyApply)
		if !ok {
			continue
		}
		var out []ProxyTableRoute
		for _, r := range a.Routes {
			var serving []ProxyBackend
			for _, b := range r.Backends {
				if b.State == "serving" {
					serving = append(serving, b)
				}
			}
			r.Backends = append([]ProxyBackend{}, serving...)
			r.Paused = len(serving) == 0
			out = append(out, r)
		}
		return out
	}
	return serviceRoutes(routes, sp.Service, servingNow(current), nil, false)
}

// withoutProxySwitches drops the proxy switches of a service plan, for a run
// whose proxy is only made at its end.
func withoutProxySwitches(steps []Step) []Step {
	var out []Step
	for _, s := range steps {
		if _, ok := s.Action.(ProxyApply); !ok {
			out = append(out, s)
		}
	}
	return out
}

// creates reports whether steps create a container.
func creates(steps []Step) bool {
	for _, s := range steps {
		if _, ok := s.Action.(CreateContainer); ok {
			return true
		}
	}
	return false
}

// Taking a service out from behind the proxy: the files say x-drover:
// {proxy: false} of a service the proxy serves. Its new containers publish
// the ports themselves, which they cannot do while the proxy holds them, so
// the proxy lets them go first: removed when it serves nothing else, or
// replaced without them (--recreate-proxy) when it does. Then the service
// is upgraded stop-first, in one batch: the old containers are kept, the
// new ones start with the ports and pass their gate. The ports are closed
// from the proxy's removal until the new containers start.
//
// As for a move in, the containers alone say where it stands: while a
// running container is proxied, or one of the newest revision is, the
// service is leaving; once the old ones are kept and the new ones made, it
// is an upgrade like any other.

// leavingProxy lists the services the files take out from behind the proxy
// whose containers the proxy serves: a running container is proxied, or
// one of the newest revision is.
func leavingProxy(p *compose.Project, obs Observed) map[string]bool {
	out := map[string]bool{}
	groups := byService(obs.Containers)
	for _, svc := range p.Services {
		if svc.Proxy {
			continue
		}
		view := viewOf(groups[svc.Name], svc.Scale)
		for _, c := range groups[svc.Name] {
			if c.Labels[LabelProxied] == "true" && (c.Running() || c.Revision == view.Revision) {
				out[svc.Name] = true
			}
		}
	}
	return out
}

// stillProxied is the project as it can be planned while the leaving
// services stay behind the proxy.
func stillProxied(p *compose.Project, leaving map[string]bool) *compose.Project {
	return proxiedAs(p, leaving, true)
}

// leavesNow lists the leaving services an up --upgrade takes out: all of
// them when the proxy serves nothing else (it is removed) or may be
// replaced; none otherwise, since the other services' ports would close.
func leavesNow(obs Observed, leaving map[string]bool, recreate bool) map[string]bool {
	if len(leaving) == 0 || obs.Proxy != nil && !recreate && len(otherRoutes(obs.Proxy, slices.Sorted(maps.Keys(leaving)))) > 0 {
		return nil
	}
	return leaving
}

// leavingNote tells the user a service can leave the proxy, and what it
// costs.
func leavingNote(svc compose.Service, obs Observed, leaving map[string]bool) string {
	how := "drover up --upgrade takes it out (the proxy, which serves nothing else, is removed: the ports close once, for about a second)"
	if obs.Proxy != nil {
		if others := otherRoutes(obs.Proxy, slices.Sorted(maps.Keys(leaving))); len(others) > 0 {
			how = fmt.Sprintf("drover up --upgrade --recreate-proxy takes it out (the proxy is replaced without its ports: they and those of %s close once, for about a second)", strings.Join(others, ", "))
		}
	}
	return fmt.Sprintf("%s: the front proxy serves its %s, but the files say x-drover: {proxy: false}; %s, or set x-drover: {proxy: true} to keep it there", svc.Name, publishedList(svc), how)
}

// proxyLeft are the setup steps of a run that takes services out from
// behind the proxy when nothing is left behind it: the proxy is removed,
// so that their new containers can publish the ports.
func proxyLeft(p *compose.Project, obs Observed, leaves map[string]bool) []Step {
	if len(leaves) == 0 || p.NeedsProxy() {
		return nil
	}
	return proxyRemoveSteps(obs, "serves nothing once "+strings.Join(slices.Sorted(maps.Keys(leaves)), ", ")+" publish their ports themselves")
}

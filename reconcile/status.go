package reconcile

import (
	"fmt"
	"slices"

	"github.com/drover/drover/compose"
)

// ServiceStatus is where one service stands, for drover status.
type ServiceStatus struct {
	Service  string `json:"service"`
	State    string `json:"state"`
	Revision int    `json:"revision"`
	Scale    int    `json:"scale,omitempty"`
	Serving  int    `json:"serving"` // running containers of the newest revision
	Kept     int    `json:"kept"`    // containers of older revisions
	// OutOfSync says how the files differ from the newest revision; it is
	// empty without files.
	OutOfSync string `json:"out_of_sync,omitempty"`
	Next      string `json:"next,omitempty"`
	// Proxy is the service's backends as the front proxy holds them, per
	// published port: "8991: web-1-r2:80 serving".
	Proxy []string `json:"proxy,omitempty"`
	// Registry is what the registry said of the service's tag (a
	// TagCheck's note), filled in by the caller that asked it.
	Registry string `json:"registry,omitempty"`
}

// proxyBackends lists a service's backends in the proxy's table: per port
// it publishes ("8991: web-1-r2:80 serving"), then per backend set it feeds
// in load balancers' rules ("web:80: web-1-r2:80 serving").
func proxyBackends(obs Observed, service string) []string {
	var out []string
	routes := RoutesOf(obs.Proxy)
	for _, r := range routes {
		if r.Service != service || r.Rules != nil {
			continue
		}
		for _, tr := range obs.ProxyTable.Routes {
			if tr.Listen != r.Listen {
				continue
			}
			if tr.Paused {
				out = append(out, fmt.Sprintf("%d: paused", tr.Listen))
			}
			for _, b := range tr.Backends {
				out = append(out, fmt.Sprintf("%d: %s %s", tr.Listen, b.Addr, b.State))
			}
		}
	}
	for _, name := range sortedKeys(serviceSets(routes, service, nil, nil, false)) {
		set, ok := obs.ProxyTable.Sets[name]
		if !ok {
			out = append(out, fmt.Sprintf("%s: not in the proxy", name))
			continue
		}
		if set.Paused {
			out = append(out, fmt.Sprintf("%s: paused", name))
		}
		for _, b := range set.Backends {
			out = append(out, fmt.Sprintf("%s: %s %s", name, b.Addr, b.State))
		}
	}
	return out
}

// StateLoadBalancer is the state status gives a load balancer: served by
// the front proxy, it has no container and no revision.
const StateLoadBalancer = "load-balancer"

// balancersStatus are the rows of the load balancers: served by the proxy
// (state "load-balancer"), each rule with its backends as the proxy holds
// them. Without files, the proxy's label names them.
func balancersStatus(p *compose.Project, obs Observed) []ServiceStatus {
	routes := RoutesOf(obs.Proxy)
	var names []string
	if p != nil {
		names = balancerNames(p)
		routes = proxyRoutes(p)
	} else {
		names = BalancersOf(obs.Proxy)
	}
	var out []ServiceStatus
	for _, name := range names {
		st := ServiceStatus{Service: name, State: StateLoadBalancer, Proxy: balancerStatus(obs, routes, name)}
		switch {
		case obs.Proxy == nil || !obs.Proxy.Running():
			st.State, st.Next = "absent", "drover up"
		case !rulesInSync(obs.ProxyTable, balancerTableRoutes(routes)):
			st.Next = "drover up"
		}
		out = append(out, st)
	}
	return out
}

// Status derives each service's state from its containers. With a project
// (p not nil) the services of the files are listed, with their scale and
// drift; without, the services the containers name.
func Status(p *compose.Project, obs Observed) []ServiceStatus {
	var out []ServiceStatus
	names := serviceNames(obs, nil)
	if p != nil {
		names = nil
		for _, s := range p.Services {
			names = append(names, s.Name)
		}
	}
	groups := byService(obs.Containers)
	for _, name := range names {
		st := ServiceStatus{Service: name}
		scale := 0
		var svc compose.Service
		if p != nil {
			svc, _ = p.Service(name)
			scale, st.Scale = svc.Scale, svc.Scale
		}
		view := viewOf(groups[name], scale)
		st.State, st.Revision, st.Kept = view.State.String(), view.Revision, len(view.Kept)
		for _, c := range view.Current {
			if c.Running() {
				st.Serving++
			}
		}
		if p != nil {
			st.OutOfSync = outOfSync(p, svc, view.Current, obs.Images)
		}
		st.Proxy = proxyBackends(obs, name)
		switch {
		case view.Revision == 0:
			st.State, st.Next = "absent", "drover up"
		case view.State != Active:
			st.Next = nextStep(name, view)
		case st.OutOfSync != "":
			st.Next = fmt.Sprintf("drover up --upgrade %s", name)
		case p != nil && st.Serving < scale:
			st.Next = "drover up"
		}
		out = append(out, st)
	}
	return append(out, balancersStatus(p, obs)...)
}

// nextStep is the advice for a service in the middle of an upgrade: the
// commands that are right in its state, and only those.
func nextStep(name string, view ServiceView) string {
	back := fmt.Sprintf("drover up --rollback %s (back to revision %d)", name, view.KeptRevision())
	switch view.State {
	case Upgrading:
		return fmt.Sprintf("drover up --upgrade %s (go on to revision %d) or %s", name, view.Revision, back)
	case Upgraded:
		return fmt.Sprintf("drover up --confirm-upgrade %s (drop revision %d) or %s", name, view.KeptRevision(), back)
	case UpgradeFailed:
		return fmt.Sprintf("%s, or drover up --upgrade %s (try revision %d again)", back, name, view.Revision)
	}
	return ""
}

// ServiceDiff is what differs between the files and a service's newest
// revision.
type ServiceDiff struct {
	Service string
	Changes []Change
	// Image is set when the tag now names another image than the one the
	// containers run.
	Image string
}

// Diff compares each named service (all when none is named) with the spec
// its newest containers were made from.
func Diff(p *compose.Project, obs Observed, services []string) ([]ServiceDiff, error) {
	var out []ServiceDiff
	groups := byService(obs.Containers)
	for _, svc := range p.Services {
		if len(services) > 0 && !slices.Contains(services, svc.Name) {
			continue
		}
		view := viewOf(groups[svc.Name], svc.Scale)
		d := ServiceDiff{Service: svc.Name}
		if len(view.Current) == 0 {
			d.Changes = []Change{{Key: "containers", New: fmt.Sprintf("%d to create", svc.Scale)}}
			out = append(out, d)
			continue
		}
		c := view.Current[0]
		if c.Hash != svc.Hash {
			d.Changes = specChanges(p, svc, c)
		}
		want := obs.Images[NormalizeRef(ImageRef(p.Name, svc.Config))]
		if c.Hash == svc.Hash && want != "" && c.ImageID != "" && want != c.ImageID {
			d.Image = fmt.Sprintf("%s: %s → %s", ImageRef(p.Name, svc.Config), shortID(c.ImageID), shortID(want))
		}
		out = append(out, d)
	}
	for _, s := range services {
		if _, ok := p.Service(s); !ok {
			return nil, fmt.Errorf("no such service: %q", s)
		}
	}
	return out, nil
}

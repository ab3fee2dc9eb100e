package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/drover/drover/compose"
)

// Load-balancer services are served by the front proxy: each port of a
// balancer is a route with rules (host, path, priority), and each rule names
// backend sets, one per target service and port ("web:8080"). A balancer has
// no container; its routes are pushed with the proxy's setup, and each
// target service pushes its own sets whenever what serves it changes (a
// plain up, every switch of an upgrade or a rollback), exactly as a proxied
// service pushes its own routes. A rule whose set is not there yet holds its
// connections, as a route with no backend does.

// The proxy's control protocol for rules (protocol 2; see package proxy).
// The proxy's label keeps a balancer's rules in the same form, so that a
// rollback without files knows which sets a service feeds.
type (
	ProxyRule struct {
		Host     string   `json:"host,omitempty"`
		Path     string   `json:"path,omitempty"`
		Priority int      `json:"priority,omitempty"`
		Sets     []string `json:"sets"`
	}
	ProxySet struct {
		Backends []ProxyBackend `json:"backends"`
		Paused   bool           `json:"paused,omitempty"`
	}
)

// ProxyRulesProtocol is the control protocol a proxy must speak to serve
// rules; one that does not say its protocol speaks 1.
const ProxyRulesProtocol = 2

// SetName names the backend set of a service at a port.
func SetName(service string, port int) string { return fmt.Sprintf("%s:%d", service, port) }

// setService is the service of a set name.
func setService(name string) string {
	i := strings.LastIndex(name, ":")
	if i < 0 {
		return name
	}
	return name[:i]
}

// BalancersOf names the load balancers a proxy container serves, from its
// label, in the order of their first port.
func BalancersOf(proxy *Container) []string {
	var out []string
	for _, r := range RoutesOf(proxy) {
		if r.Rules != nil && !slices.Contains(out, r.Service) {
			out = append(out, r.Service)
		}
	}
	return out
}

// balancerRoutes are the proxy routes of the project's balancers: one per
// port, its rules grouped by host, path and priority (rules that only
// differ by target balance across both targets, as Rancher 1.1 did).
func balancerRoutes(p *compose.Project) []ProxyRoute {
	var out []ProxyRoute
	for _, b := range p.Balancers {
		at := map[int]int{} // listen port → index in out
		for _, r := range b.Rules {
			i, ok := at[r.Listen]
			if !ok {
				i = len(out)
				at[r.Listen] = i
				out = append(out, ProxyRoute{Listen: r.Listen, HostIP: r.HostIP, Service: b.Name, Mode: r.Protocol, Rules: []ProxyRule{}, Internal: r.Internal})
			}
			set := SetName(r.Service, r.Target)
			rules := out[i].Rules
			j := slices.IndexFunc(rules, func(x ProxyRule) bool {
				return x.Host == r.Hostname && x.Path == r.Path && x.Priority == r.Priority
			})
			if j < 0 {
				out[i].Rules = append(rules, ProxyRule{Host: r.Hostname, Path: r.Path, Priority: r.Priority, Sets: []string{set}})
				continue
			}
			if !slices.Contains(rules[j].Sets, set) {
				rules[j].Sets = append(rules[j].Sets, set)
			}
		}
	}
	return out
}

// balancerTableRoutes are the routes of the table for the balancers'
// ports: rules only, the sets are the targets'.
func balancerTableRoutes(routes []ProxyRoute) []ProxyTableRoute {
	var out []ProxyTableRoute
	for _, r := range routes {
		if r.Rules == nil {
			continue
		}
		tr := ProxyTableRoute{Listen: r.Listen, Mode: r.Mode, Backends: []ProxyBackend{}}
		for _, ru := range r.Rules {
			tr.Rules = append(tr.Rules, ProxyRule{Host: ru.Host, Path: ru.Path, Priority: ru.Priority, Sets: slices.Clone(ru.Sets)})
		}
		out = append(out, tr)
	}
	return out
}

// serviceSets are the backend sets a service feeds in the balancers' rules,
// with its backends: serving ones, then draining ones. paused takes the sets
// out of their rules (a stop-first switch with nothing left serving).
func serviceSets(routes []ProxyRoute, service string, serving, draining []Container, paused bool) map[string]ProxySet {
	var out map[string]ProxySet
	for _, r := range routes {
		for _, ru := range r.Rules {
			for _, name := range ru.Sets {
				if setService(name) != service {
					continue
				}
				if out == nil {
					out = map[string]ProxySet{}
				}
				if _, done := out[name]; done {
					continue
				}
				port := name[len(service)+1:]
				set := ProxySet{Backends: []ProxyBackend{}, Paused: paused}
				for _, c := range serving {
					set.Backends = append(set.Backends, ProxyBackend{Addr: BackendHost(c) + ":" + port, State: "serving"})
				}
				for _, c := range draining {
					set.Backends = append(set.Backends, ProxyBackend{Addr: BackendHost(c) + ":" + port, State: "draining"})
				}
				out[name] = set
			}
		}
	}
	return out
}

// fronted reports whether the proxy sends connections to a service: its
// own published ports, or a balancer's rules.
func fronted(routes []ProxyRoute, service string) bool {
	for _, r := range routes {
		if r.Service == service && r.Rules == nil {
			return true
		}
		for _, ru := range r.Rules {
			for _, name := range ru.Sets {
				if setService(name) == service {
					return true
				}
			}
		}
	}
	return false
}

// setsInSync reports whether the proxy holds a service's sets as its
// containers say they should be.
func setsInSync(obs Observed, routes []ProxyRoute, service string, cs []Container) bool {
	for name, want := range serviceSets(routes, service, servingNow(cs), nil, false) {
		have, ok := obs.ProxyTable.Sets[name]
		if !ok || have.Paused != want.Paused || !slices.Equal(have.Backends, want.Backends) {
			return false
		}
	}
	return true
}

// balancerSwitch is the setup step that puts the balancers' routes in the
// proxy when the proxy does not hold them as the files say.
func balancerSwitch(p *compose.Project, obs Observed, routes []ProxyRoute) []Step {
	want := balancerTableRoutes(routes)
	if len(want) == 0 || obs.Proxy != nil && obs.Proxy.Running() && rulesInSync(obs.ProxyTable, want) {
		return nil
	}
	return []Step{{Target: strings.Join(balancerNames(p), ", "), Reason: "the load balancers' rules", Action: ProxyApply{Container: proxyRef(p, obs), Routes: want, DrainTimeout: DefaultDrainTimeout}}}
}

// rulesInSync compares the routes with rules the proxy holds with want,
// rules in any order (the proxy keeps them in the order it tries them).
func rulesInSync(t ProxyTable, want []ProxyTableRoute) bool {
	have := map[int]ProxyTableRoute{}
	for _, r := range t.Routes {
		have[r.Listen] = r
	}
	key := func(ru ProxyRule) string {
		return fmt.Sprintf("%s|%s|%d|%s", ru.Host, ru.Path, ru.Priority, strings.Join(ru.Sets, ","))
	}
	sorted := func(rules []ProxyRule) []string {
		var out []string
		for _, ru := range rules {
			out = append(out, key(ru))
		}
		slices.Sort(out)
		return out
	}
	for _, w := range want {
		h, ok := have[w.Listen]
		if !ok || h.Mode != w.Mode || len(h.Backends) > 0 || h.Paused || !slices.Equal(sorted(h.Rules), sorted(w.Rules)) {
			return false
		}
	}
	return true
}

// balancerStatus lists a balancer's rules as the proxy holds them, in the
// order it tries them, each with its sets' backends:
// "8080 shop.example.com/api → web:80: proj-web-1-r1:80 serving".
func balancerStatus(obs Observed, routes []ProxyRoute, name string) []string {
	var out []string
	for _, r := range routes {
		if r.Service != name || r.Rules == nil {
			continue
		}
		i := slices.IndexFunc(obs.ProxyTable.Routes, func(tr ProxyTableRoute) bool { return tr.Listen == r.Listen })
		if i < 0 {
			out = append(out, fmt.Sprintf("%d: not in the proxy", r.Listen))
			continue
		}
		tr := obs.ProxyTable.Routes[i]
		for _, ru := range tr.Rules {
			match := cmp.Or(ru.Host, "*") + ru.Path
			if ru.Priority > 0 {
				match += fmt.Sprintf(" (priority %d)", ru.Priority)
			}
			for _, set := range ru.Sets {
				s, ok := obs.ProxyTable.Sets[set]
				var bs []string
				for _, b := range s.Backends {
					bs = append(bs, b.Addr+" "+b.State)
				}
				switch {
				case !ok:
					bs = []string{"no backends yet"}
				case s.Paused:
					bs = append([]string{"paused"}, bs...)
				case len(bs) == 0:
					bs = []string{"no backends"}
				}
				out = append(out, fmt.Sprintf("%d %s %s → %s: %s", tr.Listen, tr.Mode, match, set, strings.Join(bs, ", ")))
			}
		}
	}
	return out
}

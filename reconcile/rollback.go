package reconcile

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/drover/drover/compose"
)

// ErrNothingKept is returned for a rollback of a service without kept
// containers.
var ErrNothingKept = errors.New("nothing to roll back to: no containers are kept from an earlier revision")

// RollbackOptions shape a rollback.
type RollbackOptions struct {
	// Services to roll back; all that have kept containers when empty.
	Services []string
	// Timeout bounds the wait for the kept containers to be healthy again.
	Timeout time.Duration
	// Monitor is how long a kept container without a health check must
	// keep running once started: the same gate as an upgrade's.
	Monitor time.Duration
	// DrainTimeouts are the services' drain_timeout_ms when the files are
	// there (DrainTimeouts); a service not in it drains for
	// DefaultDrainTimeout, since a rollback may run without files.
	DrainTimeouts map[string]time.Duration
}

// DrainTimeouts returns the drain timeout of each service of p, for a
// rollback to drain as the upgrade did.
func DrainTimeouts(p *compose.Project) map[string]time.Duration {
	if p == nil {
		return nil
	}
	out := map[string]time.Duration{}
	for _, svc := range p.Services {
		out[svc.Name] = drainTimeout(svc)
	}
	return out
}

// drainFor is the drain timeout of a service in drains (DrainTimeouts),
// DefaultDrainTimeout when the files did not say.
func drainFor(drains map[string]time.Duration, service string) time.Duration {
	if d, ok := drains[service]; ok {
		return d
	}
	return DefaultDrainTimeout
}

// Rollback plans going back to the kept revision of the named services (all
// that have kept containers when none is named): the kept containers get
// their names and restart policies back and start (the same containers, not
// new ones), and once they pass the health gate the new ones are stopped and
// removed. Where the new containers publish host ports they stop first, since
// the kept ones need the same ports. It needs no compose file: everything is
// in the labels. It works from every state an upgrade can leave, since an
// upgrade creates its new containers before it touches an old one.
func Rollback(obs Observed, opts RollbackOptions) (Plan, error) {
	plan := Plan{Project: obs.Project}
	groups := byService(obs.Containers)
	views := map[string]ServiceView{}
	asked := opts.Services
	for _, name := range serviceNames(obs, withUnits(obs, asked)) {
		if err := slotConflict(name, groups[name]); err != nil {
			return Plan{}, err
		}
		view := viewOf(groups[name], 0)
		if len(view.Kept) == 0 {
			if !slices.Contains(asked, name) {
				continue // not named, or a member of a named one's unit
			}
			return Plan{}, fmt.Errorf("service %q: %w", name, ErrNothingKept)
		}
		views[name] = view
	}
	// A service the upgrade took out from behind the proxy would go back
	// to containers that publish nothing, with no proxy to serve them.
	if left := leftProxy(obs.Proxy, views); len(left) > 0 {
		// Going forward is a move behind the proxy, which replaces one
		// that serves other services.
		forward := "drover up --upgrade"
		if obs.Proxy != nil {
			forward = "drover up --upgrade --recreate-proxy"
		}
		return Plan{}, fmt.Errorf("service %q: its kept containers were served by the front proxy, which no longer has its ports (the upgrade took it out from behind the proxy), so they would come back unreachable: drover does not roll this back; go forward instead: set x-drover: {proxy: true} again and run %s", left[0], forward)
	}
	// A service moved behind the proxy by the upgrade goes back to
	// containers that publish its ports themselves: the proxy, which holds
	// them, goes first (move.go).
	proxy := obs.Proxy
	if obs.Proxy == nil && obs.ProxyPorts != nil {
		// A launcher left without its proxy (a run killed between the
		// two) holds ports and serves nothing.
		plan.Setup = append(plan.Setup, proxyRemoveSteps(obs, "the front proxy is gone")...)
	}
	if back := backFromProxy(obs.Proxy, views); len(back) > 0 {
		if others := otherRoutes(obs.Proxy, back); len(others) > 0 {
			return Plan{}, fmt.Errorf("service %q: the upgrade moved it behind the front proxy, and its kept containers publish its ports themselves, so a rollback must remove the proxy; but the proxy also serves %s, whose ports would close: drover does not roll this back (go forward instead: fix the files and run drover up --upgrade)", back[0], strings.Join(others, ", "))
		}
		plan.Setup = append(plan.Setup, proxyRemoveSteps(obs, "the kept containers publish its ports themselves")...)
		proxy = nil
	}
	for _, name := range slices.Sorted(maps.Keys(views)) {
		sp, notes := rollbackService(name, views[name], opts, proxy)
		plan.Services = append(plan.Services, sp)
		plan.Notes = append(plan.Notes, notes...)
	}
	if len(plan.Services) == 0 {
		return Plan{}, ErrNothingKept
	}
	return plan, nil
}

// backFromProxy lists the services whose ports the proxy holds and whose
// kept revision publishes them itself.
func backFromProxy(proxy *Container, views map[string]ServiceView) []string {
	routed := map[string]bool{}
	for _, r := range RoutesOf(proxy) {
		routed[r.Service] = true
	}
	var out []string
	for _, name := range slices.Sorted(maps.Keys(views)) {
		view := views[name]
		rev := view.KeptRevision()
		if !routed[name] {
			continue
		}
		if slices.ContainsFunc(view.Kept, func(c Container) bool { return c.Revision == rev && publishesItself(c) }) {
			out = append(out, name)
		}
	}
	return out
}

// leftProxy lists the services whose kept revision the proxy served and no
// longer routes.
func leftProxy(proxy *Container, views map[string]ServiceView) []string {
	routes := RoutesOf(proxy)
	var out []string
	for _, name := range slices.Sorted(maps.Keys(views)) {
		view := views[name]
		rev := view.KeptRevision()
		if fronted(routes, name) {
			continue
		}
		if slices.ContainsFunc(view.Kept, func(c Container) bool { return c.Revision == rev && c.Labels[LabelProxied] == "true" }) {
			out = append(out, name)
		}
	}
	return out
}

// otherRoutes lists the services the proxy serves besides those named.
func otherRoutes(proxy *Container, names []string) []string {
	var out []string
	for _, r := range RoutesOf(proxy) {
		if !slices.Contains(names, r.Service) && !slices.Contains(out, r.Service) {
			out = append(out, r.Service)
		}
	}
	return out
}

func rollbackService(name string, view ServiceView, opts RollbackOptions, proxy *Container) (ServicePlan, []string) {
	sp := ServicePlan{Service: name}
	var notes []string
	keptRev := view.KeptRevision()
	portsFirst := false
	for _, c := range view.Current {
		for _, p := range c.Ports {
			portsFirst = portsFirst || (p.HostPort != 0 && c.Running())
		}
	}
	if portsFirst {
		var stops [][]Step
		for _, c := range view.Current {
			if c.Running() {
				stop := Step{Target: c.Target(), Reason: "frees its host ports", Action: StopContainer{Ref: c.ID}}
				stops = append(stops, append(preStop(c, c.Target(), stop.Reason), stop))
			}
		}
		sp.Steps = inLanes(name, stops...)
	}
	holders := map[string]Container{}
	replaces := map[int]string{}
	for _, c := range view.Current {
		holders[c.Name] = c
		if p := c.Labels[LabelReplacesRestart]; p != "" {
			replaces[c.Number] = p
		}
	}
	var back [][]Step
	var refs []string
	for _, k := range view.Kept {
		if k.Revision != keptRev {
			continue
		}
		var lane []Step
		canonical := canonicalName(k.Name)
		if h, ok := holders[canonical]; ok {
			lane = append(lane, Step{Target: h.Target(), Reason: "frees its name", Action: RenameContainer{Ref: h.ID, Name: KeptName(h.Name, h.Revision)}})
		}
		if k.Name != canonical {
			lane = append(lane, Step{Target: k.Target(), Reason: fmt.Sprintf("back to revision %d", keptRev), Action: RenameContainer{Ref: k.ID, Name: canonical}})
		}
		policy := k.RestartPolicy
		if k.Labels[LabelRestart] == "" && replaces[k.Number] != "" {
			policy = replaces[k.Number] // what the engine said before drover changed it
		}
		if policy != "" {
			lane = append(lane, Step{Target: k.Target(), Reason: "its own restart policy", Action: SetRestartPolicy{Ref: k.ID, Policy: policy}})
		} else {
			notes = append(notes, fmt.Sprintf("%s: its restart policy before the upgrade is not known; it keeps policy \"no\"", k.Name))
		}
		if !k.Running() {
			lane = append(lane, Step{Target: k.Target(), Reason: fmt.Sprintf("revision %d", keptRev), Action: StartContainer{Ref: k.ID}})
			lane = append(lane, postStart(k, k.Target())...)
		}
		back = append(back, lane)
		refs = append(refs, k.ID)
	}
	sp.Steps = append(sp.Steps, inLanes(name, back...)...)
	sp.Steps = append(sp.Steps, Step{Target: name, Reason: fmt.Sprintf("revision %d", keptRev), Action: Wait{Refs: refs, Until: Healthy, Timeout: opts.Timeout, Monitor: opts.Monitor}})
	var drained func() Step
	if routes := RoutesOf(proxy); fronted(routes, name) {
		var back []Container
		for _, k := range view.Kept {
			if k.Revision == keptRev {
				back = append(back, k)
			}
		}
		px := proxyPlan{ref: proxy.ID, routes: routes, drain: drainFor(opts.DrainTimeouts, name)}
		draining := servingNow(view.Current)
		sp.Steps = append(sp.Steps, px.switchStep(name, fmt.Sprintf("serve revision %d, drain revision %d", keptRev, view.Revision), back, draining))
		if len(draining) > 0 {
			drained = func() Step { return px.switchStep(name, "drained", back, nil) }
		}
	}
	var gone [][]Step
	for _, c := range view.Current {
		reason := fmt.Sprintf("rolled back from revision %d", c.Revision)
		if portsFirst {
			gone = append(gone, []Step{{Target: c.Target(), Reason: reason, Action: RemoveContainer{Ref: c.ID, Volumes: true}}})
			continue
		}
		gone = append(gone, removeSteps(c, reason, nil))
	}
	sp.Steps = append(sp.Steps, inLanes(name, gone...)...)
	if drained != nil {
		// The switch left the removed ones listed as draining.
		sp.Steps = append(sp.Steps, drained())
	}
	return sp, notes
}

// Confirm plans the removal of the kept containers of upgraded services (the
// named ones, or all). A service whose new revision has not passed its
// health gate, or has failed since, is refused unless force is set: its kept
// containers are the only ones known to work.
func Confirm(obs Observed, services []string, force bool) (Plan, error) {
	plan := Plan{Project: obs.Project}
	groups := byService(obs.Containers)
	for _, name := range serviceNames(obs, withUnits(obs, services)) {
		if err := slotConflict(name, groups[name]); err != nil {
			return Plan{}, err
		}
		view := viewOf(groups[name], 0)
		if len(view.Kept) == 0 {
			continue
		}
		if err := confirmable(name, view); err != nil && !force {
			return Plan{}, err
		}
		var removes [][]Step
		for _, c := range view.Kept {
			removes = append(removes, []Step{{Target: c.Target(), Reason: fmt.Sprintf("confirm revision %d", view.Revision), Action: RemoveContainer{Ref: c.ID, Volumes: true}}})
		}
		plan.Services = append(plan.Services, ServicePlan{Service: name, Steps: inLanes(name, removes...)})
	}
	return plan, nil
}

// confirmable says why a service's upgrade cannot be confirmed, nil when it
// can: every new container passed its health gate and runs.
func confirmable(name string, view ServiceView) error {
	switch view.State {
	case UpgradeFailed:
		return fmt.Errorf("service %q: revision %d has failed (%s %s); confirming would remove revision %d, the one known to work: go back with drover up --rollback %s, try again with drover up --upgrade %s, or confirm anyway with --force", name, view.Revision, view.Bad.Name, badReason(*view.Bad), view.KeptRevision(), name, name)
	case Upgrading:
		return fmt.Errorf("service %q: the upgrade to revision %d is not finished (not every new container has passed its health gate); go on with drover up --upgrade %s or back with drover up --rollback %s, or confirm anyway with --force", name, view.Revision, name, name)
	}
	for _, c := range view.Current {
		if !c.Running() && !(c.Completed() && c.Labels[compose.LabelStartOnce] == "true") {
			return fmt.Errorf("service %q: %s is %s; start it (drover start %s) or go back with drover up --rollback %s, or confirm anyway with --force", name, c.Name, c.State, name, name)
		}
	}
	return nil
}

func badReason(c Container) string {
	switch {
	case c.State == "exited":
		return fmt.Sprintf("exited with status %d", c.ExitCode)
	case c.Health == "unhealthy":
		return "is unhealthy"
	}
	return "is " + c.State
}

func anyRunning(cs []Container) bool {
	for _, c := range cs {
		if c.Running() {
			return true
		}
	}
	return false
}

// withUnits adds to the named services the other members of their units,
// read from the primaries' io.rancher.sidekicks label on the containers
// (no files needed): a unit is upgraded together, so it is rolled back and
// confirmed together. No name (all services) stays none.
func withUnits(obs Observed, services []string) []string {
	if len(services) == 0 {
		return nil
	}
	named := map[string]bool{}
	for _, s := range services {
		named[s] = true
	}
	out := append([]string(nil), services...)
	groups := byService(obs.Containers)
	for _, c := range obs.Containers {
		v := c.Labels[compose.LabelSidekicks]
		if v == "" {
			continue
		}
		unit := []string{c.Service}
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				unit = append(unit, s)
			}
		}
		if !slices.ContainsFunc(unit, func(s string) bool { return named[s] }) {
			continue
		}
		for _, s := range unit {
			if !named[s] && len(groups[s]) > 0 {
				named[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// serviceNames is the named services, or every service the containers name,
// in their sorted order.
func serviceNames(obs Observed, services []string) []string {
	if len(services) > 0 {
		return services
	}
	var out []string
	seen := map[string]bool{}
	for _, c := range obs.Containers {
		if c.Service != "" && !seen[c.Service] {
			seen[c.Service] = true
			out = append(out, c.Service)
		}
	}
	return out
}

// Forward plans the way back from a rollback that failed (a kept container
// that would not start, or did not pass its gate): the kept containers are
// kept again and the new revision serves again, gated like an upgrade, so
// that a bad rollback never leaves a service with nothing serving. Like
// Rollback it needs no files.
func Forward(obs Observed, opts RollbackOptions) (Plan, error) {
	plan := Plan{Project: obs.Project}
	groups := byService(obs.Containers)
	for _, name := range serviceNames(obs, opts.Services) {
		view := viewOf(groups[name], 0)
		if len(view.Kept) == 0 || len(view.Current) == 0 {
			continue
		}
		rev := view.KeptRevision()
		svc := compose.Service{Name: name}
		var units [][]slot
		for i := range view.Current {
			c := &view.Current[i]
			s := slot{svc: svc, number: c.Number, name: canonicalName(c.Name), revision: view.Revision, new: c}
			for j := range view.Kept {
				if k := &view.Kept[j]; k.Revision == rev && k.Number == c.Number {
					s.old = k
				}
			}
			units = append(units, []slot{s})
		}
		policy := compose.Policy{HealthTimeout: opts.Timeout, Monitor: opts.Monitor}
		steps := batchSteps(name, policy, units, 1, 1, nil)
		plan.Services = append(plan.Services, ServicePlan{Service: name, Steps: steps})
	}
	if len(plan.Services) == 0 {
		return Plan{}, ErrNothingKept
	}
	return plan, nil
}

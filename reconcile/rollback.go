package reconcile

import (
	"errors"
	"fmt"
	"time"
)

// ErrNothingKept is returned for a rollback of a service without kept
// containers.
var ErrNothingKept = errors.New("nothing to roll back to: no containers are kept from an earlier revision")

// Rollback plans going back to the kept revision of the named services (all
// that have kept containers when none is named): the kept containers get
// their names back and start (the same containers, not new ones), and once
// they are ready the new ones are stopped and removed. Where the new
// containers publish host ports they stop first, since the kept ones need
// the same ports. It needs no compose file: everything is in the labels.
func Rollback(obs Observed, services []string, timeout time.Duration) (Plan, error) {
	plan := Plan{Project: obs.Project}
	for _, name := range serviceNames(obs, services) {
		view := viewOf(obs.Containers, name, 0)
		if len(view.Kept) == 0 {
			if len(services) == 0 {
				continue
			}
			return Plan{}, fmt.Errorf("service %q: %w", name, ErrNothingKept)
		}
		plan.Services = append(plan.Services, rollbackService(name, view, timeout))
	}
	if len(plan.Services) == 0 {
		return Plan{}, ErrNothingKept
	}
	return plan, nil
}

func rollbackService(name string, view ServiceView, timeout time.Duration) ServicePlan {
	sp := ServicePlan{Service: name}
	keptRev := 0
	for _, c := range view.Kept {
		keptRev = max(keptRev, c.Revision)
	}
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
				stops = append(stops, []Step{{Target: c.Target(), Reason: "frees its host ports", Action: StopContainer{Ref: c.ID}}})
			}
		}
		sp.Steps = inLanes(name, stops...)
	}
	holders := map[string]Container{}
	for _, c := range view.Current {
		holders[c.Name] = c
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
		if !k.Running() {
			lane = append(lane, Step{Target: k.Target(), Reason: fmt.Sprintf("revision %d", keptRev), Action: StartContainer{Ref: k.ID}})
		}
		back = append(back, lane)
		refs = append(refs, k.ID)
	}
	sp.Steps = append(sp.Steps, inLanes(name, back...)...)
	sp.Steps = append(sp.Steps, Step{Target: name, Reason: fmt.Sprintf("revision %d", keptRev), Action: Wait{Refs: refs, Until: Healthy, Timeout: timeout}})
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
	return sp
}

// Confirm plans the removal of the kept containers of upgraded services (the
// named ones, or all). A service still upgrading cannot be confirmed.
func Confirm(obs Observed, services []string) (Plan, error) {
	plan := Plan{Project: obs.Project}
	for _, name := range serviceNames(obs, services) {
		view := viewOf(obs.Containers, name, 0)
		if len(view.Kept) == 0 {
			continue
		}
		if view.State == Upgrading {
			return Plan{}, fmt.Errorf("service %q: the upgrade to revision %d is not finished; go on with drover up --upgrade or back with drover up --rollback", name, view.Revision)
		}
		var removes [][]Step
		for _, c := range view.Kept {
			removes = append(removes, []Step{{Target: c.Target(), Reason: fmt.Sprintf("confirm revision %d", view.Revision), Action: RemoveContainer{Ref: c.ID, Volumes: true}}})
		}
		plan.Services = append(plan.Services, ServicePlan{Service: name, Steps: inLanes(name, removes...)})
	}
	return plan, nil
}

func anyRunning(cs []Container) bool {
	for _, c := range cs {
		if c.Running() {
			return true
		}
	}
	return false
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

package swarm

import (
	"fmt"

	"github.com/docker/docker/api/types/swarm"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

// StateOf derives a service's upgrade state, in the single engine's
// vocabulary, from Swarm's update status and drover's labels:
//
//	update status                          state
//	none, or the previous spec confirmed   active
//	completed, previous spec kept          upgraded
//	updating, rollback_started             upgrading
//	paused, rollback_paused                upgrade-failed
//	rollback_completed                     active (the previous spec serves again)
//
// Swarm keeps one previous spec, not containers: "upgraded" means a
// rollback would bring that spec back, with new tasks.
func StateOf(s Service) reconcile.UpgradeState {
	if s.Update == nil {
		return reconcile.Active
	}
	switch s.Update.State {
	case swarm.UpdateStateUpdating, swarm.UpdateStateRollbackStarted:
		return reconcile.Upgrading
	case swarm.UpdateStatePaused, swarm.UpdateStateRollbackPaused:
		return reconcile.UpgradeFailed
	case swarm.UpdateStateCompleted:
		if s.Previous != nil && !s.Confirmed && s.PreviousRevision < s.Revision {
			return reconcile.Upgraded
		}
	}
	return reconcile.Active
}

// nextStep is the advice for a service in a state, naming only commands
// that are right from there.
func nextStep(name string, st reconcile.UpgradeState) string {
	switch st {
	case reconcile.Upgrading:
		return fmt.Sprintf("drover --engine swarm up --upgrade %s (watch it finish), or up --rollback %s", name, name)
	case reconcile.Upgraded:
		return fmt.Sprintf("drover --engine swarm up --confirm-upgrade %s, or up --rollback %s", name, name)
	case reconcile.UpgradeFailed:
		return fmt.Sprintf("drover --engine swarm up --rollback %s, or up --upgrade %s to try again", name, name)
	}
	return ""
}

// Drift says how the files differ from what a service runs: the changed
// keys (environment values masked), or the image the tag names now; ""
// when in sync.
func Drift(s compose.Service, o Service, imageID string) string {
	if o.Hash != s.Hash {
		var keys []string
		for _, c := range reconcile.DiffSpecs([]byte(o.Spec.Labels[reconcile.LabelSpec]), s.Spec) {
			keys = append(keys, c.Summary())
		}
		if len(keys) == 0 {
			return "config changed"
		}
		return fmt.Sprint(keys)
	}
	if imageID != "" && o.ImageID != "" && imageID != o.ImageID {
		return fmt.Sprintf("image %s now names %.19s", s.Config.Image, imageID)
	}
	return ""
}

// Status lists where each service stands. Kept is 0: Swarm keeps a
// previous spec, not containers; Next says whether a rollback has one.
func Status(p *compose.Project, obs Observed) []reconcile.ServiceStatus {
	var out []reconcile.ServiceStatus
	for _, name := range serviceNames(p, obs) {
		o, ok := obs.Services[name]
		st := reconcile.ServiceStatus{Service: name}
		if !ok {
			st.State, st.Next = "absent", "drover --engine swarm up"
			if svc, ok := p.Service(name); ok {
				st.Scale = svc.Scale
			}
			out = append(out, st)
			continue
		}
		state := StateOf(o)
		st.State, st.Revision, st.Next = state.String(), o.Revision, nextStep(name, state)
		st.Scale = o.Replicas()
		// A task Swarm is shutting down may still run: one of a drained
		// node, or the second task of a slot that the orchestrator and
		// the update both replaced. It serves no longer.
		for _, t := range obs.Tasks {
			if t.Service == name && t.Running() && t.Desired == swarm.TaskStateRunning && t.Revision == o.Revision {
				st.Serving++
			}
		}
		if p != nil {
			if svc, ok := p.Service(name); ok {
				st.Scale = svc.Scale
				st.OutOfSync = Drift(svc, o, obs.ImageID(svc.Config.Image))
				if st.OutOfSync != "" && st.Next == "" {
					st.Next = "drover --engine swarm up --upgrade " + name
				}
			}
		}
		if st.Next == "" && o.Update != nil && o.Update.State == swarm.UpdateStateRollbackCompleted {
			st.Next = "rolled back: " + o.Update.Message
		}
		out = append(out, st)
	}
	return out
}

// serviceNames are the files' services in dependency order, then the
// swarm's services the files do not name (all of them without files).
func serviceNames(p *compose.Project, obs Observed) []string {
	var out []string
	seen := map[string]bool{}
	if p != nil {
		for _, s := range p.Services {
			out = append(out, s.Name)
			seen[s.Name] = true
		}
	}
	var rest []string
	for name := range obs.Services {
		if !seen[name] {
			rest = append(rest, name)
		}
	}
	sortStrings(rest)
	return append(out, rest...)
}

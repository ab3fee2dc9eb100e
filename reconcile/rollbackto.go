package reconcile

import (
	"errors"
	"fmt"
	"strings"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/history"
)

// RollbackToOptions shape a rollback to a recorded revision.
type RollbackToOptions struct {
	UpgradeOptions
	// Revision is where to go; 0 means one revision back from the one
	// serving.
	Revision int
}

// RollbackTo plans going back to a recorded revision of the named services
// (all that have one to go back to when none is named). Where the
// containers of that revision are still kept, they come back as in
// Rollback (fast); otherwise the revision is made again from its recorded
// spec and image ID as a new revision (newest + 1, labelled as a rollback
// of it), by a staged, health-gated upgrade with the service's policy,
// through the front proxy where there is one, the containers that serve now
// being kept for a rollback like any upgrade's. recreated lists the
// services made again, whose failure is undone by Rollback; the others'
// by Forward.
//
// Everything is checked before the plan changes anything: the revision is
// recorded with its spec, and its image is on the engine or can be pulled
// by its repo digest.
func RollbackTo(p *compose.Project, obs Observed, opts RollbackToOptions) (plan Plan, recreated []string, err error) {
	plan = Plan{Project: p.Name}
	groups := byService(obs.Containers)
	names := opts.Services
	if len(names) == 0 {
		names = serviceNames(obs, nil)
	}
	var creating []compose.Service
	pulls := map[string]bool{}
	for _, name := range names {
		svc, ok := p.Service(name)
		if !ok {
			return Plan{}, nil, fmt.Errorf("service %q: not in the project's files; going back to an earlier revision makes new containers, which needs them", name)
		}
		if err := slotConflict(name, groups[name]); err != nil {
			return Plan{}, nil, err
		}
		hist, _ := ServiceHistory(groups[name], obs.Images)
		view := viewOf(groups[name], svc.Scale)
		rec, fast, err := rollbackTarget(name, view, hist, opts.Revision)
		if errors.Is(err, errServing) {
			plan.Notes = append(plan.Notes, err.Error())
			plan.Services = append(plan.Services, ServicePlan{Service: name})
			continue
		}
		if err != nil {
			if len(opts.Services) == 0 && opts.Revision == 0 {
				continue // nothing to go back to: leave it
			}
			return Plan{}, nil, err
		}
		if fast {
			sp, notes := rollbackService(name, view, RollbackOptions{Timeout: opts.WaitTimeout, Monitor: opts.Policy(svc).Monitor}, obs.Proxy)
			plan.Services = append(plan.Services, sp)
			plan.Notes = append(plan.Notes, notes...)
			continue
		}
		if !imagePresent(obs.Images, rec.ImageID) {
			if rec.Digest == "" {
				return Plan{}, nil, fmt.Errorf("service %q: revision %d ran image %s (%s), which is no longer on the engine and has no repo digest to pull it by; nothing was changed", name, rec.Number, shortID(rec.ImageID), rec.Image)
			}
			if !pulls[rec.Digest] {
				pulls[rec.Digest] = true
				plan.Setup = append(plan.Setup, Step{Target: rec.Digest, Reason: fmt.Sprintf("image of revision %d, by its digest", rec.Number), Action: PullImage{Ref: rec.Digest}})
			}
		}
		made, err := fromRevision(svc, rec)
		if err != nil {
			return Plan{}, nil, err
		}
		steps, _, err := upgradeService(p, made, view, obs, opts.UpgradeOptions, recorded(rec, hist))
		if err != nil {
			return Plan{}, nil, err
		}
		plan.Services = append(plan.Services, ServicePlan{Service: name, Steps: steps})
		plan.Notes = append(plan.Notes, fmt.Sprintf("%s: revision %d made again from its recorded spec and image %s (%s); the containers that served are kept: drover up --rollback %s returns to them, drover up --confirm-upgrade %s drops them", name, rec.Number, shortID(rec.ImageID), rec.Image, name, name))
		recreated = append(recreated, name)
		creating = append(creating, made)
	}
	if len(plan.Services) == 0 {
		return Plan{}, nil, ErrNothingKept
	}
	setup, err := setupSteps(p, obs, creating)
	if err != nil {
		return Plan{}, nil, err
	}
	// The images are the recorded IDs, checked above, not the files' tags.
	for _, s := range setup {
		switch s.Action.(type) {
		case PullImage, BuildImage:
		default:
			plan.Setup = append(plan.Setup, s)
		}
	}
	px, _, err := proxySetup(p, obs, false)
	if err != nil {
		return Plan{}, nil, err
	}
	plan.Setup = append(plan.Setup, px...)
	return plan, recreated, nil
}

// errServing: the revision asked for is the one serving; nothing to do.
var errServing = errors.New("serves already")

// rollbackTarget decides where a service goes back to: to revision want
// (0: the one before the serving one), fast when its containers are kept,
// else rec made again. It refuses a service in the middle of another
// upgrade, a revision that is serving, and one that is not recorded or
// whose spec was not kept.
func rollbackTarget(name string, view ServiceView, hist []history.Revision, want int) (rec history.Revision, fast bool, err error) {
	if view.Revision == 0 {
		return rec, false, fmt.Errorf("service %q: no container: nothing to roll back", name)
	}
	kept := view.KeptRevision()
	if want == 0 && kept > 0 || want > 0 && want == kept {
		return rec, true, nil
	}
	switch view.State {
	case Upgrading, UpgradeFailed:
		// An interrupted rollback to want goes on; anything else must be
		// finished or undone first.
		if want == 0 || view.Current[0].Labels[LabelRollbackOf] != fmt.Sprint(want) {
			return rec, false, fmt.Errorf("service %q: an upgrade to revision %d is under way; finish it (drover up --upgrade %s) or undo it (drover up --rollback %s) first", name, view.Revision, name, name)
		}
	}
	if want == 0 {
		for _, r := range hist {
			if r.Number < view.Revision {
				want = r.Number
				break
			}
		}
		if want == 0 {
			return rec, false, fmt.Errorf("service %q: %w, and revision %d is the first one recorded", name, ErrNothingKept, view.Revision)
		}
	}
	settled := view.State == Active || view.State == Upgraded
	if settled && (want == view.Revision || view.Current[0].Labels[LabelRollbackOf] == fmt.Sprint(want)) {
		as := ""
		if want != view.Revision {
			as = fmt.Sprintf(" (as revision %d)", view.Revision)
		}
		return rec, false, fmt.Errorf("%s: revision %d %w%s; nothing to do", name, want, errServing, as)
	}
	rec, ok := history.Find(hist, want)
	if !ok && settled {
		var have []string
		for _, r := range hist {
			have = append(have, fmt.Sprint(r.Number))
		}
		return rec, false, fmt.Errorf("service %q: revision %d is not in its history (it records %s; see drover history %s)", name, want, strings.Join(have, ", "), name)
	}
	if !ok {
		// Going on with an interrupted rollback whose source has left the
		// history: the new revision's own record is the same spec.
		rec = ownRevision(view.Current[0], nil)
		rec.Number = want
	}
	if rec.Spec == nil || rec.ImageID == "" {
		return rec, false, fmt.Errorf("service %q: revision %d: its spec or image ID was not recorded (dropped to keep the history label small, or made by another tool); it cannot be made again", name, want)
	}
	return rec, false, nil
}

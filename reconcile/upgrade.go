package reconcile

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/drover/drover/compose"
)

// Actions that upgrades and rollbacks add.
type (
	RenameContainer struct {
		Ref  string
		Name string
	}
	// Sleep is the interval between batches.
	Sleep struct{ Duration time.Duration }
	// Batch marks the start of a batch (its step's reason says which); it
	// makes no engine call, so that progress and dry runs show the batches.
	Batch struct{}
)

func (RenameContainer) Kind() string { return "rename" }
func (Sleep) Kind() string           { return "wait-interval" }
func (Batch) Kind() string           { return "batch" }

// UpgradeOptions are the command-line choices of up --upgrade.
type UpgradeOptions struct {
	Options
	// Force upgrades these services even when in sync; "*" for all.
	Force []string
	// BatchSize, Interval and HealthTimeout override every service's
	// policy when set.
	BatchSize     int
	Interval      *time.Duration
	HealthTimeout time.Duration
}

func (o UpgradeOptions) forced(service string) bool {
	for _, f := range o.Force {
		if f == "*" || f == service {
			return true
		}
	}
	return false
}

// Policy returns a service's policy with the command line's overrides.
func (o UpgradeOptions) Policy(svc compose.Service) compose.Policy {
	p := svc.Policy
	if o.BatchSize > 0 {
		p.BatchSize = o.BatchSize
	}
	if o.Interval != nil {
		p.Interval = *o.Interval
	}
	if o.HealthTimeout > 0 {
		p.HealthTimeout = o.HealthTimeout
	}
	return p
}

// Upgrade plans up --upgrade: services out of sync (or forced, or with an
// upgrade under way) are upgraded in batches; the others converge as in a
// plain up. A service still upgraded from an earlier run has that upgrade
// confirmed first when it needs a new one.
func Upgrade(p *compose.Project, obs Observed, opts UpgradeOptions) (Plan, error) {
	plan, err := Up(p, obs, opts.Options)
	if err != nil {
		return Plan{}, err
	}
	for i, sp := range plan.Services {
		svc, _ := p.Service(sp.Service)
		if n, ok := opts.Scale[svc.Name]; ok {
			svc.Scale = n
		}
		view := viewOf(obs.Containers, svc.Name, svc.Scale)
		if view.Revision == 0 {
			continue // nothing runs: the plain up creates it
		}
		drift := outOfSync(p, svc, view.Current, obs.Images)
		if drift == "" && view.State != Upgrading && !opts.forced(svc.Name) {
			continue
		}
		steps, err := upgradeService(p, svc, view, obs, opts)
		if err != nil {
			return Plan{}, err
		}
		plan.Services[i].Steps = steps
		plan.Services[i].Notes = nil
	}
	// The setup of the plain up only covered services it would create.
	setup, err := setupSteps(p, obs, upgrading(p, plan))
	if err != nil {
		return Plan{}, err
	}
	plan.Setup = setup
	return plan, nil
}

func upgrading(p *compose.Project, plan Plan) []compose.Service {
	var out []compose.Service
	for _, sp := range plan.Services {
		if createsContainers(sp) {
			svc, _ := p.Service(sp.Service)
			out = append(out, svc)
		}
	}
	return out
}

// upgradeService plans the upgrade of one service to the files' config. It
// works slot by slot from what exists, so that it also finishes an upgrade
// that was interrupted at any point.
func upgradeService(p *compose.Project, svc compose.Service, view ServiceView, obs Observed, opts UpgradeOptions) ([]Step, error) {
	policy := opts.Policy(svc)
	if policy.StartFirst {
		for _, port := range svc.Config.Ports {
			if port.Published != "" {
				return nil, fmt.Errorf("service %q: a start-first upgrade runs the old and the new container side by side, and both cannot publish host port %s; use stop-first (upgrade_strategy.start_first: false) or drop the host port", svc.Name, port.Published)
			}
		}
	}
	var steps []Step
	old, target := view.Current, view.Revision+1
	switch view.State {
	case Upgrading:
		if view.Current[0].Hash != svc.Hash {
			return nil, fmt.Errorf("service %q: an upgrade to revision %d is under way, and the files have changed since; finish it with the files it started from, or roll it back (drover up --rollback %s) and upgrade again", svc.Name, view.Revision, svc.Name)
		}
		old, target = view.Kept, view.Revision
	case Upgraded:
		// Confirm the pending upgrade: its kept containers go, the
		// current ones become the old revision.
		for _, c := range view.Kept {
			steps = append(steps, Step{Target: c.Target(), Reason: fmt.Sprintf("confirm revision %d", view.Revision), Action: RemoveContainer{Ref: c.ID, Volumes: true}})
		}
	}
	var news []Container
	if target == view.Revision {
		news = view.Current
	}
	slots, err := upgradeSlots(p, svc, old, news, target, obs.APIVersion)
	if err != nil {
		return nil, err
	}
	var pending []slot
	for _, s := range slots {
		if !s.done() {
			pending = append(pending, s)
		}
	}
	batches := Batches(len(pending), policy.BatchSize)
	for i, b := range batches {
		if i > 0 && policy.Interval > 0 {
			steps = append(steps, Step{Target: svc.Name, Reason: policy.Interval.String(), Action: Sleep{Duration: policy.Interval}})
		}
		steps = append(steps, batchSteps(svc, policy, pending[b.From:b.To], i+1, len(batches), target)...)
	}
	// Old containers beyond the scale are stopped and kept with the rest;
	// new ones beyond it (a scale that went down mid-upgrade) are removed.
	for _, c := range old {
		if c.Number > svc.Scale && c.Running() {
			steps = append(steps, Step{Target: c.Target(), Reason: "keep for rollback", Action: StopContainer{Ref: c.ID, Timeout: stopTimeout(svc)}})
		}
	}
	for _, c := range news {
		if c.Number > svc.Scale {
			steps = append(steps, removeSteps(c, fmt.Sprintf("surplus: scale %d", svc.Scale), stopTimeout(svc))...)
		}
	}
	return steps, nil
}

// slot is one container number of a service during an upgrade: the old
// container (if any) and the new one (if already made, or to be made).
type slot struct {
	number  int
	old     *Container
	new     *Container     // exists already
	request *CreateRequest // the new container to create when new is nil
	runOnce bool           // io.rancher.container.start_once: exit 0 is done
}

// done: the new container runs (or, run once, has completed) and the old
// one does not run.
func (s slot) done() bool {
	up := s.new != nil && (s.new.Running() || s.runOnce && s.new.Completed())
	return up && (s.old == nil || !s.old.Running())
}

func upgradeSlots(p *compose.Project, svc compose.Service, old, news []Container, target int, apiVersion string) ([]slot, error) {
	var slots []slot
	for n := 1; n <= svc.Scale; n++ {
		s := slot{number: n, old: byNumber(old, n), new: byNumber(news, n), runOnce: svc.StartOnce()}
		if s.new == nil {
			req, _, err := newCreateRequest(specInput{project: p, service: svc, number: n, revision: target, apiVersion: apiVersion})
			if err != nil {
				return nil, err
			}
			s.request = &req
		}
		slots = append(slots, s)
	}
	return slots, nil
}

func byNumber(cs []Container, n int) *Container {
	for i := range cs {
		if cs[i].Number == n {
			return &cs[i]
		}
	}
	return nil
}

// batchSteps are the steps of one batch. Start-first: each new container is
// created and started beside the old one, the batch waits until all are
// healthy, then the old ones stop. Stop-first: the old ones stop first. The
// old containers are renamed out of the way and kept, never removed.
func batchSteps(svc compose.Service, policy compose.Policy, slots []slot, index, total, revision int) []Step {
	var names []string
	for _, s := range slots {
		names = append(names, fmt.Sprintf("%s#%d", svc.Name, s.number))
	}
	steps := []Step{{Target: svc.Name, Reason: fmt.Sprintf("%d/%d: %s", index, total, strings.Join(names, ", ")), Action: Batch{}}}
	var before, after [][]Step
	var waitRefs []string
	for i, s := range slots {
		var lane []Step
		if s.old != nil && s.old.Running() && !policy.StartFirst {
			lane = append(lane, Step{Target: names[i], Reason: "stop-first", Action: StopContainer{Ref: s.old.ID, Timeout: stopTimeout(svc)}})
		}
		switch {
		case s.new == nil:
			if s.old != nil && s.old.Name == s.request.Name {
				lane = append(lane, Step{Target: names[i], Reason: "keep for rollback", Action: RenameContainer{Ref: s.old.ID, Name: KeptName(s.old.Name, s.old.Revision)}})
			}
			lane = append(lane, Step{Target: names[i], Reason: fmt.Sprintf("revision %d", revision), Action: CreateContainer{Request: *s.request}},
				Step{Target: names[i], Action: StartContainer{Ref: s.request.Name}})
			waitRefs = append(waitRefs, s.request.Name)
		case !s.new.Running():
			lane = append(lane, Step{Target: names[i], Reason: "interrupted upgrade", Action: StartContainer{Ref: s.new.ID}})
			waitRefs = append(waitRefs, s.new.ID)
		default:
			waitRefs = append(waitRefs, s.new.ID)
		}
		before = append(before, lane)
		if s.old != nil && s.old.Running() && policy.StartFirst {
			after = append(after, []Step{{Target: names[i], Reason: "keep for rollback", Action: StopContainer{Ref: s.old.ID, Timeout: stopTimeout(svc)}}})
		}
	}
	steps = append(steps, inLanes(svc.Name, before...)...)
	until, monitor := Healthy, policy.Monitor
	if svc.StartOnce() {
		until, monitor = Ready, 0 // a run-once container may finish, with status 0
	}
	steps = append(steps, Step{Target: svc.Name, Reason: "batch " + strconv.Itoa(index), Action: Wait{Refs: waitRefs, Until: until, Timeout: policy.HealthTimeout, Monitor: monitor}})
	return append(steps, inLanes(svc.Name, after...)...)
}

// KeptName is the name a container of an older revision takes, so that its
// slot's name is free for the new revision: web-1 of revision 3 becomes
// web-1-r3.
func KeptName(name string, revision int) string {
	return fmt.Sprintf("%s-r%d", canonicalName(name), revision)
}

// canonicalName strips a kept suffix (-r3) from a container name.
func canonicalName(name string) string {
	i := strings.LastIndex(name, "-r")
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+2:]); err != nil {
		return name
	}
	return name[:i]
}

// BatchRange is a half-open range of slot indexes.
type BatchRange struct{ From, To int }

// Batches splits n slots into batches of size at most size, in order.
// For example 5 slots in batches of 2 give [0,2) [2,4) [4,5): the last batch
// is short rather than one batch being larger than the policy allows.
func Batches(n, size int) []BatchRange {
	if size < 1 {
		size = 1
	}
	var out []BatchRange
	for from := 0; from < n; from += size {
		out = append(out, BatchRange{From: from, To: min(from+size, n)})
	}
	return out
}

package reconcile

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
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
	// SetRestartPolicy changes a container's restart policy (no, always,
	// on-failure:3) in place.
	SetRestartPolicy struct {
		Ref    string
		Policy string
	}
)

func (RenameContainer) Kind() string  { return "rename" }
func (Sleep) Kind() string            { return "wait-interval" }
func (Batch) Kind() string            { return "batch" }
func (SetRestartPolicy) Kind() string { return "set-restart" }

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

// Forced says whether --force-upgrade names the service (or all).
func (o UpgradeOptions) Forced(service string) bool {
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
// upgrade under way or failed) are upgraded in batches; the others converge
// as in a plain up. A service still upgraded from an earlier run has that
// upgrade confirmed first when it needs a new one.
func Upgrade(p *compose.Project, obs Observed, opts UpgradeOptions) (Plan, error) {
	plan, err := Up(p, obs, opts.Options)
	if err != nil {
		return Plan{}, err
	}
	// Services whose containers still publish the ports the files put
	// behind the proxy move now, unless the proxy exists and may not be
	// replaced; those keep their ports and are upgraded as they are.
	moving := movingToProxy(p, obs)
	moves := map[string]bool{}
	for name := range moving {
		if obs.Proxy == nil || opts.RecreateProxy {
			moves[name] = true
		}
	}
	planned := withoutProxy(p, moving)
	groups := byService(obs.Containers)
	final := map[string][]ProxyTableRoute{}
	for i, sp := range plan.Services {
		svc, _ := planned.Service(sp.Service)
		if moves[svc.Name] {
			svc, _ = p.Service(sp.Service)
		}
		if n, ok := opts.Scale[svc.Name]; ok {
			svc.Scale = n
		}
		view := viewOf(groups[svc.Name], svc.Scale)
		if view.Revision == 0 {
			continue // nothing runs: the plain up creates it
		}
		settled := view.State == Active || view.State == Upgraded
		if settled && !moves[svc.Name] && !opts.Forced(svc.Name) && outOfSync(p, svc, view.Current, obs.Images) == "" {
			continue
		}
		hist, _ := ServiceHistory(groups[svc.Name], obs.Images)
		target, src := svc, revisionSource{history: hist}
		if !settled {
			target, src = goingOn(svc, view, obs.Images, hist)
		}
		steps, serving, err := upgradeService(planned, target, view, obs, opts, src, moves[svc.Name])
		if err != nil {
			return Plan{}, err
		}
		plan.Services[i].Steps = steps
		plan.Services[i].Notes = nil
		if moves[svc.Name] {
			final[svc.Name] = serviceRoutes(proxyRoutes(p), svc.Name, serving, nil, false)
		}
	}
	// The setup of the plain up only covered services it would create.
	setup, err := setupSteps(p, obs, upgrading(p, plan))
	if err != nil {
		return Plan{}, err
	}
	if len(moves) == 0 {
		px, _, err := proxySetup(planned, obs, opts.RecreateProxy)
		if err != nil {
			return Plan{}, err
		}
		plan.Setup = append(setup, px...)
		return plan, nil
	}
	// A move: the proxy is made at the end, once the old containers have
	// let the ports go; until then no switch can reach it.
	after := withoutProxy(p, subtract(moving, moves))
	if image := proxyImage(obs); obs.Images[image] == "" {
		setup = append(setup, Step{Target: image, Reason: "the front proxy, from drover's own binary", Action: BuildProxyImage{Tag: image}})
	}
	plan.Setup = setup
	for i, sp := range plan.Services {
		svc, _ := after.Service(sp.Service)
		if fronted(proxyRoutes(after), svc.Name) && !moves[svc.Name] {
			final[svc.Name] = finalRoutes(proxyRoutes(after), sp, groups[svc.Name])
		}
		if obs.Proxy == nil {
			plan.Services[i].Steps = withoutProxySwitches(sp.Steps)
		}
	}
	px, err := proxyAfterMove(after, obs, final)
	if err != nil {
		return Plan{}, err
	}
	plan.Teardown = append(px, plan.Teardown...)
	var names []string
	for name := range moves {
		names = append(names, name)
	}
	sort.Strings(names)
	// The plain up's offer to move them is done with.
	plan.Notes = slices.DeleteFunc(plan.Notes, func(n string) bool {
		return slices.ContainsFunc(names, func(name string) bool { return strings.HasPrefix(n, name+": its containers publish ") })
	})
	plan.Notes = append(plan.Notes, fmt.Sprintf("moving %s behind the front proxy: the ports close once, from the old containers' stop until the proxy starts (about a second)", strings.Join(names, ", ")))
	return plan, nil
}

func subtract(a, b map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range a {
		if !b[k] {
			out[k] = true
		}
	}
	return out
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

// upgradeService plans the upgrade of one service to svc: the files'
// config, or a recorded revision made again (src says which). It works slot
// by slot from what exists, so that it also finishes an upgrade that was
// interrupted at any point, or tries again one that failed.
//
// A move (move true, svc proxied, its containers publishing the ports
// themselves) is planned by moveSteps instead of the batches. serving is
// what the new revision serves with once the steps are done.
func upgradeService(p *compose.Project, svc compose.Service, view ServiceView, obs Observed, opts UpgradeOptions, src revisionSource, move bool) (steps []Step, serving []Container, err error) {
	policy := opts.Policy(svc)
	if policy.StartFirst && !svc.Proxy {
		for _, port := range svc.Config.Ports {
			if port.Published != "" {
				return nil, nil, fmt.Errorf("service %q: a start-first upgrade runs the old and the new container side by side, and both cannot publish host port %s; use stop-first (upgrade_strategy.start_first: false) or drop the host port", svc.Name, port.Published)
			}
		}
	}
	old, target := view.Current, view.Revision+1
	switch view.State {
	case Upgrading, UpgradeFailed:
		if view.Current[0].Hash != svc.Hash {
			return nil, nil, fmt.Errorf("service %q: an upgrade to revision %d is under way, and the files have changed since; finish it with the files it started from, or roll it back (drover up --rollback %s) and upgrade again", svc.Name, view.Revision, svc.Name)
		}
		target = view.Revision
		old = nil
		rev := view.KeptRevision()
		for _, c := range view.Kept {
			if c.Revision == rev {
				old = append(old, c)
				continue
			}
			// Kept from an even older revision: only one way back is kept.
			steps = append(steps, removeSteps(c, fmt.Sprintf("older than revision %d", rev), stopTimeout(svc))...)
		}
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
	slots, err := upgradeSlots(p, svc, src, old, news, target, obs.APIVersion)
	if err != nil {
		return nil, nil, err
	}
	for _, s := range slots {
		if s.new != nil {
			serving = append(serving, *s.new)
		} else {
			serving = append(serving, Container{Name: s.request.Name, Revision: target, State: "running"})
		}
	}
	var pending []slot
	for _, s := range slots {
		if !s.done() {
			pending = append(pending, s)
		}
	}
	probe := probeOf(p, svc, obs)
	var px *proxyPlan
	if routes := proxyRoutes(p); fronted(routes, svc.Name) && !move {
		px = &proxyPlan{ref: proxyRef(p, obs), routes: routes, serving: servingNow(append(append([]Container(nil), view.Current...), view.Kept...)), drain: drainTimeout(svc)}
	}
	batches := Batches(len(pending), policy.BatchSize)
	if move {
		steps, batches = append(steps, moveSteps(svc, policy, pending, target)...), nil
	}
	for i, b := range batches {
		if i > 0 && policy.Interval > 0 {
			steps = append(steps, Step{Target: svc.Name, Reason: policy.Interval.String(), Action: Sleep{Duration: policy.Interval}})
		}
		if px != nil {
			steps = append(steps, proxiedBatchSteps(svc, policy, pending[b.From:b.To], i+1, len(batches), target, px, probe)...)
			continue
		}
		steps = append(steps, batchSteps(svc, policy, pending[b.From:b.To], i+1, len(batches), target, probe)...)
	}
	if px != nil && policy.StartFirst && len(batches) > 0 {
		// The last switch left the old ones listed as draining.
		steps = append(steps, px.switchStep(svc.Name, "drained", px.serving, nil))
	}
	// Old containers beyond the scale are kept with the rest; new ones
	// beyond it (a scale that went down mid-upgrade) are removed.
	for _, c := range old {
		if c.Number > svc.Scale {
			steps = append(steps, keepSteps(svc, c, c.Target())...)
		}
	}
	for _, c := range news {
		if c.Number > svc.Scale {
			steps = append(steps, removeSteps(c, fmt.Sprintf("surplus: scale %d", svc.Scale), stopTimeout(svc))...)
		}
	}
	return steps, serving, nil
}

// slot is one container number of a service during an upgrade: the old
// container (if any) and the new one (if already made, or to be made).
type slot struct {
	number  int
	name    string // the slot's name, which the new container takes once it passes
	old     *Container
	new     *Container     // exists already
	request *CreateRequest // the new container to create when new is nil
	runOnce bool           // io.rancher.container.start_once: exit 0 is done
}

// done: the new container has passed its health gate and runs (or, run
// once, has completed), and the old one is kept: stopped and renamed.
func (s slot) done() bool {
	up := s.new != nil && Passed(*s.new) && (s.new.Running() || s.runOnce && s.new.Completed())
	return up && (s.old == nil || isKept(*s.old))
}

// isKept: stopped and under its kept name, the last of the keep steps.
func isKept(c Container) bool {
	return !c.Running() && c.Name == KeptName(c.Name, c.Revision)
}

// postStart is the post_start hook of the slot's new container, part of
// its health gate: run whenever the container is gated, so that a run
// stopped between its start and its hook runs the hook, and one stopped
// after it runs it again (hooks run at least once).
func (s slot) postStart(target, ref string) []Step {
	if s.new != nil && s.new.Name == s.name {
		return nil // passed: its gate is behind it
	}
	spec := ""
	if s.new != nil {
		spec = s.new.Labels[LabelSpec]
	} else {
		spec = s.request.Config.Labels[LabelSpec]
	}
	return hookStep(target, ref, spec, PostStart, "part of its health gate")
}

// restartPolicy is the policy the new container gets once it passes.
func (s slot) restartPolicy() string {
	if s.new != nil {
		return cmp.Or(s.new.RestartPolicy, "no")
	}
	return cmp.Or(s.request.Config.Labels[LabelRestart], "no")
}

func upgradeSlots(p *compose.Project, svc compose.Service, src revisionSource, old, news []Container, target int, apiVersion string) ([]slot, error) {
	var slots []slot
	for n := 1; n <= svc.Scale; n++ {
		s := slot{number: n, name: ContainerName(p.Name, svc.Config, n), old: byNumber(old, n), new: byNumber(news, n), runOnce: svc.StartOnce()}
		if s.new == nil {
			req, _, err := createRequest(p, svc, src, n, target, apiVersion)
			if err != nil {
				return nil, err
			}
			// The new container is created under its pending name and
			// takes the slot's name once it passes its health gate.
			req.Name = PendingName(req.Name, target)
			// Until it passes, the engine must not restart it: a crash
			// must show as one, and an engine restart must not bring
			// back a container that never passed.
			req.HostConfig.RestartPolicy = ParseRestartPolicy("no")
			if s.old != nil && s.old.RestartPolicy != "" {
				req.Config.Labels[LabelReplacesRestart] = s.old.RestartPolicy
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

// batchSteps are the steps of one batch. Every new container is created
// first, under its pending name, so that from the first change on the
// engine shows that an upgrade began. Start-first: the new containers start
// beside the old ones, the batch waits until all are healthy, then the old
// ones are kept. Stop-first: the old ones are kept first. Kept means: restart
// policy "no" (so that an engine restart does not start it again), stopped,
// renamed out of the slot's name; never removed. Last, each new container
// takes its slot's name: the record that it passed.
func batchSteps(svc compose.Service, policy compose.Policy, slots []slot, index, total, revision int, probe *Probe) []Step {
	var names []string
	for _, s := range slots {
		names = append(names, fmt.Sprintf("%s#%d", svc.Name, s.number))
	}
	steps := []Step{{Target: svc.Name, Reason: fmt.Sprintf("%d/%d: %s", index, total, strings.Join(names, ", ")), Action: Batch{}}}
	var before, after [][]Step
	var waitRefs []string
	for i, s := range slots {
		var lane []Step
		ref := ""
		if s.new == nil {
			lane = append(lane, Step{Target: names[i], Reason: fmt.Sprintf("revision %d", revision), Action: CreateContainer{Request: *s.request}})
			ref = s.request.Name
		} else {
			ref = s.new.ID
		}
		if s.old != nil && !policy.StartFirst {
			lane = append(lane, keepSteps(svc, *s.old, names[i])...)
		}
		if s.new == nil || !s.new.Running() {
			reason := ""
			if s.new != nil {
				reason = "interrupted upgrade"
			}
			lane = append(lane, Step{Target: names[i], Reason: reason, Action: StartContainer{Ref: ref}})
		}
		lane = append(lane, s.postStart(names[i], ref)...)
		waitRefs = append(waitRefs, ref)
		before = append(before, lane)
		var last []Step
		if s.old != nil && policy.StartFirst {
			last = keepSteps(svc, *s.old, names[i])
		}
		if s.new == nil || s.new.Name != s.name {
			if policy := s.restartPolicy(); policy != "no" {
				last = append(last, Step{Target: names[i], Reason: "passed its health gate", Action: SetRestartPolicy{Ref: ref, Policy: policy}})
			}
			last = append(last, Step{Target: names[i], Reason: "passed its health gate", Action: RenameContainer{Ref: ref, Name: s.name}})
		}
		after = append(after, last)
	}
	steps = append(steps, inLanes(svc.Name, before...)...)
	until, monitor := Healthy, policy.Monitor
	if svc.StartOnce() {
		until, monitor = Ready, 0 // a run-once container may finish, with status 0
	}
	steps = append(steps, Step{Target: svc.Name, Reason: "batch " + strconv.Itoa(index), Action: gate(waitRefs, slots, revision, until, policy.HealthTimeout, monitor, probe)})
	return append(steps, inLanes(svc.Name, after...)...)
}

// keepSteps keep an old container for a rollback: restart policy "no" (an
// engine restart would otherwise start it beside the new one), stopped,
// renamed out of its slot's name. A step an interrupted run already did is
// left out; the policy is set again unless the rename, which comes after
// it, shows that it was done.
func keepSteps(svc compose.Service, c Container, target string) []Step {
	if isKept(c) {
		return nil
	}
	kept := KeptName(c.Name, c.Revision)
	var steps []Step
	if c.Name != kept {
		steps = append(steps, Step{Target: target, Reason: "keep for rollback", Action: SetRestartPolicy{Ref: c.ID, Policy: "no"}})
	}
	if c.Running() {
		steps = append(steps, preStop(c, target, "keep for rollback")...)
		steps = append(steps, Step{Target: target, Reason: "keep for rollback", Action: StopContainer{Ref: c.ID, Timeout: stopTimeout(svc)}})
	}
	if c.Name != kept {
		steps = append(steps, Step{Target: target, Reason: "keep for rollback", Action: RenameContainer{Ref: c.ID, Name: kept}})
	}
	return steps
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

// proxyPlan follows, through the batches of an upgrade, what the front
// proxy sends a service's connections to.
type proxyPlan struct {
	ref     string
	routes  []ProxyRoute
	serving []Container
	drain   time.Duration
}

func (px *proxyPlan) switchStep(service, reason string, serving, draining []Container) Step {
	paused := len(serving) == 0
	routes := serviceRoutes(px.routes, service, serving, draining, paused)
	sets := serviceSets(px.routes, service, serving, draining, paused)
	return Step{Target: service, Reason: reason, Action: ProxyApply{Container: px.ref, Routes: routes, Sets: sets, DrainTimeout: px.drain}}
}

func drainTimeout(svc compose.Service) time.Duration {
	if ms := svc.Rancher.DrainTimeoutMs; ms != nil && *ms > 0 {
		return time.Duration(*ms) * time.Millisecond
	}
	return DefaultDrainTimeout
}

// proxiedBatchSteps are the steps of one batch of a service behind the
// front proxy. The proxy takes an old container out of the serving set and
// drains it before it is stopped, and puts a new one in only once it has
// passed its gate. Start-first: the new containers start beside the old
// ones, then one switch serves the new and drains the old. Stop-first: one
// switch drains the old ones first (with no backend left, the proxy holds
// new connections: clients see latency, not errors), then the new ones
// start, pass, and a second switch serves them.
func proxiedBatchSteps(svc compose.Service, policy compose.Policy, slots []slot, index, total, revision int, px *proxyPlan, probe *Probe) []Step {
	var names []string
	for _, s := range slots {
		names = append(names, fmt.Sprintf("%s#%d", svc.Name, s.number))
	}
	steps := []Step{{Target: svc.Name, Reason: fmt.Sprintf("%d/%d: %s", index, total, strings.Join(names, ", ")), Action: Batch{}}}
	var create, begin, finish [][]Step
	var waitRefs []string
	var olds, news []Container
	for i, s := range slots {
		ref := ""
		if s.new == nil {
			create = append(create, []Step{{Target: names[i], Reason: fmt.Sprintf("revision %d", revision), Action: CreateContainer{Request: *s.request}}})
			ref = s.request.Name
			news = append(news, Container{Name: s.request.Name, Revision: revision, State: "running"})
		} else {
			ref = s.new.ID
			news = append(news, *s.new)
		}
		var lane []Step
		if s.old != nil && !policy.StartFirst {
			lane = append(lane, keepSteps(svc, *s.old, names[i])...)
		}
		if s.new == nil || !s.new.Running() {
			lane = append(lane, Step{Target: names[i], Action: StartContainer{Ref: ref}})
		}
		lane = append(lane, s.postStart(names[i], ref)...)
		begin = append(begin, lane)
		waitRefs = append(waitRefs, ref)
		var last []Step
		if s.old != nil && policy.StartFirst {
			last = keepSteps(svc, *s.old, names[i])
		}
		if s.new == nil || s.new.Name != s.name {
			if p := s.restartPolicy(); p != "no" {
				last = append(last, Step{Target: names[i], Reason: "passed its health gate", Action: SetRestartPolicy{Ref: ref, Policy: p}})
			}
			last = append(last, Step{Target: names[i], Reason: "passed its health gate", Action: RenameContainer{Ref: ref, Name: s.name}})
		}
		finish = append(finish, last)
		if s.old != nil {
			olds = append(olds, *s.old)
		}
	}
	rest, out := withoutBackends(px.serving, olds)
	steps = append(steps, inLanes(svc.Name, create...)...)
	if !policy.StartFirst && len(out) > 0 {
		steps = append(steps, px.switchStep(svc.Name, "drain the old ones", rest, out))
	}
	steps = append(steps, inLanes(svc.Name, begin...)...)
	until, monitor := Healthy, policy.Monitor
	if svc.StartOnce() {
		until, monitor = Ready, 0
	}
	steps = append(steps, Step{Target: svc.Name, Reason: "batch " + strconv.Itoa(index), Action: gate(waitRefs, slots, revision, until, policy.HealthTimeout, monitor, probe)})
	px.serving = append(rest, news...)
	if policy.StartFirst {
		steps = append(steps, px.switchStep(svc.Name, "serve the new ones, drain the old ones", px.serving, out))
	} else {
		steps = append(steps, px.switchStep(svc.Name, "serve the new ones", px.serving, nil))
	}
	return append(steps, inLanes(svc.Name, finish...)...)
}

// withoutBackends splits the serving set into what stays and what of gone
// was in it.
func withoutBackends(serving, gone []Container) (rest, out []Container) {
	leaving := map[string]bool{}
	for _, c := range gone {
		leaving[BackendHost(c)] = true
	}
	for _, c := range serving {
		if leaving[BackendHost(c)] {
			out = append(out, c)
		} else {
			rest = append(rest, c)
		}
	}
	return rest, out
}

// gate is the wait of a batch: the containers' own health, and the
// service's health_check through the proxy where it has one (which then
// replaces the blind monitor period).
func gate(refs []string, slots []slot, revision int, until Condition, timeout, monitor time.Duration, probe *Probe) Wait {
	w := Wait{Refs: refs, Until: until, Timeout: timeout, Monitor: monitor}
	if probe == nil {
		return w
	}
	pr := *probe
	pr.Hosts = map[string]string{}
	for i, s := range slots {
		if s.new != nil {
			pr.Hosts[refs[i]] = BackendHost(*s.new)
		} else {
			pr.Hosts[refs[i]] = PendingName(s.name, revision)
		}
	}
	w.Probe, w.Monitor = &pr, 0
	return w
}

// probeOf is the service's rancher-compose health_check as a probe the
// front proxy runs, nil when it has none.
func probeOf(p *compose.Project, svc compose.Service, obs Observed) *Probe {
	hc := svc.Rancher.HealthCheck
	if hc == nil || hc.Port == 0 {
		return nil
	}
	ms := func(v, def int) time.Duration {
		if v <= 0 {
			v = def
		}
		return time.Duration(v) * time.Millisecond
	}
	return &Probe{
		Proxy: proxyRef(p, obs), Port: hc.Port, Request: hc.RequestLine,
		Timeout: ms(hc.ResponseTimeout, 2000), Interval: ms(hc.Interval, 2000),
		Healthy: max(hc.HealthyThreshold, 1), Unhealthy: max(hc.UnhealthyThreshold, 1),
	}
}

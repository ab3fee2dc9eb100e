package reconcile

import (
	"cmp"
	"fmt"
	"maps"
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
	// Services the files take out from behind the proxy leave now, when
	// the proxy serves nothing else or may be replaced (move.go).
	leaving := leavingProxy(p, obs)
	leaves := leavesNow(obs, leaving, opts.RecreateProxy)
	opts.leaves = leaves
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
	planned := stillProxied(withoutProxy(p, moving), subtract(leaving, leaves))
	groups := byService(obs.Containers)
	final := map[string][]ProxyTableRoute{}
	index := map[string]int{}
	for i, sp := range plan.Services {
		index[sp.Service] = i
	}
	for i, sp := range plan.Services {
		svc, _ := p.Service(sp.Service)
		if svc.Primary != "" {
			continue // upgraded with its primary
		}
		unit, upgrade, err := unitMembers(p, planned, svc, groups, obs, opts, moves, leaves)
		if err != nil {
			return Plan{}, err
		}
		if !upgrade {
			continue
		}
		how := stays
		switch {
		case moves[svc.Name]:
			how = movesIn
		case leaves[svc.Name]:
			how = movesOut
		}
		steps, serving, err := upgradeUnit(planned, unit, obs, opts, how)
		if err != nil {
			return Plan{}, err
		}
		plan.Services[i].Steps = steps
		plan.Services[i].Notes = nil
		for _, m := range unit[:len(unit)-1] {
			if j, ok := index[m.svc.Name]; ok {
				plan.Services[j].Steps, plan.Services[j].Left = nil, ""
				plan.Services[j].Notes = []string{fmt.Sprintf("%s: upgraded with %s, its primary, in the same batches", m.svc.Name, svc.Name)}
			}
		}
		if moves[svc.Name] {
			final[svc.Name] = serviceRoutes(proxyRoutes(p), svc.Name, serving, nil, false)
		}
	}
	// The setup of the plain up only covered services it would create.
	setup, err := setupSteps(p, obs, upgrading(p, plan))
	if err != nil {
		return Plan{}, err
	}
	if len(leaves) > 0 {
		what := "replacement"
		if !planned.NeedsProxy() {
			what = "removal"
		}
		plan.Notes = append(plan.Notes, fmt.Sprintf("taking %s out from behind the front proxy: the ports close once, from the proxy's %s until the new containers start (about a second)", strings.Join(slices.Sorted(maps.Keys(leaves)), ", "), what))
	}
	if len(moves) == 0 {
		px, _, err := proxySetup(planned, obs, opts.RecreateProxy || len(leaves) > 0)
		if err != nil {
			return Plan{}, err
		}
		plan.Setup = append(append(setup, proxyLeft(planned, obs, leaves)...), px...)
		return plan, nil
	}
	if len(leaves) > 0 {
		return Plan{}, fmt.Errorf("this run would move %s behind the front proxy and take %s out from behind it: do one, then the other (set x-drover: {proxy: ...} on one side as it is now)", strings.Join(slices.Sorted(maps.Keys(moves)), ", "), strings.Join(slices.Sorted(maps.Keys(leaves)), ", "))
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

// unitMembers returns a service's unit as members of an upgrade, its
// sidekicks first and the service last, and whether the unit is upgraded:
// when one member is out of sync, forced, upgrading or failed, all are, as
// Rancher upgraded a service with its sidekicks. A unit of which nothing
// runs is left to the plain up, which creates it.
//
// planned is the project as the plan has it (services moving behind the
// proxy as they are until then); those in moves are taken from p.
func unitMembers(p, planned *compose.Project, svc compose.Service, groups map[string][]Container, obs Observed, opts UpgradeOptions, moves, leaves map[string]bool) ([]member, bool, error) {
	names := p.Unit(svc.Name)
	names = append(names[1:], names[0])
	var unit []member
	upgrade, running := false, false
	for _, name := range names {
		s, _ := planned.Service(name)
		if moves[name] {
			s, _ = p.Service(name)
		}
		scale, err := scaleOf(p, s, opts.Scale)
		if err != nil {
			return nil, false, err
		}
		s.Scale = scale
		view := viewOf(groups[name], s.Scale)
		if view.Revision == 0 {
			unit = append(unit, member{svc: s, view: view, target: 1})
			continue
		}
		running = true
		settled := view.State == Active || view.State == Upgraded
		if !settled || moves[name] || leaves[name] || opts.Forced(name) || outOfSync(p, s, view.Current, obs.Images) != "" {
			upgrade = true
		}
		hist, _ := ServiceHistory(groups[name], obs.Images)
		target, src := s, revisionSource{history: hist}
		if !settled {
			target, src = goingOn(s, view, obs.Images, hist)
		}
		m, err := memberOf(target, view, src)
		if err != nil {
			return nil, false, err
		}
		unit = append(unit, m)
	}
	return unit, upgrade && running, nil
}

// scaleOf is a service's scale with the command line's override: a
// sidekick follows its primary's, and cannot be scaled on its own.
func scaleOf(p *compose.Project, svc compose.Service, overrides map[string]int) (int, error) {
	if _, ok := overrides[svc.Name]; ok && svc.Primary != "" {
		return 0, fmt.Errorf("service %q is a sidekick of %q and runs at its scale: scale %s instead", svc.Name, svc.Primary, svc.Primary)
	}
	name := cmp.Or(svc.Primary, svc.Name)
	if n, ok := overrides[name]; ok {
		return n, nil
	}
	return svc.Scale, nil
}

// upgrading is the services the plan creates containers of: a primary's
// steps create its sidekicks' too.
func upgrading(p *compose.Project, plan Plan) []compose.Service {
	var out []compose.Service
	seen := map[string]bool{}
	for _, sp := range plan.Services {
		if !createsContainers(sp) {
			continue
		}
		for _, name := range p.Unit(sp.Service) {
			if svc, ok := p.Service(name); ok && !seen[name] {
				seen[name] = true
				out = append(out, svc)
			}
		}
	}
	return out
}

// member is one service of a unit being upgraded: the containers it goes
// from (old), those of the target revision that exist already (news), and
// the steps that come before its batches.
type member struct {
	svc    compose.Service
	src    revisionSource // where its new containers come from
	view   ServiceView
	old    []Container
	news   []Container
	target int
	before []Step
}

// memberOf decides, from a service's state, what its upgrade starts from:
// a new upgrade (old: the current revision), or one under way or failed
// (old: the kept revision, the target the current one).
func memberOf(svc compose.Service, view ServiceView, src revisionSource) (member, error) {
	m := member{svc: svc, src: src, view: view, old: view.Current, target: view.Revision + 1}
	switch view.State {
	case Upgrading, UpgradeFailed:
		if view.Current[0].Hash != svc.Hash {
			return m, fmt.Errorf("service %q: an upgrade to revision %d is under way, and the files have changed since; finish it with the files it started from, or roll it back (drover up --rollback %s) and upgrade again", svc.Name, view.Revision, svc.Name)
		}
		m.target, m.old = view.Revision, nil
		rev := view.KeptRevision()
		for _, c := range view.Kept {
			if c.Revision == rev {
				m.old = append(m.old, c)
				continue
			}
			// Kept from an even older revision: only one way back is kept.
			m.before = append(m.before, removeSteps(c, fmt.Sprintf("older than revision %d", rev), stopTimeout(svc))...)
		}
	case Upgraded:
		// Confirm the pending upgrade: its kept containers go, the
		// current ones become the old revision.
		for _, c := range view.Kept {
			m.before = append(m.before, Step{Target: c.Target(), Reason: fmt.Sprintf("confirm revision %d", view.Revision), Action: RemoveContainer{Ref: c.ID, Volumes: true}})
		}
	}
	if m.target == view.Revision {
		m.news = view.Current
	}
	return m, nil
}

// upgradeService plans the upgrade of one service, without its sidekicks,
// to svc: the files' config, or a recorded revision made again (src says
// which).
func upgradeService(p *compose.Project, svc compose.Service, view ServiceView, obs Observed, opts UpgradeOptions, src revisionSource) ([]Step, []Container, error) {
	m, err := memberOf(svc, view, src)
	if err != nil {
		return nil, nil, err
	}
	return upgradeUnit(p, []member{m}, obs, opts, stays)
}

// upgradeUnit plans the upgrade of a service and its sidekicks (its unit;
// just the service when it has none) to the files' config. It works slot
// by slot from what exists, so that it also finishes an upgrade that was
// interrupted at any point, or tries again one that failed. The members of
// one slot number go in the same batch, in one lane: sidekicks are created
// and started before their primary (which may take their volumes), and
// stopped after it.
//
// A move (move true, the primary proxied, its containers publishing the
// ports themselves) is planned by moveSteps instead of the batches. serving
// is what the primary's new revision serves with once the steps are done.
// proxyMove says whether an upgrade also moves its service behind the front
// proxy or out from behind it (move.go).
type proxyMove int

const (
	stays proxyMove = iota
	movesIn
	movesOut
)

func upgradeUnit(p *compose.Project, unit []member, obs Observed, opts UpgradeOptions, how proxyMove) (steps []Step, serving []Container, err error) {
	primary := unit[len(unit)-1].svc
	policy := opts.Policy(primary)
	if how == movesOut {
		// The new containers need the ports the old ones were served on.
		policy.StartFirst = false
	}
	for _, m := range unit {
		if policy.StartFirst && !m.svc.Proxy {
			for _, port := range m.svc.Config.Ports {
				if port.Published != "" {
					return nil, nil, fmt.Errorf("service %q: a start-first upgrade runs the old and the new container side by side, and both cannot publish host port %s; use stop-first (upgrade_strategy.start_first: false) or drop the host port", m.svc.Name, port.Published)
				}
			}
		}
		steps = append(steps, m.before...)
	}
	slots, err := unitSlots(p, unit, obs.APIVersion)
	if err != nil {
		return nil, nil, err
	}
	for _, u := range slots {
		s := u[len(u)-1]
		if s.new != nil {
			serving = append(serving, *s.new)
		} else {
			serving = append(serving, Container{Name: s.request.Name, Revision: s.revision, State: "running"})
		}
	}
	var pending [][]slot
	for _, u := range slots {
		for _, s := range u {
			if !s.done() {
				pending = append(pending, u)
				break
			}
		}
	}
	probe := probeOf(p, primary, obs)
	var px *proxyPlan
	if routes := proxyRoutes(p); fronted(routes, primary.Name) && how != movesIn {
		view := unit[len(unit)-1].view
		px = &proxyPlan{ref: proxyRef(p, obs), routes: routes, serving: servingNow(append(append([]Container(nil), view.Current...), view.Kept...)), drain: drainTimeout(primary)}
	}
	batches := Batches(len(pending), policy.BatchSize)
	if how == movesIn {
		steps, batches = append(steps, moveSteps(primary, policy, pending)...), nil
	}
	for i, b := range batches {
		if i > 0 && policy.Interval > 0 {
			steps = append(steps, Step{Target: primary.Name, Reason: policy.Interval.String(), Action: Sleep{Duration: policy.Interval}})
		}
		if px != nil {
			steps = append(steps, proxiedBatchSteps(primary, policy, pending[b.From:b.To], i+1, len(batches), px, probe)...)
			continue
		}
		steps = append(steps, batchSteps(primary.Name, policy, pending[b.From:b.To], i+1, len(batches), probe)...)
	}
	drainedSurplus := false
	if px != nil {
		// Old containers beyond the scale still serve: drain them before
		// they are kept (stopped).
		var beyond []Container
		for _, c := range unit[len(unit)-1].old {
			if c.Number > primary.Scale {
				beyond = append(beyond, c)
			}
		}
		if rest, out := withoutBackends(px.serving, beyond); len(out) > 0 {
			px.serving = rest
			steps = append(steps, px.switchStep(primary.Name, "drain the surplus", rest, out))
			drainedSurplus = true
		}
	}
	if px != nil && (policy.StartFirst && len(batches) > 0 || drainedSurplus) {
		// The last switch left the old ones listed as draining.
		steps = append(steps, px.switchStep(primary.Name, "drained", px.serving, nil))
	}
	// Old containers beyond the scale are kept with the rest; new ones
	// beyond it (a scale that went down mid-upgrade) are removed.
	for _, m := range unit {
		for _, c := range m.old {
			if c.Number > m.svc.Scale {
				steps = append(steps, keepSteps(m.svc, c, c.Target())...)
			}
		}
		for _, c := range m.news {
			if c.Number > m.svc.Scale {
				steps = append(steps, removeSteps(c, fmt.Sprintf("surplus: scale %d", m.svc.Scale), stopTimeout(m.svc))...)
			}
		}
	}
	return steps, serving, nil
}

// slot is one container number of a service during an upgrade: the old
// container (if any) and the new one (if already made, or to be made).
type slot struct {
	svc      compose.Service
	number   int
	name     string // the slot's name, which the new container takes once it passes
	revision int    // the new container's
	old      *Container
	new      *Container     // exists already
	request  *CreateRequest // the new container to create when new is nil
	runOnce  bool           // io.rancher.container.start_once: exit 0 is done
}

// target names the slot the way drover prints it: web#2.
func (s slot) target() string { return fmt.Sprintf("%s#%d", s.svc.Name, s.number) }

// ref is how later steps name the new container.
func (s slot) ref() string {
	if s.new != nil {
		return s.new.ID
	}
	return s.request.Name
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

// unitSlots returns, per slot number, the slots of the unit's members in
// the members' order. A member's new container takes its volumes and
// namespaces from the new containers of the members before it in the same
// slot (a primary from its new sidekicks), not from the old ones that the
// slot's names still stand for.
func unitSlots(p *compose.Project, unit []member, apiVersion string) ([][]slot, error) {
	scale := unit[len(unit)-1].svc.Scale
	out := make([][]slot, 0, scale)
	for n := 1; n <= scale; n++ {
		var u []slot
		peers := map[string]string{}
		for _, m := range unit {
			s, err := newSlot(p, m, n, peers, apiVersion)
			if err != nil {
				return nil, err
			}
			peers[m.svc.Name] = s.ref()
			u = append(u, s)
		}
		out = append(out, u)
	}
	return out, nil
}

func newSlot(p *compose.Project, m member, n int, peers map[string]string, apiVersion string) (slot, error) {
	svc := m.svc
	s := slot{svc: svc, number: n, name: ContainerName(p.Name, svc.Config, n), revision: m.target, old: byNumber(m.old, n), new: byNumber(m.news, n), runOnce: svc.StartOnce()}
	if s.new != nil {
		return s, nil
	}
	req, _, err := createRequest(specInput{project: p, service: svc, number: n, revision: m.target, apiVersion: apiVersion, peers: maps.Clone(peers)}, m.src)
	if err != nil {
		return s, err
	}
	// The new container is created under its pending name and takes the
	// slot's name once it passes its health gate.
	req.Name = PendingName(req.Name, m.target)
	// Until it passes, the engine must not restart it: a crash must show
	// as one, and an engine restart must not bring back a container that
	// never passed.
	req.HostConfig.RestartPolicy = ParseRestartPolicy("no")
	if s.old != nil && s.old.RestartPolicy != "" {
		req.Config.Labels[LabelReplacesRestart] = s.old.RestartPolicy
	}
	s.request = &req
	return s, nil
}

func byNumber(cs []Container, n int) *Container {
	for i := range cs {
		if cs[i].Number == n {
			return &cs[i]
		}
	}
	return nil
}

// batchHeader is the step that opens a batch, naming its slots.
func batchHeader(service string, units [][]slot, index, total int) Step {
	var names []string
	for _, u := range units {
		for _, s := range u {
			names = append(names, s.target())
		}
	}
	return Step{Target: service, Reason: fmt.Sprintf("%d/%d: %s", index, total, strings.Join(names, ", ")), Action: Batch{}}
}

// createSteps create the new containers of one slot number, in the
// unit's order.
func createSteps(u []slot) []Step {
	var lane []Step
	for _, s := range u {
		if s.new == nil {
			lane = append(lane, Step{Target: s.target(), Reason: fmt.Sprintf("revision %d", s.revision), Action: CreateContainer{Request: *s.request}})
		}
	}
	return lane
}

// keepAll keeps the old containers of one slot number, the unit's primary
// first: the reverse of the order they start in.
func keepAll(u []slot) []Step {
	var lane []Step
	for i := len(u) - 1; i >= 0; i-- {
		if s := u[i]; s.old != nil && !s.done() {
			lane = append(lane, keepSteps(s.svc, *s.old, s.target())...)
		}
	}
	return lane
}

// startSteps start the new containers of one slot number that do not run,
// each followed by its post_start hook.
func startSteps(u []slot) []Step {
	var lane []Step
	for _, s := range u {
		if s.done() {
			continue
		}
		if s.new == nil || !s.new.Running() {
			reason := ""
			if s.new != nil {
				reason = "interrupted upgrade"
			}
			lane = append(lane, Step{Target: s.target(), Reason: reason, Action: StartContainer{Ref: s.ref()}})
		}
		lane = append(lane, s.postStart(s.target(), s.ref())...)
	}
	return lane
}

// passSteps record that the new containers of one slot number passed:
// each gets its own restart policy, then takes its slot's name.
func passSteps(u []slot) []Step {
	var lane []Step
	for _, s := range u {
		if s.new != nil && s.new.Name == s.name {
			continue
		}
		if policy := s.restartPolicy(); policy != "no" {
			lane = append(lane, Step{Target: s.target(), Reason: "passed its health gate", Action: SetRestartPolicy{Ref: s.ref(), Policy: policy}})
		}
		lane = append(lane, Step{Target: s.target(), Reason: "passed its health gate", Action: RenameContainer{Ref: s.ref(), Name: s.name}})
	}
	return lane
}

// gates are the waits of a batch, one per service in it (a sidekick run
// once may finish, with status 0; the others must keep running); the
// primary's gate runs its health_check probe where it has one.
func gates(primary string, policy compose.Policy, units [][]slot, index int, probe *Probe) []Step {
	var order []string
	bySvc := map[string][]slot{}
	for _, u := range units {
		for _, s := range u {
			if s.done() {
				continue
			}
			if _, ok := bySvc[s.svc.Name]; !ok {
				order = append(order, s.svc.Name)
			}
			bySvc[s.svc.Name] = append(bySvc[s.svc.Name], s)
		}
	}
	var steps []Step
	for _, name := range order {
		slots := bySvc[name]
		var refs []string
		for _, s := range slots {
			refs = append(refs, s.ref())
		}
		until, monitor := Healthy, policy.Monitor
		if slots[0].runOnce {
			until, monitor = Ready, 0 // a run-once container may finish, with status 0
		}
		pr := probe
		if name != primary {
			pr = nil
		}
		reason := "batch " + strconv.Itoa(index)
		if name != primary {
			reason += ", sidekick of " + primary
		}
		steps = append(steps, Step{Target: name, Reason: reason, Action: gate(refs, slots, until, policy.HealthTimeout, monitor, pr)})
	}
	return steps
}

// batchSteps are the steps of one batch. Every new container is created
// first, under its pending name, so that from the first change on the
// engine shows that an upgrade began. Start-first: the new containers start
// beside the old ones, the batch waits until all are healthy, then the old
// ones are kept. Stop-first: the old ones are kept first. Kept means: restart
// policy "no" (so that an engine restart does not start it again), stopped,
// renamed out of the slot's name; never removed. Last, each new container
// takes its slot's name: the record that it passed. The members of one
// slot number share a lane.
func batchSteps(primary string, policy compose.Policy, units [][]slot, index, total int, probe *Probe) []Step {
	steps := []Step{batchHeader(primary, units, index, total)}
	var before, after [][]Step
	for _, u := range units {
		lane := createSteps(u)
		if !policy.StartFirst {
			lane = append(lane, keepAll(u)...)
		}
		before = append(before, append(lane, startSteps(u)...))
		var last []Step
		if policy.StartFirst {
			last = keepAll(u)
		}
		after = append(after, append(last, passSteps(u)...))
	}
	steps = append(steps, inLanes(primary, before...)...)
	steps = append(steps, gates(primary, policy, units, index, probe)...)
	return append(steps, inLanes(primary, after...)...)
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
	if len(draining) > 0 {
		// A drain can take its whole timeout (an idle keep-alive client
		// in TCP mode): the plan says how long it may wait.
		reason += fmt.Sprintf(", waiting up to %s for their connections", px.drain)
	}
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
// start, pass, and a second switch serves them. Sidekicks (never proxied)
// go in their primary's lanes.
func proxiedBatchSteps(svc compose.Service, policy compose.Policy, units [][]slot, index, total int, px *proxyPlan, probe *Probe) []Step {
	steps := []Step{batchHeader(svc.Name, units, index, total)}
	var create, begin, finish [][]Step
	var olds, news []Container
	for _, u := range units {
		create = append(create, createSteps(u))
		var lane []Step
		if !policy.StartFirst {
			lane = keepAll(u)
		}
		begin = append(begin, append(lane, startSteps(u)...))
		var last []Step
		if policy.StartFirst {
			last = keepAll(u)
		}
		finish = append(finish, append(last, passSteps(u)...))
		for _, s := range u {
			if s.svc.Name != svc.Name {
				continue
			}
			if s.new == nil {
				news = append(news, Container{Name: s.request.Name, Revision: s.revision, State: "running"})
			} else {
				news = append(news, *s.new)
			}
			if s.old != nil {
				olds = append(olds, *s.old)
			}
		}
	}
	rest, out := withoutBackends(px.serving, olds)
	steps = append(steps, inLanes(svc.Name, create...)...)
	if !policy.StartFirst && len(out) > 0 {
		steps = append(steps, px.switchStep(svc.Name, "drain the old ones", rest, out))
	}
	steps = append(steps, inLanes(svc.Name, begin...)...)
	steps = append(steps, gates(svc.Name, policy, units, index, probe)...)
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

// gate is the wait on the new containers of one service in a batch: their
// own health, and the service's health_check through the proxy where it has
// one (which then replaces the blind monitor period).
func gate(refs []string, slots []slot, until Condition, timeout, monitor time.Duration, probe *Probe) Wait {
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
			pr.Hosts[refs[i]] = PendingName(s.name, s.revision)
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

package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/distribution/reference"

	"github.com/drover/drover/compose"
)

// Options are the command-line choices that shape a plan.
type Options struct {
	// Services limits the plan to these services and what they depend on;
	// empty means all.
	Services []string
	// Scale overrides the scale of some services (drover scale web=3).
	Scale         map[string]int
	RemoveOrphans bool
	// WaitTimeout bounds each wait for containers to be ready.
	WaitTimeout time.Duration
	// RecreateProxy replaces the front proxy when its ports or image are
	// not the ones this run would give it (its ports close meanwhile).
	RecreateProxy bool

	// leaves are the services an up --upgrade takes out from behind the
	// proxy in this run (move.go); a plain up keeps them there.
	leaves map[string]bool
}

// DefaultWaitTimeout is how long up waits for containers to be ready.
const DefaultWaitTimeout = 2 * time.Minute

// Up plans a plain up: create what is missing, start what is stopped, remove
// what is beyond the scale, and report (never touch) what is out of sync or
// in the middle of an upgrade. It is a pure function of its arguments.
func Up(p *compose.Project, obs Observed, opts Options) (Plan, error) {
	selected, err := selection(p, opts.Services)
	if err != nil {
		return Plan{}, err
	}
	if opts.WaitTimeout == 0 {
		opts.WaitTimeout = DefaultWaitTimeout
	}
	for name := range opts.Scale {
		if _, ok := p.Service(name); !ok {
			return Plan{}, fmt.Errorf("no such service: %q", name)
		}
	}
	plan := Plan{Project: p.Name}
	// A service whose containers publish its ports themselves keeps them
	// until up --upgrade moves it behind the proxy (move.go).
	moving := movingToProxy(p, obs)
	for _, svc := range p.Services {
		if moving[svc.Name] && selected[svc.Name] {
			plan.Notes = append(plan.Notes, movingNote(svc, obs.Proxy != nil))
		}
	}
	// One the files take out from behind the proxy stays there until up
	// --upgrade takes it out.
	leaving := leavingProxy(p, obs)
	for _, svc := range p.Services {
		if leaving[svc.Name] && !opts.leaves[svc.Name] && selected[svc.Name] {
			plan.Notes = append(plan.Notes, leavingNote(svc, obs, leaving))
		}
	}
	p = stillProxied(withoutProxy(p, moving), subtract(leaving, opts.leaves))
	px, notes, err := proxySetup(p, obs, opts.RecreateProxy || len(opts.leaves) > 0)
	if err != nil {
		return Plan{}, err
	}
	left := proxyLeft(p, obs, opts.leaves)
	px = append(left, px...)
	plan.Notes = append(plan.Notes, notes...)
	if creates(px) || len(left) > 0 {
		// A new proxy starts with an empty table: every service behind
		// it pushes its routes. A removed one takes none.
		obs.Proxy, obs.ProxyTable = nil, ProxyTable{}
	}
	groups := byService(obs.Containers)
	var creating []compose.Service
	for _, svc := range p.Services {
		if !selected[svc.Name] {
			continue
		}
		if svc.Scale, err = scaleOf(p, svc, opts.Scale); err != nil {
			return Plan{}, err
		}
		if err := checkHostPorts(svc); err != nil {
			if !moving[svc.Name] {
				return Plan{}, err
			}
			// Its containers hold the port until it moves.
			plan.Notes = append(plan.Notes, fmt.Sprintf("%s: scale %d once it is behind the front proxy; until then 1", svc.Name, svc.Scale))
			svc.Scale = 1
		}
		if err := slotConflict(svc.Name, groups[svc.Name]); err != nil {
			return Plan{}, err
		}
		sp, warnings, err := planService(p, svc, viewOf(groups[svc.Name], svc.Scale), obs, opts)
		if err != nil {
			return Plan{}, err
		}
		// Out of step only when the files ask for it in so many words:
		// the proxy by default (a project docker-compose made) is an
		// offer, not a drift, while x-drover: {proxy: false} is an ask.
		if sp.Left == "" && leaving[svc.Name] && !opts.leaves[svc.Name] {
			sp.Left = "behind the front proxy; the files take it out"
		}
		for _, dep := range sortedKeys(svc.Config.DependsOn) {
			if selected[dep] {
				sp.After = append(sp.After, dep)
			}
		}
		// A primary may take its sidekicks' volumes or namespaces
		// (net: container:SIDEKICK, which implies no depends_on).
		for _, sk := range svc.Sidekicks {
			if selected[sk] && !slices.Contains(sp.After, sk) {
				sp.After = append(sp.After, sk)
			}
		}
		plan.Services = append(plan.Services, sp)
		plan.Warnings = append(plan.Warnings, warnings...)
		if createsContainers(sp) {
			creating = append(creating, svc)
		}
	}
	setup, err := setupSteps(p, obs, creating)
	if err != nil {
		return Plan{}, err
	}
	plan.Setup = append(setup, px...)
	orphans := orphansOf(p, obs)
	for _, c := range orphans {
		if opts.RemoveOrphans {
			plan.Teardown = append(plan.Teardown, removeSteps(c, "orphan: service not in the project", nil)...)
		}
	}
	if len(orphans) > 0 && !opts.RemoveOrphans {
		var names []string
		for _, c := range orphans {
			names = append(names, c.Name)
		}
		plan.Notes = append(plan.Notes, fmt.Sprintf("orphan containers (their service is not in the project): %s; run drover up --remove-orphans to remove them", strings.Join(names, ", ")))
	}
	return plan, nil
}

// selection returns the services named and, transitively, what they depend
// on; all services when none is named.
func selection(p *compose.Project, names []string) (map[string]bool, error) {
	sel := map[string]bool{}
	if len(names) == 0 {
		for _, s := range p.Services {
			sel[s.Name] = true
		}
		return sel, nil
	}
	var add func(string) error
	add = func(name string) error {
		if sel[name] {
			return nil
		}
		s, ok := p.Service(name)
		if b, isLB := p.Balancer(name); !ok && isLB {
			// A balancer has no container: up of it is up of its targets
			// (its rules are the proxy's setup).
			for _, t := range b.TargetServices() {
				if err := add(t); err != nil {
					return err
				}
			}
			return nil
		}
		if !ok {
			return fmt.Errorf("no such service: %q", name)
		}
		sel[name] = true
		// A service goes with its unit (its primary and sidekicks).
		for _, member := range p.Unit(name) {
			if err := add(member); err != nil {
				return err
			}
		}
		for dep := range s.Config.DependsOn {
			if _, ok := p.Service(dep); ok {
				if err := add(dep); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, n := range names {
		if err := add(n); err != nil {
			return nil, err
		}
	}
	return sel, nil
}

// planService plans one service of a plain up.
func planService(p *compose.Project, svc compose.Service, view ServiceView, obs Observed, opts Options) (sp ServicePlan, warnings []string, err error) {
	sp.Service = svc.Name
	switch {
	case view.State == Upgrading && onlyGaps(view):
		// Upgraded but for slots without a new container: they are made
		// below, from the revision that serves.
	case view.State == Upgrading:
		sp.Left = "upgrading, not finished"
		sp.Notes = append(sp.Notes, fmt.Sprintf("%s: upgrading to revision %d, not finished; %s", svc.Name, view.Revision, nextStep(svc.Name, view)))
		return sp, nil, nil
	case view.State == UpgradeFailed:
		sp.Left = "upgrade failed"
		sp.Notes = append(sp.Notes, fmt.Sprintf("%s: the upgrade to revision %d failed: %s %s; %s", svc.Name, view.Revision, view.Bad.Name, badReason(*view.Bad), nextStep(svc.Name, view)))
		return sp, nil, nil
	}
	revision := view.Revision
	if revision == 0 {
		revision = 1
	}
	drift := outOfSync(p, svc, view.Current, obs.Images)
	if drift != "" {
		sp.Left = "out of sync (" + drift + ")"
		sp.Notes = append(sp.Notes, fmt.Sprintf("%s: out of sync: %s; run drover up --upgrade", svc.Name, drift))
	}

	made := newSlots(p, svc, view, drift != "" || len(view.Kept) > 0, obs)
	if made.note != "" {
		sp.Notes = append(sp.Notes, made.note)
	}
	bySlot := map[int]Container{}
	var surplus []Container
	for _, c := range view.Current {
		if _, dup := bySlot[c.Number]; dup || c.Number < 1 || c.Number > svc.Scale {
			surplus = append(surplus, c)
			continue
		}
		bySlot[c.Number] = c
	}
	start := svc.Rancher.StartOnCreate == nil || *svc.Rancher.StartOnCreate
	var started []string
	var final []Container // what serves once the plan is carried out, for the proxy
	var lanes [][]Step
	for n := 1; n <= svc.Scale; n++ {
		c, exists := bySlot[n]
		target := fmt.Sprintf("%s#%d", svc.Name, n)
		var lane []Step
		if name := ContainerName(p.Name, svc.Config, n); exists && c.Name != name && canonicalName(c.Name) == name && !nameTaken(obs, name) {
			// An upgrade stopped between renaming the old container and
			// creating its replacement: the slot's name comes back.
			if c.RestartPolicy != "" && c.RestartPolicy != "no" {
				// It may have been a new container that never passed:
				// those run with policy "no" until they do.
				lane = append(lane, Step{Target: target, Reason: "its own restart policy", Action: SetRestartPolicy{Ref: c.ID, Policy: c.RestartPolicy}})
			}
			lane = append(lane, Step{Target: target, Reason: "its slot's name is free", Action: RenameContainer{Ref: c.ID, Name: name}})
		}
		if exists {
			final = append(final, Container{Name: c.Name, Revision: c.Revision, State: "running"})
		}
		switch {
		case exists && !c.Running() && start && !(svc.StartOnce() && c.State == "exited"):
			lane = append(lane, Step{Target: target, Reason: "stopped", Action: StartContainer{Ref: c.ID}})
			lanes = append(lanes, append(lane, postStart(c, target)...))
			started = append(started, c.ID)
		case exists:
			lanes = append(lanes, lane)
		case drift != "" && made.why != "":
			sp.Notes = append(sp.Notes, fmt.Sprintf("%s: not created: the service is out of sync and %s; drover up --upgrade creates it", target, made.why))
		default:
			req, w, err := made.request(n)
			if err != nil {
				return sp, nil, err
			}
			warnings = appendNew(warnings, w...)
			final = append(final, Container{Name: req.Name, Revision: revision, State: "running"})
			lane := []Step{{Target: target, Reason: fmt.Sprintf("missing: scale %d", svc.Scale), Action: CreateContainer{Request: req}}}
			if start {
				lane = append(lane, Step{Target: target, Action: StartContainer{Ref: req.Name}})
				lane = append(lane, hookStep(target, req.Name, req.Config.Labels[LabelSpec], PostStart, "")...)
				started = append(started, req.Name)
			}
			lanes = append(lanes, lane)
		}
	}
	// Surplus goes highest number first, as docker compose scales down.
	sort.Slice(surplus, func(i, j int) bool { return surplus[i].Number > surplus[j].Number })
	routes := proxyRoutes(p)
	var removals [][]Step
	var draining []Container
	for _, c := range surplus {
		removals = append(removals, removeSteps(c, fmt.Sprintf("surplus: scale %d", svc.Scale), stopTimeout(svc)))
		if c.Running() {
			draining = append(draining, c)
		}
	}
	// Behind the proxy, the surplus is drained before it stops: stopped
	// first, its requests in flight would fail. The drain waits for the
	// containers that stay, so the removals wait for the slots' lanes.
	drainFirst := fronted(routes, svc.Name) && start && len(draining) > 0
	if !drainFirst {
		lanes = append(lanes, removals...)
	}
	sp.Steps = inLanes(svc.Name, lanes...)
	if len(started) > 0 {
		sp.Steps = append(dependencyWaits(p, svc, opts.WaitTimeout), sp.Steps...)
		sp.Steps = append(sp.Steps, Step{Target: svc.Name, Action: Wait{Refs: started, Until: Ready, Timeout: opts.WaitTimeout}})
	}
	if drainFirst {
		px := proxyPlan{ref: proxyRef(p, obs), routes: routes, drain: drainTimeout(svc)}
		sp.Steps = append(sp.Steps, px.switchStep(svc.Name, "drain the surplus", final, draining))
		sp.Steps = append(sp.Steps, inLanes(svc.Name, removals...)...)
	}
	if fronted(routes, svc.Name) && start && (len(sp.Steps) > 0 || obs.Proxy == nil || !proxyInSync(obs, routes, svc.Name, final)) {
		sp.Steps = append(sp.Steps, Step{Target: svc.Name, Reason: "its containers serve", Action: ProxyApply{
			Container: proxyRef(p, obs), Routes: serviceRoutes(routes, svc.Name, final, nil, false),
			Sets: serviceSets(routes, svc.Name, final, nil, false), DrainTimeout: DefaultDrainTimeout,
		}})
	}
	return sp, warnings, nil
}

// proxyRef names the project's proxy container for an exec: by name, since
// a run may replace the one it observed.
func proxyRef(p *compose.Project, _ Observed) string {
	return ProxyName(p.Name)
}

func nameTaken(obs Observed, name string) bool {
	for _, c := range obs.Containers {
		if c.Name == name {
			return true
		}
	}
	return false
}

// checkHostPorts refuses a scale above 1 on a service that publishes a
// single fixed host port: the second container could never start, and
// finding out half-way leaves the service half-scaled.
func checkHostPorts(svc compose.Service) error {
	if svc.Scale < 2 || svc.Proxy {
		return nil
	}
	for _, p := range svc.Config.Ports {
		if p.Published != "" && !strings.Contains(p.Published, "-") {
			return fmt.Errorf("service %q: scale %d, but it publishes host port %s: two containers cannot publish the same host port; publish a range (\"8000-8009:80\"), drop the host port, or keep scale 1", svc.Name, svc.Scale, p.Published)
		}
	}
	return nil
}

// dependencyWaits are the gates a service passes before its containers
// start: depends_on conditions beyond service_started.
func dependencyWaits(p *compose.Project, svc compose.Service, timeout time.Duration) []Step {
	var steps []Step
	for _, name := range sortedKeys(svc.Config.DependsOn) {
		dep, ok := p.Service(name)
		if !ok {
			continue
		}
		var until Condition
		switch svc.Config.DependsOn[name].Condition {
		case "service_healthy":
			until = Healthy
		case "service_completed_successfully":
			until = Completed
		default:
			continue
		}
		var refs []string
		for n := 1; n <= dep.Scale; n++ {
			refs = append(refs, ContainerName(p.Name, dep.Config, n))
		}
		steps = append(steps, Step{Target: name, Reason: "depends_on of " + svc.Name, Action: Wait{Refs: refs, Until: until, Timeout: timeout}})
	}
	return steps
}

func removeSteps(c Container, reason string, timeout *time.Duration) []Step {
	target := c.Target()
	if c.Service == "" {
		target = c.Name
	}
	var steps []Step
	if c.Running() {
		steps = append(steps, preStop(c, target, reason)...)
		steps = append(steps, Step{Target: target, Reason: reason, Action: StopContainer{Ref: c.ID, Timeout: timeout}})
	}
	return append(steps, Step{Target: target, Reason: reason, Action: RemoveContainer{Ref: c.ID, Volumes: true}})
}

func stopTimeout(svc compose.Service) *time.Duration {
	if svc.Config.StopGracePeriod == nil {
		return nil
	}
	d := time.Duration(*svc.Config.StopGracePeriod)
	return &d
}

// outOfSync says how the running revision differs from the files, "" when
// it does not. The config hash catches a changed file; the image ID catches
// a tag that now points at another image (a rebuild or a pull).
func outOfSync(p *compose.Project, svc compose.Service, current []Container, images map[string]string) string {
	if len(current) == 0 {
		return ""
	}
	c := current[0]
	if c.Hash != svc.Hash {
		return strings.Join(summaries(specChanges(p, svc, c)), ", ")
	}
	want := images[NormalizeRef(ImageRef(p.Name, svc.Config))]
	if want != "" && c.ImageID != "" && c.ImageID != want {
		return fmt.Sprintf("image %s now points at %s, the containers run %s", ImageRef(p.Name, svc.Config), shortID(want), shortID(c.ImageID))
	}
	return ""
}

// specChanges says, key by key, how a container whose config hash differs
// from the service's was made differently: from its io.drover.spec label,
// or, for a container without one (made by docker compose, whose hash
// drover's never equals), from what its labels and the list call show. One
// function, so that status, up and diff never disagree.
func specChanges(p *compose.Project, svc compose.Service, c Container) []Change {
	if spec, ok := c.Labels[LabelSpec]; ok {
		if d := DiffSpecs([]byte(spec), svc.Spec); len(d) > 0 {
			return d
		}
		return []Change{{Key: "config-hash", Old: shortID(c.Hash), New: shortID(svc.Hash)}}
	}
	made := "another tool"
	if c.Labels[LabelVersion] == "" && c.Labels["com.docker.compose.version"] != "" {
		made = "docker compose " + c.Labels["com.docker.compose.version"]
	}
	changes := []Change{{Key: "made by", Old: made, New: "drover"}, {Key: "config-hash", Old: shortID(c.Hash), New: shortID(svc.Hash)}}
	if want := ImageRef(p.Name, svc.Config); NormalizeRef(c.Image) != NormalizeRef(want) {
		changes = append(changes, Change{Key: "image", Old: c.Image, New: want})
	}
	return changes
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// NormalizeRef gives the familiar form of an image reference with its tag
// (nginx → nginx:latest), the form image lists use.
func NormalizeRef(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}

func createsContainers(sp ServicePlan) bool {
	for _, s := range flatten(sp.Steps) {
		if _, ok := s.Action.(CreateContainer); ok {
			return true
		}
	}
	return false
}

// orphansOf returns the project's containers whose service the files no
// longer define (services disabled by a profile are not orphans).
func orphansOf(p *compose.Project, obs Observed) []Container {
	known := map[string]bool{}
	for name := range p.Compose.Services {
		known[name] = true
	}
	for name := range p.Compose.DisabledServices {
		known[name] = true
	}
	var out []Container
	for _, c := range obs.Containers {
		if !known[c.Service] && c.Labels[LabelOneOff] != "True" {
			out = append(out, c)
		}
	}
	return out
}

func appendNew(list []string, items ...string) []string {
	for _, it := range items {
		dup := false
		for _, l := range list {
			dup = dup || l == it
		}
		if !dup {
			list = append(list, it)
		}
	}
	return list
}

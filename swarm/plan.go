package swarm

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

// Plan is what a command will do to a swarm: setup (networks, secrets,
// configs), then each service's step in dependency order, then teardown.
type Plan struct {
	Setup    []Step
	Services []Step
	Teardown []Step
	Notes    []string
	Warnings []string
	// Left lists the services a plain up left out of sync or between
	// revisions (exit 3), with why.
	Left []string
}

// Step is one engine change, with what it is for.
type Step struct {
	Service string
	Target  string
	Reason  string
	Action  Action
}

// Action is one kind of step; each maps to one engine call (plus, for the
// service calls, the watch of what Swarm does next).
type Action interface{ Kind() string }

type (
	CreateNetwork struct {
		Name   string
		Labels map[string]string
	}
	CreateObject struct {
		Object Object
		Labels map[string]string
	}
	CreateService struct {
		Spec  swarm.ServiceSpec
		Watch Watch
	}
	// UpdateService replaces the spec; Watch follows the rolling update.
	UpdateService struct {
		ID      string
		Version uint64
		Spec    swarm.ServiceSpec
		Watch   Watch
	}
	// RollbackService asks Swarm for its previous spec.
	RollbackService struct {
		ID      string
		Version uint64
		Watch   Watch
	}
	// FollowUpdate watches an update that runs already (a run stopped
	// while Swarm carried on).
	FollowUpdate struct {
		ID    string
		Watch Watch
	}
	RemoveService struct{ ID string }
	RemoveNetwork struct{ Name string }
	RemoveObject  struct{ Type, Name, ID string }
	RemoveVolume  struct{ Name string }
)

func (CreateNetwork) Kind() string   { return "create-network" }
func (a CreateObject) Kind() string  { return "create-" + a.Object.Kind }
func (CreateService) Kind() string   { return "create" }
func (UpdateService) Kind() string   { return "update" }
func (RollbackService) Kind() string { return "rollback" }
func (FollowUpdate) Kind() string    { return "follow-update" }
func (RemoveService) Kind() string   { return "remove" }
func (RemoveNetwork) Kind() string   { return "remove-network" }
func (a RemoveObject) Kind() string  { return "remove-" + a.Type }
func (RemoveVolume) Kind() string    { return "remove-volume" }

// Watch says what a service step waits for once the engine took it: the
// tasks of Revision running (Replicas of them, -1 for one per node), and,
// for an update, a rollback or a change of labels, Swarm's update status
// reaching its end.
type Watch struct {
	Service     string
	Kind        WatchKind
	Revision    int
	Replicas    int
	Parallelism int
	Timeout     time.Duration
	// ConfirmNext says that the same run confirms this update once the
	// plan is applied (up --upgrade --confirm-upgrade): a slot's second
	// task is then the confirm's to end (see onSurplus).
	ConfirmNext bool
}

// WatchKind is what a watched step asked of Swarm, which decides when it is
// done and what is left for a slot's second task.
type WatchKind int

const (
	WatchCreate   WatchKind = iota // a new service: its tasks running
	WatchScale                     // other replicas: the tasks running
	WatchUpdate                    // a new revision: Swarm's rolling update completed
	WatchRollback                  // Swarm's previous spec: rollback_completed
	// WatchLabels: a change of labels only (a confirm, or drover's own
	// for a slot's second task). It starts an update only where a slot
	// runs a second task, which the update then removes.
	WatchLabels
)

func (k WatchKind) String() string {
	return [...]string{"create", "scale", "update", "rollback", "labels"}[k]
}

// update says whether the step is followed through Swarm's update status.
func (k WatchKind) update() bool { return k >= WatchUpdate }

// Empty says whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Setup)+len(p.Services)+len(p.Teardown) == 0
}

// String is the plan a line per step: the dry run, and the form the
// planner's tests compare.
func (p Plan) String() string {
	var b strings.Builder
	for _, group := range [][]Step{p.Setup, p.Services, p.Teardown} {
		for _, s := range group {
			fmt.Fprintf(&b, "%-14s %s", s.Action.Kind(), s.Target)
			if s.Reason != "" {
				fmt.Fprintf(&b, " (%s)", s.Reason)
			}
			b.WriteString("\n")
		}
	}
	return b.String()
}

// ErrNothingKept: no service has a previous spec to roll back to.
var ErrNothingKept = errors.New("nothing to roll back to")

// Check maps every service of the project before anything changes, so
// that a file a swarm cannot honour is refused whole.
func Check(p *compose.Project) error {
	for _, b := range p.Balancers {
		return fmt.Errorf("service %q: a load balancer is served by drover's front proxy on one engine, which a swarm does not run: publish the backends' ports (Swarm's routing mesh balances them), or run with --engine docker", b.Name)
	}
	for _, s := range p.Services {
		if _, err := ServiceSpec(p, s, Target{Revision: 1}); err != nil {
			return err
		}
	}
	_, err := objects(p)
	return err
}

// Up plans a plain up: create what is missing (networks, secrets, configs,
// services), scale what runs at another scale, and report, never apply,
// what differs from the files or is between revisions.
func Up(p *compose.Project, obs Observed, opts reconcile.Options) (Plan, error) {
	plan, err := setup(p, obs, opts.Services)
	if err != nil {
		return Plan{}, err
	}
	for _, s := range selected(p, opts.Services) {
		o, exists := obs.Services[s.Name]
		if !exists {
			step, err := create(p, s, obs, opts.WaitTimeout)
			if err != nil {
				return Plan{}, err
			}
			plan.Services = append(plan.Services, step)
			continue
		}
		state := StateOf(o)
		if state != reconcile.Active {
			plan.Left = append(plan.Left, fmt.Sprintf("%s is %s; next: %s", s.Name, state, nextStep(s.Name, state)))
			continue
		}
		if d := Drift(s, o, obs.ImageID(s.Config.Image)); d != "" {
			plan.Left = append(plan.Left, fmt.Sprintf("%s is out of sync (%s); next: drover --engine swarm up --upgrade %s", s.Name, d, s.Name))
			continue
		}
		if want := scaleOf(s); want != o.Replicas() {
			plan.Services = append(plan.Services, scale(s, o, want, opts.WaitTimeout))
		}
	}
	plan.Warnings = append(plan.Warnings, imageWarnings(p, obs, opts.Services)...)
	return plan, nil
}

// Upgrade plans up --upgrade: a service out of sync (or forced) gets the
// files' spec as a new revision, which Swarm rolls out in batches of its
// update_config; an update under way is followed; missing services are
// created and others scaled as in a plain up. A service still upgraded
// (not confirmed) loses its rollback to the new update: Swarm keeps one
// previous spec, so that is an implicit confirm, said in a note.
func Upgrade(p *compose.Project, obs Observed, opts reconcile.UpgradeOptions) (Plan, error) {
	plan, err := setup(p, obs, opts.Services)
	if err != nil {
		return Plan{}, err
	}
	for _, s := range selected(p, opts.Services) {
		o, exists := obs.Services[s.Name]
		if !exists {
			step, err := create(p, s, obs, opts.WaitTimeout)
			if err != nil {
				return Plan{}, err
			}
			plan.Services = append(plan.Services, step)
			continue
		}
		pol := opts.Policy(s)
		s.Policy = pol
		drift := Drift(s, o, obs.ImageID(s.Config.Image))
		state := StateOf(o)
		switch {
		case state == reconcile.Upgrading && drift == "":
			plan.Services = append(plan.Services, Step{Service: s.Name, Target: s.Name, Reason: "an update is under way: following it",
				Action: FollowUpdate{ID: o.ID, Watch: updateWatch(s, o.Revision, pol, opts.WaitTimeout, o.Update.State == swarm.UpdateStateRollbackStarted)}})
		case state == reconcile.Upgrading:
			return Plan{}, fmt.Errorf("service %q: an update to revision %d is under way and the files differ from it (%s): wait for it (drover --engine swarm status), or roll back first", s.Name, o.Revision, drift)
		case drift != "" || opts.Forced(s.Name) || state == reconcile.UpgradeFailed:
			reason := drift
			if reason == "" {
				reason = "forced"
				if state == reconcile.UpgradeFailed {
					reason = "the last update failed: trying again"
				}
			}
			if state == reconcile.Upgraded {
				plan.Notes = append(plan.Notes, fmt.Sprintf("%s: revision %d was not confirmed; Swarm keeps one previous spec, so after this upgrade a rollback goes back to revision %d, not %d", s.Name, o.Revision, o.Revision, o.PreviousRevision))
			}
			step, err := update(p, s, o, obs, pol, opts.WaitTimeout, reason)
			if err != nil {
				return Plan{}, err
			}
			plan.Services = append(plan.Services, step)
		case state != reconcile.Active:
		case scaleOf(s) != o.Replicas():
			plan.Services = append(plan.Services, scale(s, o, scaleOf(s), opts.WaitTimeout))
		}
	}
	plan.Warnings = append(plan.Warnings, imageWarnings(p, obs, opts.Services)...)
	return plan, nil
}

// Rollback plans up --rollback: Swarm's rollback to each service's
// previous spec. Swarm keeps the previous spec, not the previous
// containers: the old revision comes back as new tasks, in batches of the
// rollback_config. Refused after a confirm, after a rollback (the previous
// spec is then the one rolled back from) and without a previous spec.
func Rollback(obs Observed, services []string, timeout time.Duration) (Plan, error) {
	var plan Plan
	var why []string
	for _, name := range observedNames(obs, services) {
		o := obs.Services[name]
		switch {
		case o.Previous == nil:
			why = append(why, name+": no previous spec (never updated)")
		case o.Confirmed:
			why = append(why, fmt.Sprintf("%s: the upgrade to revision %d was confirmed", name, o.Revision))
		case o.Update != nil && o.Update.State == swarm.UpdateStateRollbackCompleted:
			why = append(why, fmt.Sprintf("%s: already rolled back to revision %d (Swarm's previous spec is now the one rolled back from)", name, o.Revision))
		case o.PreviousRevision >= o.Revision:
			why = append(why, fmt.Sprintf("%s: the previous spec is not an older revision", name))
		default:
			w := Watch{Service: name, Revision: o.PreviousRevision, Replicas: replicasOf(*o.Previous), Parallelism: parallelism(o.Previous.RollbackConfig), Kind: WatchRollback, Timeout: timeout}
			plan.Services = append(plan.Services, Step{Service: name, Target: name,
				Reason: fmt.Sprintf("revision %d -> %d: Swarm's previous spec, run as new tasks", o.Revision, o.PreviousRevision),
				Action: RollbackService{ID: o.ID, Version: o.Version, Watch: w}})
		}
	}
	if len(plan.Services) == 0 {
		return Plan{}, fmt.Errorf("%w: %s", ErrNothingKept, strings.Join(why, "; "))
	}
	if len(services) > 0 && len(why) > 0 {
		return Plan{}, fmt.Errorf("%w: %s", ErrNothingKept, strings.Join(why, "; "))
	}
	plan.Notes = append(plan.Notes, why...)
	return plan, nil
}

// Confirm plans up --confirm-upgrade: the confirmation goes in a label on
// the service, after which a rollback is refused. Only an upgraded service
// may be confirmed, unless forced. The label does not change the tasks'
// spec, but Swarm's updater looks at the service again: where a slot runs
// a second task (a node drained during the update), it starts a short
// update that removes it, and the confirm of an upgraded service watches
// that to its end, within timeout. A forced confirm (upgrading or failed)
// is not watched: there the label change lets Swarm carry on with the
// rest of the update, which is the business of up --upgrade or
// --rollback, not of a confirm.
func Confirm(obs Observed, services []string, force bool, timeout time.Duration) (Plan, error) {
	var plan Plan
	var refusals []string
	for _, name := range observedNames(obs, services) {
		o := obs.Services[name]
		st := StateOf(o)
		if st != reconcile.Upgraded && !(force && st != reconcile.Active) {
			if len(services) > 0 || st != reconcile.Active {
				refusals = append(refusals, fmt.Sprintf("%s is %s", name, st))
			}
			continue
		}
		spec := o.Spec
		spec.Labels = copyLabels(spec.Labels)
		spec.Labels[LabelConfirmed] = strconv.Itoa(o.Revision)
		var w Watch
		if st == reconcile.Upgraded {
			w = Watch{Service: name, Kind: WatchLabels, Revision: o.Revision, Replicas: o.Replicas(), Parallelism: parallelism(o.Spec.UpdateConfig), Timeout: timeout}
		}
		plan.Services = append(plan.Services, Step{Service: name, Target: name, Reason: fmt.Sprintf("confirm revision %d (a label: Swarm keeps the tasks, but for a slot's second task, if any)", o.Revision),
			Action: UpdateService{ID: o.ID, Version: o.Version, Spec: spec, Watch: w}})
	}
	if len(refusals) > 0 {
		return Plan{}, fmt.Errorf("cannot confirm: %s (only an upgraded service is confirmed; --force for one that is upgrading or failed)", strings.Join(refusals, "; "))
	}
	return plan, nil
}

// ThenConfirm is the plan of up --upgrade --confirm-upgrade, whose run
// confirms after it: each update's watch leaves a slot's second task to
// that confirm (see onSurplus). A rollback followed is not confirmed.
func (p Plan) ThenConfirm() Plan {
	steps := make([]Step, len(p.Services))
	for i, s := range p.Services {
		switch a := s.Action.(type) {
		case UpdateService:
			if a.Watch.Kind == WatchUpdate {
				a.Watch.ConfirmNext = true
				s.Action = a
			}
		case FollowUpdate:
			if a.Watch.Kind == WatchUpdate {
				a.Watch.ConfirmNext = true
				s.Action = a
			}
		}
		steps[i] = s
	}
	p.Services = steps
	return p
}

// Down plans down: the project's services, then its networks, secrets and
// configs, and with volumes its named volumes on the manager's node
// (Swarm makes a named volume on each node a task ran on; those on other
// nodes are not reachable from here, which the note says).
func Down(obs Observed, networks, volumes []string, secrets, configs map[string]string, withVolumes bool) Plan {
	var plan Plan
	for _, name := range observedNames(obs, nil) {
		plan.Services = append(plan.Services, Step{Service: name, Target: name, Action: RemoveService{ID: obs.Services[name].ID}})
	}
	for _, n := range networks {
		plan.Teardown = append(plan.Teardown, Step{Target: n, Action: RemoveNetwork{Name: n}})
	}
	for _, kind := range []string{"secret", "config"} {
		objs := secrets
		if kind == "config" {
			objs = configs
		}
		for _, name := range sortedKeys(objs) {
			plan.Teardown = append(plan.Teardown, Step{Target: name, Action: RemoveObject{Type: kind, Name: name, ID: objs[name]}})
		}
	}
	if withVolumes {
		for _, v := range volumes {
			plan.Teardown = append(plan.Teardown, Step{Target: v, Action: RemoveVolume{Name: v}})
		}
		if len(obs.Nodes) > 1 && (len(volumes) > 0 || mountsVolumes(obs)) {
			plan.Notes = append(plan.Notes, "volumes: only the manager's node's are removed; Swarm made the project's named volumes on every node a task ran on")
		}
	}
	return plan
}

// mountsVolumes says whether a service mounts a named volume of the
// project (one Swarm makes, labelled, where a task lands): then other
// nodes may hold the project's volumes even when the manager's holds none.
func mountsVolumes(obs Observed) bool {
	for _, o := range obs.Services {
		if cs := o.Spec.TaskTemplate.ContainerSpec; cs != nil {
			for _, m := range cs.Mounts {
				if m.Type == mount.TypeVolume && m.VolumeOptions != nil && m.VolumeOptions.Labels[LabelNamespace] != "" {
					return true
				}
			}
		}
	}
	return false
}

// setup plans the networks, secrets and configs the selected services use
// that do not exist yet.
func setup(p *compose.Project, obs Observed, services []string) (Plan, error) {
	var plan Plan
	if err := Check(p); err != nil {
		return Plan{}, err
	}
	needNet := map[string]bool{}
	for _, s := range selected(p, services) {
		for _, n := range networks(p, s) {
			needNet[n.Target] = true
		}
	}
	for _, key := range sortedKeys(p.Compose.Networks) {
		n := p.Compose.Networks[key]
		name := NetworkName(p, key)
		if !needNet[name] || obs.Networks[name] {
			continue
		}
		if n.External {
			return Plan{}, fmt.Errorf("network %q is external but does not exist", name)
		}
		if n.Driver != "" && n.Driver != "overlay" {
			return Plan{}, fmt.Errorf("networks.%s: driver %q: a swarm's networks are overlay networks", key, n.Driver)
		}
		labels := map[string]string{LabelNamespace: p.Name, reconcile.LabelProject: p.Name, reconcile.LabelNetwork: key}
		plan.Setup = append(plan.Setup, Step{Target: name, Reason: "attachable overlay", Action: CreateNetwork{Name: name, Labels: labels}})
	}
	if _, ok := p.Compose.Networks["default"]; !ok && needNet[NetworkName(p, "default")] && !obs.Networks[NetworkName(p, "default")] {
		name := NetworkName(p, "default")
		labels := map[string]string{LabelNamespace: p.Name, reconcile.LabelProject: p.Name, reconcile.LabelNetwork: "default"}
		plan.Setup = append(plan.Setup, Step{Target: name, Reason: "attachable overlay", Action: CreateNetwork{Name: name, Labels: labels}})
	}
	objs, err := objects(p)
	if err != nil {
		return Plan{}, err
	}
	for _, o := range objs {
		have := obs.Secrets
		if o.Kind == "config" {
			have = obs.Configs
		}
		if _, ok := have[o.Name]; ok {
			continue
		}
		if o.External {
			return Plan{}, fmt.Errorf("%s %q is external but does not exist", o.Kind, o.Name)
		}
		labels := map[string]string{LabelNamespace: p.Name, reconcile.LabelProject: p.Name}
		plan.Setup = append(plan.Setup, Step{Target: o.Name, Action: CreateObject{Object: o, Labels: labels}})
	}
	return plan, nil
}

func create(p *compose.Project, s compose.Service, obs Observed, timeout time.Duration) (Step, error) {
	spec, err := ServiceSpec(p, s, Target{Revision: 1, ImageID: obs.ImageID(s.Config.Image)})
	if err != nil {
		return Step{}, err
	}
	w := Watch{Service: s.Name, Kind: WatchCreate, Revision: 1, Replicas: replicasOf(spec), Timeout: timeout}
	return Step{Service: s.Name, Target: s.Name, Reason: replicasText(w.Replicas), Action: CreateService{Spec: spec, Watch: w}}, nil
}

func scale(s compose.Service, o Service, want int, timeout time.Duration) Step {
	spec := o.Spec
	n := uint64(want)
	spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
	w := Watch{Service: s.Name, Kind: WatchScale, Revision: o.Revision, Replicas: want, Timeout: timeout}
	return Step{Service: s.Name, Target: s.Name, Reason: fmt.Sprintf("scale %d -> %d", o.Replicas(), want), Action: UpdateService{ID: o.ID, Version: o.Version, Spec: spec, Watch: w}}
}

func update(p *compose.Project, s compose.Service, o Service, obs Observed, pol compose.Policy, timeout time.Duration, reason string) (Step, error) {
	rev := o.Revision + 1
	spec, err := ServiceSpec(p, s, Target{Revision: rev, ImageID: obs.ImageID(s.Config.Image)})
	if err != nil {
		return Step{}, err
	}
	w := updateWatch(s, rev, pol, timeout, false)
	w.Replicas = replicasOf(spec)
	order := "stop-first"
	if pol.StartFirst {
		order = "start-first"
	}
	return Step{Service: s.Name, Target: s.Name,
		Reason: fmt.Sprintf("revision %d -> %d, batches of %d, %s, %s apart: %s", o.Revision, rev, max(pol.BatchSize, 1), order, pol.Interval, reason),
		Action: UpdateService{ID: o.ID, Version: o.Version, Spec: spec, Watch: w}}, nil
}

// updateWatch bounds an update by its batches: each batch may take the
// health timeout plus the monitor period, and the delay between them; the
// wait timeout, when longer, wins.
func updateWatch(s compose.Service, rev int, pol compose.Policy, timeout time.Duration, rollback bool) Watch {
	batches := (max(scaleOf(s), 1) + max(pol.BatchSize, 1) - 1) / max(pol.BatchSize, 1)
	limit := time.Duration(batches) * (pol.HealthTimeout + pol.Monitor + pol.Interval)
	kind := WatchUpdate
	if rollback {
		kind = WatchRollback
	}
	return Watch{Service: s.Name, Kind: kind, Revision: rev, Replicas: scaleOf(s), Parallelism: max(pol.BatchSize, 1), Timeout: max(limit, timeout)}
}

// imageWarnings says when a service's image exists only on the manager's
// node while the swarm has several: the other nodes pull the reference from
// its registry, so the image must have been there (see Observed.Pushed).
// A registry host in the name is no proof of that, nor is docker.io: a tag
// built, loaded or moved here names an image no registry holds.
func imageWarnings(p *compose.Project, obs Observed, services []string) []string {
	if len(obs.Nodes) < 2 {
		return nil
	}
	var out []string
	for _, s := range selected(p, services) {
		if ref := s.Config.Image; obs.ImageID(ref) != "" && !obs.Pushed(ref) {
			out = append(out, localImage(s.Name, ref, len(obs.Nodes)))
		}
	}
	return out
}

// localImage is the warning for a service whose image never was in the
// registry its reference names: push it there when the reference names
// one, else to a registry the nodes reach, under that registry's name.
func localImage(service, ref string, nodes int) string {
	registry, how := "docker.io", fmt.Sprintf("and name it there (registry/%s)", ref)
	if named, err := reference.ParseNormalizedNamed(ref); err == nil {
		registry = reference.Domain(named)
		if namesRegistry(ref) {
			how = "(docker push " + ref + ")"
		}
	}
	return fmt.Sprintf("service %q: image %s exists on this node only, and the swarm has %d nodes: the others cannot pull it; push it to a registry they reach %s: this node has no digest of it from %s, so it was built, loaded or tagged here, never pushed there nor pulled from there",
		service, ref, nodes, how, registry)
}

// namesRegistry says whether a reference names its registry host
// (localhost:5000/x, registry.example/x, docker.io/x) rather than meaning
// docker.io by naming none.
func namesRegistry(ref string) bool {
	first, _, ok := strings.Cut(ref, "/")
	return ok && (strings.ContainsAny(first, ".:") || first == "localhost")
}

func selected(p *compose.Project, services []string) []compose.Service {
	if len(services) == 0 {
		return p.Services
	}
	var out []compose.Service
	for _, s := range p.Services {
		for _, n := range services {
			if s.Name == n {
				out = append(out, s)
			}
		}
	}
	return out
}

func observedNames(obs Observed, services []string) []string {
	if len(services) > 0 {
		return services
	}
	return sortedKeys(obs.Services)
}

// scaleOf is the number of tasks a service asks for: -1 for one per node.
func scaleOf(s compose.Service) int {
	if global(s) {
		return -1
	}
	return s.Scale
}

func replicasOf(spec swarm.ServiceSpec) int {
	if r := spec.Mode.Replicated; r != nil && r.Replicas != nil {
		return int(*r.Replicas)
	}
	return -1
}

func replicasText(n int) string {
	if n < 0 {
		return "global: one task per node"
	}
	return fmt.Sprintf("%d replicas", n)
}

func parallelism(u *swarm.UpdateConfig) int {
	if u == nil || u.Parallelism == 0 {
		return 1
	}
	return int(u.Parallelism)
}

func copyLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l)+1)
	for k, v := range l {
		out[k] = v
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortStrings(s []string) { sort.Strings(s) }

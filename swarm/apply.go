package swarm

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/drover/drover/reconcile"
)

// PollInterval is how often a watch reads the service and its tasks.
const PollInterval = 250 * time.Millisecond

// SurplusGrace is how long a finished update's watch waits for Swarm to
// shut down a slot's second task before it ends with a note instead.
const SurplusGrace = 5 * time.Second

// RemoveTimeout bounds the wait for a removed service's tasks to go.
const RemoveTimeout = 60 * time.Second

// Apply carries out a plan, in order, and reports it in the single
// engine's progress events: a step begun and done, each task of the new
// revision running ("start") and each old one shut down ("stop"), and each
// batch of an update. It decides nothing. env is the environment that
// secrets and configs given by environment: read from. Ctrl-C ends the
// watch at once but never cuts an engine call; Swarm carries an update
// on by itself either way.
func Apply(ctx context.Context, c Cluster, plan Plan, env map[string]string, emit func(reconcile.Event)) error {
	a := &applier{c: c, emit: emit, env: env, poll: PollInterval, grace: SurplusGrace}
	for _, group := range [][]Step{plan.Setup, plan.Services, plan.Teardown} {
		for _, s := range group {
			if err := a.run(ctx, s); err != nil {
				return err
			}
		}
	}
	return nil
}

type applier struct {
	c     Cluster
	emit  func(reconcile.Event)
	env   map[string]string
	poll  time.Duration // PollInterval
	grace time.Duration // SurplusGrace
}

func (a *applier) report(ev reconcile.Event, phase reconcile.Phase, start time.Time, err error) {
	if a.emit == nil {
		return
	}
	ev.Time, ev.Phase = time.Now(), phase
	if phase != reconcile.Begun {
		ev.Duration = time.Since(start)
	}
	if err != nil {
		ev.Phase, ev.Error = reconcile.Failed, err.Error()
	}
	a.emit(ev)
}

func (a *applier) run(ctx context.Context, s Step) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted before %s %s: %w", s.Action.Kind(), s.Target, err)
	}
	ev := reconcile.Event{Service: s.Service, Target: s.Target, Action: s.Action.Kind(), Reason: s.Reason}
	start := time.Now()
	a.report(ev, reconcile.Begun, start, nil)
	id, w, err := a.do(ctx, s.Action)
	a.report(ev, reconcile.Done, start, err)
	if err == nil && w != nil {
		err = a.watch(ctx, id, *w)
	}
	if err != nil {
		if s.Service != "" {
			return &reconcile.ServiceError{Service: s.Service, Err: err}
		}
		return fmt.Errorf("%s %s: %w", s.Action.Kind(), s.Target, err)
	}
	return nil
}

// do makes the action's engine call, with a context Ctrl-C does not
// cancel, and returns the service to watch, if any.
func (a *applier) do(ctx context.Context, act Action) (string, *Watch, error) {
	call := context.WithoutCancel(ctx)
	switch x := act.(type) {
	case CreateNetwork:
		return "", nil, a.c.CreateOverlay(call, x.Name, x.Labels, true)
	case CreateObject:
		data, err := x.Object.Content(a.env)
		if err != nil {
			return "", nil, err
		}
		_, err = a.c.CreateObject(call, x.Object.Kind, x.Object.Name, x.Labels, data)
		return "", nil, err
	case CreateService:
		spec, err := a.resolveRefs(call, x.Spec)
		if err != nil {
			return "", nil, err
		}
		id, err := a.c.CreateService(call, spec)
		return id, &x.Watch, err
	case UpdateService:
		spec, err := a.resolveRefs(call, x.Spec)
		if err != nil {
			return "", nil, err
		}
		w := &x.Watch
		if w.Service == "" {
			w = nil // a label only: nothing to wait for
		}
		return x.ID, w, a.c.UpdateService(call, x.ID, x.Version, spec, false)
	case RollbackService:
		return x.ID, &x.Watch, a.c.UpdateService(call, x.ID, x.Version, swarm.ServiceSpec{}, true)
	case FollowUpdate:
		return x.ID, &x.Watch, nil
	case RemoveService:
		if err := a.c.RemoveService(call, x.ID); err != nil {
			return "", nil, err
		}
		return "", nil, a.gone(ctx, x.ID)
	case RemoveNetwork:
		return "", nil, a.c.RemoveNetwork(call, x.Name)
	case RemoveObject:
		return "", nil, a.c.RemoveObject(call, x.Type, x.ID)
	case RemoveVolume:
		return "", nil, a.c.RemoveVolume(call, x.Name)
	}
	return "", nil, fmt.Errorf("unknown action %T", act)
}

// resolveRefs fills in the IDs of the secrets and configs a spec names:
// the engine takes IDs, which exist only once setup made the objects.
func (a *applier) resolveRefs(ctx context.Context, spec swarm.ServiceSpec) (swarm.ServiceSpec, error) {
	cs := spec.TaskTemplate.ContainerSpec
	if cs == nil || len(cs.Secrets)+len(cs.Configs) == 0 {
		return spec, nil
	}
	copied := *cs
	if len(cs.Secrets) > 0 {
		ids, err := a.c.Objects(ctx, "secret")
		if err != nil {
			return spec, err
		}
		copied.Secrets = nil
		for _, r := range cs.Secrets {
			r2 := *r
			if r2.SecretID = ids[r.SecretName]; r2.SecretID == "" {
				return spec, fmt.Errorf("secret %q does not exist", r.SecretName)
			}
			copied.Secrets = append(copied.Secrets, &r2)
		}
	}
	if len(cs.Configs) > 0 {
		ids, err := a.c.Objects(ctx, "config")
		if err != nil {
			return spec, err
		}
		copied.Configs = nil
		for _, r := range cs.Configs {
			r2 := *r
			if r2.ConfigID = ids[r.ConfigName]; r2.ConfigID == "" {
				return spec, fmt.Errorf("config %q does not exist", r.ConfigName)
			}
			copied.Configs = append(copied.Configs, &r2)
		}
	}
	spec.TaskTemplate.ContainerSpec = &copied
	return spec, nil
}

// watch follows a service until its step is done, failed or timed out,
// reporting tasks and batches as they happen.
func (a *applier) watch(ctx context.Context, id string, w Watch) error {
	action := "wait-ready"
	if w.Kind.update() {
		action = "wait-update"
	}
	ev := reconcile.Event{Service: w.Service, Target: w.Service, Action: action, Reason: watchReason(w)}
	start := time.Now()
	a.report(ev, reconcile.Begun, start, nil)
	note, err := a.follow(ctx, id, w)
	ev.Note = note
	a.report(ev, reconcile.Done, start, err)
	return err
}

func watchReason(w Watch) string {
	what := fmt.Sprintf("revision %d, %s", w.Revision, replicasText(w.Replicas))
	if w.Kind == WatchLabels {
		return what + ", a change of labels: Swarm updates only a slot that runs a second task"
	}
	if w.Kind.update() {
		what += fmt.Sprintf(", batches of %d", max(w.Parallelism, 1))
	}
	return what
}

func (a *applier) follow(ctx context.Context, id string, w Watch) (string, error) {
	deadline := time.Now().Add(w.Timeout)
	sn := newSeen()
	// Tasks of the revision that ran before this run are not its news.
	if w.Kind.update() {
		if obs, _, err := a.tasks(ctx, id, w); err == nil {
			news(sn, obs, w)
			batchDone(sn, w)
		}
	}
	rollbackSaid := false
	var surplusSince time.Time
	t := time.NewTicker(a.poll)
	defer t.Stop()
	for {
		svc, err := a.c.InspectService(ctx, id)
		if err != nil {
			return "", err
		}
		tasks, nodes, err := a.tasks(ctx, id, w)
		if err != nil {
			return "", err
		}
		a.reportTasks(sn, tasks, w)
		o := observeService(svc)
		if w.Kind != WatchRollback && !rollbackSaid && o.Update != nil && o.Update.State == swarm.UpdateStateRollbackStarted {
			rollbackSaid = true
			a.report(reconcile.Event{Service: w.Service, Target: w.Service, Action: "swarm-rollback", Reason: o.Update.Message}, reconcile.Done, time.Now(), nil)
		}
		done, err := outcome(o, tasks, w, readyNodes(nodes))
		if err != nil {
			return "", err
		}
		// Done, unless a slot runs a second task: Swarm usually shuts
		// it down within a moment; if not, it may run until the service
		// next changes, which onSurplus weighs.
		if done {
			extra := surplus(tasks, w)
			if extra == "" {
				return "", nil
			}
			if surplusSince.IsZero() {
				surplusSince = time.Now()
			}
			switch move, note := onSurplus(w, extra, time.Since(surplusSince) >= a.grace); move {
			case surplusEnd:
				return note, nil
			case surplusRelabel:
				if err := a.settle(ctx, id, w, extra); err != nil {
					return "", err
				}
				w.Kind, surplusSince, deadline = WatchLabels, time.Time{}, time.Now().Add(w.Timeout)
				batchDone(sn, w) // the slots running are no batch of the change

			}
		}
		if time.Now().After(deadline) {
			return "", fmt.Errorf("not done after %s (Swarm goes on by itself: drover --engine swarm status)%s", w.Timeout, taskFailures(tasks, w))
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("interrupted while watching (Swarm goes on by itself): %w", ctx.Err())
		case <-t.C:
		}
	}
}

// settle changes a label of the service (LabelSettled): its tasks' spec
// stays, but Swarm's updater looks at it again and removes the slot's
// second task that extra names. onSurplus says when drover may.
func (a *applier) settle(ctx context.Context, id string, w Watch, extra string) error {
	ev := reconcile.Event{Service: w.Service, Target: w.Service, Action: "settle", Reason: extra + ": a label, so that Swarm removes the extra task"}
	start := time.Now()
	a.report(ev, reconcile.Begun, start, nil)
	err := a.relabel(ctx, id)
	a.report(ev, reconcile.Done, start, err)
	return err
}

func (a *applier) relabel(ctx context.Context, id string) error {
	svc, err := a.c.InspectService(ctx, id)
	if err != nil {
		return err
	}
	spec := svc.Spec
	spec.Labels = copyLabels(spec.Labels)
	spec.Labels[LabelSettled] = time.Now().UTC().Format(time.RFC3339Nano)
	return a.c.UpdateService(context.WithoutCancel(ctx), id, svc.Version.Index, spec, false)
}

// gone waits for a removed service's containers on this node to go:
// Swarm stops and removes them after the call returned, and the project's
// networks and volumes can be removed only then. (Other nodes' containers
// go as theirs do; Swarm removes the overlay network once they have.)
func (a *applier) gone(ctx context.Context, id string) error {
	deadline := time.Now().Add(RemoveTimeout)
	for {
		n, err := a.c.ServiceContainers(ctx, id)
		if err != nil || n == 0 {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d containers still there %s after the service was removed", n, RemoveTimeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.poll):
		}
	}
}

// tasks reads a service's tasks and the nodes they run on.
func (a *applier) tasks(ctx context.Context, id string, w Watch) ([]Task, []swarm.Node, error) {
	ts, err := a.c.Tasks(ctx, []string{id})
	if err != nil {
		return nil, nil, err
	}
	nodes, err := a.c.Nodes(ctx)
	if err != nil {
		return nil, nil, err
	}
	return observeTasks(ts, map[string]string{id: w.Service}, nodes), nodes, nil
}

// reportTasks emits the news of one poll: tasks started and stopped, and
// the batches they close.
func (a *applier) reportTasks(sn *seen, tasks []Task, w Watch) {
	started, stopped := news(sn, tasks, w)
	now := time.Now()
	for _, t := range stopped {
		a.report(reconcile.Event{Service: w.Service, Target: t.Name(), Action: "stop", Reason: fmt.Sprintf("revision %d on %s", t.Revision, t.Node)}, reconcile.Done, now, nil)
	}
	var names []string
	for _, t := range started {
		a.report(reconcile.Event{Service: w.Service, Target: t.Name(), Action: "start", Reason: fmt.Sprintf("revision %d running on %s", t.Revision, t.Node)}, reconcile.Done, now, nil)
		names = append(names, t.Name()+" on "+t.Node)
		if !w.Kind.update() {
			continue
		}
		if n, ok := batchDone(sn, w); ok {
			a.report(reconcile.Event{Service: w.Service, Target: w.Service, Action: "batch",
				Reason: fmt.Sprintf("%d done: %d of %s running revision %d (%s)", n, len(sn.slots), replicasOrAll(w.Replicas), w.Revision, strings.Join(names, ", "))}, reconcile.Done, now, nil)
			names = nil
		}
	}
}

func replicasOrAll(n int) string {
	if n < 0 {
		return "all nodes"
	}
	return fmt.Sprint(n)
}

// readyNodes counts the nodes a global service runs a task on.
func readyNodes(nodes []swarm.Node) int {
	n := 0
	for _, nd := range nodes {
		if nd.Status.State == swarm.NodeStateReady && nd.Spec.Availability == swarm.NodeAvailabilityActive {
			n++
		}
	}
	return n
}

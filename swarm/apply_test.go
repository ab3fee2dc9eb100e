package swarm

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/drover/drover/reconcile"
)

// fakeSwarm is a swarm of one service whose reaction to each spec change
// a test scripts: react runs on every read of the service, with the number
// of reads since the last change. Calls the tests do not expect panic (the
// embedded nil Cluster).
type fakeSwarm struct {
	Cluster
	mu      sync.Mutex
	svc     swarm.Service
	tasks   []swarm.Task
	updates []swarm.ServiceSpec // the specs drover sent, in order
	reads   int
	react   func(f *fakeSwarm, reads int)
}

func (f *fakeSwarm) InspectService(ctx context.Context, id string) (swarm.Service, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.react != nil {
		f.react(f, f.reads)
	}
	f.reads++
	return f.svc, nil
}

func (f *fakeSwarm) Tasks(ctx context.Context, ids []string) ([]swarm.Task, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]swarm.Task(nil), f.tasks...), nil
}

func (f *fakeSwarm) Nodes(ctx context.Context) ([]swarm.Node, error) {
	return []swarm.Node{{ID: "vm", Description: swarm.NodeDescription{Hostname: "vm"}}, {ID: "w2", Description: swarm.NodeDescription{Hostname: "w2"}}}, nil
}

// UpdateService takes a spec as Swarm does: the current spec becomes the
// previous one and the update status is reset.
func (f *fakeSwarm) UpdateService(ctx context.Context, id string, version uint64, spec swarm.ServiceSpec, rollback bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if rollback {
		spec = *f.svc.PreviousSpec
		f.svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackStarted}
	} else {
		f.svc.UpdateStatus = nil
	}
	prev := f.svc.Spec
	f.svc.PreviousSpec, f.svc.Spec = &prev, spec
	f.svc.Version.Index++
	f.updates = append(f.updates, spec)
	f.reads = 0
	return nil
}

// slotTwice is web at revision rev with 3 replicas, whose slot 2 runs two
// tasks (on vm and w2), as a drain during an update left it.
func slotTwice(rev int) *fakeSwarm {
	spec := func(rev int) swarm.ServiceSpec {
		n := uint64(3)
		return swarm.ServiceSpec{
			Annotations:  swarm.Annotations{Name: "proj_web", Labels: map[string]string{reconcile.LabelService: "web", reconcile.LabelRevision: strconv.Itoa(rev)}},
			Mode:         swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}},
			TaskTemplate: swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Image: "hello:v" + strconv.Itoa(rev), Labels: map[string]string{reconcile.LabelRevision: strconv.Itoa(rev)}}},
		}
	}
	prev := spec(rev - 1)
	f := &fakeSwarm{svc: swarm.Service{ID: "id-web", Spec: spec(rev), PreviousSpec: &prev, UpdateStatus: &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}}}
	for i, at := range []struct {
		slot int
		node string
	}{{1, "vm"}, {2, "vm"}, {2, "w2"}, {3, "w2"}} {
		f.tasks = append(f.tasks, swarm.Task{ID: "t" + strconv.Itoa(i), ServiceID: "id-web", Slot: at.slot, NodeID: at.node,
			Spec:         swarm.TaskSpec{ContainerSpec: &swarm.ContainerSpec{Labels: map[string]string{reconcile.LabelRevision: strconv.Itoa(rev)}}},
			Status:       swarm.TaskStatus{State: swarm.TaskStateRunning},
			DesiredState: swarm.TaskStateRunning})
	}
	return f
}

// removeSecond is Swarm's short update after a spec change that leaves the
// tasks' spec alone: a read or two before it starts, then updating, then
// the slot's second task shut down and the update completed.
func removeSecond(f *fakeSwarm, reads int) {
	if len(f.updates) == 0 {
		return
	}
	switch {
	case reads == 2:
		f.svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateUpdating}
	case reads == 4:
		f.tasks[2].DesiredState = swarm.TaskStateShutdown
	case reads == 6:
		f.tasks[2].Status.State = swarm.TaskStateShutdown
		f.svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}
	}
}

// applyFast applies a plan as Apply does, polling every millisecond, with
// the grace given.
func applyFast(t *testing.T, f *fakeSwarm, plan Plan, grace time.Duration) ([]reconcile.Event, error) {
	t.Helper()
	var evs []reconcile.Event
	a := &applier{c: f, emit: func(ev reconcile.Event) { evs = append(evs, ev) }, poll: time.Millisecond, grace: grace}
	for _, s := range plan.Services {
		if err := a.run(context.Background(), s); err != nil {
			return evs, err
		}
	}
	return evs, nil
}

func doneEvent(evs []reconcile.Event, action string) (reconcile.Event, bool) {
	for _, ev := range evs {
		if ev.Action == action && ev.Phase == reconcile.Done {
			return ev, true
		}
	}
	return reconcile.Event{}, false
}

// TestConfirmWaitsForSwarmsUpdate: the confirm's label makes Swarm remove
// a slot's second task in a short update of its own; up --confirm-upgrade
// returns once that update is done, the task reported stopped, not while
// the service is still updating.
func TestConfirmWaitsForSwarmsUpdate(t *testing.T) {
	f := slotTwice(2)
	obs := Observed{Services: map[string]Service{"web": observeService(f.svc)}}
	plan, err := Confirm(obs, nil, false, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f.react = removeSecond
	evs, err := applyFast(t, f, plan, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.updates) != 1 || f.updates[0].Labels[LabelConfirmed] != "2" {
		t.Fatalf("updates %+v: want one, the confirm's label", f.updates)
	}
	if st := f.svc.UpdateStatus; st == nil || st.State != swarm.UpdateStateCompleted || f.tasks[2].Status.State != swarm.TaskStateShutdown {
		t.Fatalf("the confirm returned while Swarm's update was %+v and the second task %s", st, f.tasks[2].Status.State)
	}
	if ev, ok := doneEvent(evs, "wait-update"); !ok || ev.Note != "" {
		t.Errorf("wait-update %+v (found %v): want it done, without a note", ev, ok)
	}
	if ev, ok := doneEvent(evs, "stop"); !ok || ev.Target != "web.2" || ev.Reason != "revision 2 on w2" {
		t.Errorf("stop %+v (found %v): want web.2's second task, revision 2 on w2", ev, ok)
	}
}

// TestConfirmWithoutSecondTask: a confirm where every slot runs one task
// starts no update in Swarm; its watch ends at once.
func TestConfirmWithoutSecondTask(t *testing.T) {
	f := slotTwice(2)
	f.tasks = append(f.tasks[:2], f.tasks[3])
	obs := Observed{Services: map[string]Service{"web": observeService(f.svc)}}
	plan, _ := Confirm(obs, nil, false, time.Minute)
	evs, err := applyFast(t, f, plan, time.Hour)
	if err != nil || f.reads != 1 {
		t.Fatalf("%v after %d reads: want done at the first", err, f.reads)
	}
	if _, ok := doneEvent(evs, "wait-update"); !ok {
		t.Errorf("no wait-update done: %+v", evs)
	}
}

// TestUpdateThenConfirm: an update that left a slot's second task ends at
// once, without the grace or a note, when the run confirms next; left
// upgraded, it ends after the grace with the note naming the confirm.
func TestUpdateThenConfirm(t *testing.T) {
	w := Watch{Service: "web", Kind: WatchUpdate, Revision: 2, Replicas: 3, Parallelism: 1, Timeout: time.Minute}
	f := slotTwice(2)
	plan := Plan{Services: []Step{{Service: "web", Target: "web", Action: FollowUpdate{ID: "id-web", Watch: w}}}}
	evs, err := applyFast(t, f, plan.ThenConfirm(), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := doneEvent(evs, "wait-update"); ev.Note != "" || ev.Duration > time.Minute/2 {
		t.Errorf("confirmed next: wait-update %+v, want it done at once, without a note", ev)
	}
	evs, err = applyFast(t, slotTwice(2), plan, 20*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if ev, _ := doneEvent(evs, "wait-update"); !strings.Contains(ev.Note, "up --confirm-upgrade web does it") {
		t.Errorf("left upgraded: note %q, want the confirm named", ev.Note)
	}
}

// TestRollbackSettlesASlotsSecondTask: a rollback that leaves a slot with
// two tasks past the grace leaves the service active, where a change of
// labels loses nothing: drover makes one (LabelSettled, the tasks' spec
// untouched) and watches Swarm remove the task.
func TestRollbackSettlesASlotsSecondTask(t *testing.T) {
	f := slotTwice(1)
	two := f.svc.Spec
	two.Labels = map[string]string{reconcile.LabelService: "web", reconcile.LabelRevision: "2"}
	one := f.svc.Spec
	f.svc.PreviousSpec, f.svc.Spec = &one, two
	obs := Observed{Services: map[string]Service{"web": observeService(f.svc)}}
	plan, err := Rollback(obs, nil, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f.react = func(f *fakeSwarm, reads int) {
		switch len(f.updates) {
		case 1: // the rollback: done at once, the slot's second task left
			f.svc.UpdateStatus = &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted}
		case 2:
			removeSecond(f, reads)
		}
	}
	evs, err := applyFast(t, f, plan, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.updates) != 2 {
		t.Fatalf("%d spec changes, want the rollback and a change of labels", len(f.updates))
	}
	settled := f.updates[1]
	if settled.Labels[LabelSettled] == "" || settled.Labels[reconcile.LabelRevision] != "1" || settled.TaskTemplate.ContainerSpec.Image != "hello:v1" {
		t.Errorf("the second change %+v: want revision 1's spec with %s", settled, LabelSettled)
	}
	if f.svc.UpdateStatus.State != swarm.UpdateStateCompleted || f.tasks[2].DesiredState != swarm.TaskStateShutdown {
		t.Errorf("returned while Swarm's update was %+v", f.svc.UpdateStatus)
	}
	if _, ok := doneEvent(evs, "settle"); !ok {
		t.Errorf("no settle event: %+v", evs)
	}
	if ev, _ := doneEvent(evs, "wait-update"); ev.Note != "" {
		t.Errorf("note %q, want none: the task went", ev.Note)
	}
	if st := StateOf(observeService(f.svc)); st != reconcile.Active {
		t.Errorf("after the rollback and the change of labels: %s, want active", st)
	}
}

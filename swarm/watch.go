package swarm

import (
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/swarm"
)

// seen is what the watch of one service has reported so far, by task ID.
type seen struct {
	started map[string]bool // tasks of the target revision seen running
	stopped map[string]bool // other tasks seen shut down
	// slots are the slots (nodes, for a global service) where a task of
	// the target revision was seen running: the update's progress. A slot
	// may run more than one such task: when a drained node's task is
	// replaced by the orchestrator while the update replaces it too, or
	// when a new task fails and Swarm starts another.
	slots   map[string]bool
	batches int // batches reported
}

func newSeen() *seen {
	return &seen{started: map[string]bool{}, stopped: map[string]bool{}, slots: map[string]bool{}}
}

// slot names the place a task fills: its slot, or its node for a global
// service's.
func (t Task) slot() string {
	if t.Slot == 0 {
		return "node " + t.NodeID
	}
	return fmt.Sprint(t.Slot)
}

// news returns the tasks of the watched revision that run and had not been
// reported yet, and the tasks that Swarm shut down since: of other
// revisions, and of the watched one seen running before (a slot's second
// task, removed). A task of the watched revision that ran before the watch
// began (known) is not news.
func news(sn *seen, tasks []Task, w Watch) (started, stopped []Task) {
	for _, t := range tasks {
		if t.Service != w.Service {
			continue
		}
		switch {
		case t.Revision == w.Revision && t.Running() && t.Desired == swarm.TaskStateRunning:
			if !sn.started[t.ID] {
				sn.started[t.ID] = true
				sn.slots[t.slot()] = true
				started = append(started, t)
			}
		case (t.Revision != w.Revision || sn.started[t.ID]) && t.Desired != swarm.TaskStateRunning && settled(t.State):
			if !sn.stopped[t.ID] {
				sn.stopped[t.ID] = true
				stopped = append(stopped, t)
			}
		}
	}
	return started, stopped
}

// settled says whether a task's state is final.
func settled(s swarm.TaskState) bool {
	switch s {
	case swarm.TaskStateShutdown, swarm.TaskStateComplete, swarm.TaskStateFailed, swarm.TaskStateRejected, swarm.TaskStateRemove, swarm.TaskStateOrphaned:
		return true
	}
	return false
}

// batchDone says whether the slots updated so far close a batch: every
// parallelism of them, and the last, smaller one. A second task of the
// revision in a slot already counted closes none.
//
// With 3 replicas in batches of 2: the 2nd slot running the revision
// closes batch 1, the 3rd closes batch 2.
func batchDone(sn *seen, w Watch) (int, bool) {
	n := len(sn.slots)
	p := max(w.Parallelism, 1)
	want := (n + p - 1) / p
	if n%p != 0 && (w.Replicas < 0 || n < w.Replicas) {
		want = n / p
	}
	if want > sn.batches {
		sn.batches = want
		return want, true
	}
	return 0, false
}

// outcome reads where a watched step stands: done (nil error, true), failed
// (an error), or going on (nil, false). An update is done when Swarm says
// so; a create or a scale when the asked replicas of the revision run; a
// change of labels when Swarm's update, if it started one, is done.
// Swarm goes on by itself whatever drover does next.
func outcome(svc Service, tasks []Task, w Watch, nodes int) (bool, error) {
	if w.Kind.update() {
		st := svc.Update
		if st == nil {
			// A change of labels starts an update only for a slot's
			// second task, which the caller's surplus check waits for;
			// of a new revision, only labels changed.
			if w.Kind == WatchLabels {
				return true, nil
			}
			return allRunning(tasks, w, nodes), nil
		}
		switch st.State {
		case swarm.UpdateStateCompleted:
			if w.Kind != WatchRollback {
				return oldGone(tasks, w), nil
			}
		case swarm.UpdateStateRollbackCompleted:
			if w.Kind == WatchRollback {
				return oldGone(tasks, w), nil
			}
			return false, fmt.Errorf("the update failed and Swarm rolled back to the previous spec (revision %d serves): %s", svc.Revision, st.Message)
		case swarm.UpdateStatePaused:
			return false, fmt.Errorf("the update failed and Swarm paused it (failure_action: pause): %s%s", st.Message, taskFailures(tasks, w))
		case swarm.UpdateStateRollbackPaused:
			return false, fmt.Errorf("Swarm's rollback failed and is paused: %s%s", st.Message, taskFailures(tasks, w))
		}
		return false, nil
	}
	if f := taskFailures(tasks, w); f != "" {
		return false, fmt.Errorf("tasks fail to run:%s", f)
	}
	return allRunning(tasks, w, nodes), nil
}

// oldGone says whether every task of another revision has stopped: Swarm
// calls an update complete once the last new task runs, while the last
// old one may still be shutting down.
func oldGone(tasks []Task, w Watch) bool {
	for _, t := range tasks {
		if t.Service == w.Service && t.Revision != w.Revision && !settled(t.State) {
			return false
		}
	}
	return true
}

// surplus names the slots where more than one task is meant to run, when
// the service has more such tasks than its replicas, "" otherwise. A node
// drained (or lost) during an update can leave a slot with two tasks of the
// new revision: Swarm's orchestrator replaces the node's task while the
// update replaces it too. Swarm's updater shuts the second one down if it
// comes to that slot afterwards; if it was done with it, the second task
// runs until the service next changes (the updater then finds the slot
// dirty), however long that is.
func surplus(tasks []Task, w Watch) string {
	if w.Replicas < 0 {
		return ""
	}
	n := 0
	bySlot := map[string][]Task{}
	for _, t := range tasks {
		if t.Service == w.Service && t.Desired == swarm.TaskStateRunning {
			n++
			bySlot[t.slot()] = append(bySlot[t.slot()], t)
		}
	}
	if n <= w.Replicas {
		return ""
	}
	var slots []string
	for _, ts := range bySlot {
		if len(ts) > 1 {
			var nodes []string
			for _, t := range ts {
				nodes = append(nodes, t.Node)
			}
			sortStrings(nodes)
			slots = append(slots, fmt.Sprintf("%s runs %d (on %s)", ts[0].Name(), len(ts), strings.Join(nodes, ", ")))
		}
	}
	sortStrings(slots)
	return fmt.Sprintf("Swarm runs %d tasks for %d replicas: %s", n, w.Replicas, strings.Join(slots, "; "))
}

// surplusMove is what a watch does about a slot's second task once done.
type surplusMove int

const (
	surplusWait    surplusMove = iota // give Swarm SurplusGrace to remove it by itself
	surplusEnd                        // end the watch, with the note if any
	surplusRelabel                    // change a label, then watch Swarm remove it
)

// onSurplus says what a watch that is done does about a slot's second
// task (extra, from surplus), graceOver once Swarm has left it for
// SurplusGrace, and the note the watch ends with. Any change of the service's
// spec makes Swarm's updater look at it again and remove the task, but it
// also makes the current spec Swarm's previous one, the one a rollback
// brings back; so drover makes the change itself only where that loses
// nothing, by the state the step leaves the service in:
//
//   - an update the same run confirms next (ConfirmNext): end at once,
//     without a note; the confirm's label is the change, and its watch
//     waits for Swarm to remove the task. (Should the run fail before its
//     confirm, the service is left upgraded, and each of the two ways on
//     that status names removes the task.)
//   - an update left upgraded: the way back must stay, so drover changes
//     nothing; the note names the two ways on, a confirm (keeps the
//     revision) or a rollback, each of which removes the task.
//   - a create, a scale or a rollback: the service is left active, and
//     an active service has no way back to lose (a rollback is refused
//     after a rollback, and has no older revision to go to after a create
//     or a scale), so drover changes a label itself (LabelSettled).
//   - a change of labels (a confirm, or drover's own): Swarm's updater has
//     looked at the service and left the task; the note says that it runs
//     until the next change, with no drover step to name.
func onSurplus(w Watch, extra string, graceOver bool) (surplusMove, string) {
	if w.Kind == WatchUpdate && w.ConfirmNext {
		return surplusEnd, ""
	}
	if !graceOver {
		return surplusWait, ""
	}
	why := "a node was drained or lost during the update, and Swarm's orchestrator replaced its task while the update replaced it too"
	switch w.Kind {
	case WatchUpdate:
		return surplusEnd, fmt.Sprintf("%s; %s. Swarm removes the extra task when the service next changes: drover --engine swarm up --confirm-upgrade %s does it (a label), as up --rollback %s would",
			extra, why, w.Service, w.Service)
	case WatchLabels:
		return surplusEnd, fmt.Sprintf("%s; Swarm did not remove the extra task after the change of labels: it runs the same revision until the service next changes (drover --engine swarm status counts it serving)", extra)
	}
	return surplusRelabel, ""
}

// allRunning says whether the asked tasks of the revision run, and no task
// of another revision is still meant to.
func allRunning(tasks []Task, w Watch, nodes int) bool {
	want := w.Replicas
	if want < 0 {
		want = nodes
	}
	running := 0
	for _, t := range tasks {
		if t.Service != w.Service || t.Desired != swarm.TaskStateRunning {
			continue
		}
		if t.Revision != w.Revision {
			return false
		}
		if t.Running() {
			running++
		}
	}
	return running >= want
}

// taskFailures names the tasks of the revision that failed or were
// rejected, with the engine's reason.
func taskFailures(tasks []Task, w Watch) string {
	var b strings.Builder
	for _, t := range tasks {
		if t.Service == w.Service && t.Revision == w.Revision && (t.State == swarm.TaskStateFailed || t.State == swarm.TaskStateRejected) {
			fmt.Fprintf(&b, "\n  %s on %s: %s %s", t.Name(), t.Node, t.State, strings.TrimSpace(t.Err+" "+t.Message))
		}
	}
	return b.String()
}

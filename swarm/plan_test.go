package swarm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/swarm"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

// load loads a project from files written in a temporary directory.
func load(t *testing.T, composeYAML, rancherYAML string) *compose.Project {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(composeYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if rancherYAML != "" {
		if err := os.WriteFile(filepath.Join(dir, "rancher-compose.yml"), []byte(rancherYAML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := compose.Load(context.Background(), compose.Options{Files: []string{filepath.Join(dir, "docker-compose.yml")}, ProjectName: "proj", Swarm: true})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const webV1 = "services:\n  web:\n    image: hello:v1\n"

const policy3 = `services:
  web:
    scale: 3
    upgrade_strategy:
      start_first: true
      batch_size: 1
      interval_millis: 500
`

func TestServiceSpecMapsThePolicy(t *testing.T) {
	p := load(t, `services:
  web:
    image: hello:v1
    deploy:
      update_config:
        failure_action: pause
        monitor: 7s
`, policy3)
	s, _ := p.Service("web")
	spec, err := ServiceSpec(p, s, Target{Revision: 4, ImageID: "sha256:abc"})
	if err != nil {
		t.Fatal(err)
	}
	u := spec.UpdateConfig
	if u.Parallelism != 1 || u.Delay != 500*time.Millisecond || u.Order != swarm.UpdateOrderStartFirst || u.FailureAction != swarm.UpdateFailureActionPause || u.Monitor != 7*time.Second {
		t.Errorf("update config %+v: want parallelism 1, delay 500ms, start-first, pause, monitor 7s", *u)
	}
	if r := spec.RollbackConfig; r.FailureAction != swarm.UpdateFailureActionPause || r.Order != swarm.UpdateOrderStartFirst {
		t.Errorf("rollback config %+v", *r)
	}
	if n := spec.Mode.Replicated; n == nil || *n.Replicas != 3 {
		t.Errorf("mode %+v: want 3 replicas", spec.Mode)
	}
	if spec.Name != "proj_web" || spec.Labels[LabelNamespace] != "proj" || spec.Labels[reconcile.LabelService] != "web" || spec.Labels[reconcile.LabelRevision] != "4" {
		t.Errorf("service labels %v", spec.Labels)
	}
	cl := spec.TaskTemplate.ContainerSpec.Labels
	if cl[LabelNamespace] != "proj" || cl[reconcile.LabelRevision] != "4" || cl[LabelImageID] != "sha256:abc" || cl[reconcile.LabelProject] != "" {
		t.Errorf("container labels %v: want the namespace, revision and image ID, and no Compose project label", cl)
	}
	if n := spec.TaskTemplate.Networks; len(n) != 1 || n[0].Target != "proj_default" || n[0].Aliases[0] != "web" {
		t.Errorf("networks %+v", n)
	}
}

func TestServiceSpecPlacementAndRefusals(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // a constraint, "global", or the error's words
	}{
		{"host_label", "    labels:\n      io.rancher.scheduler.affinity:host_label: zone=a,disk=ssd\n", "node.labels.zone==a node.labels.disk==ssd"},
		{"host_label_ne", "    labels:\n      io.rancher.scheduler.affinity:host_label_ne: zone=b\n", "node.labels.zone!=b"},
		{"deploy placement", "    deploy:\n      placement:\n        constraints: [node.role==manager]\n", "node.role==manager"},
		{"rancher global", "    labels:\n      io.rancher.scheduler.global: \"true\"\n", "global"},
		{"deploy global", "    deploy:\n      mode: global\n", "global"},
		{"container affinity", "    labels:\n      io.rancher.scheduler.affinity:container_label: app=db\n", "error: has no Swarm equivalent"},
		{"host ip", "    ports: [\"127.0.0.1:8080:80\"]\n", "error: host_ip 127.0.0.1 cannot be honoured"},
		{"container_name", "    container_name: web1\n", `error: key "container_name" has no effect on a swarm`},
		{"privileged", "    privileged: true\n", `error: key "privileged"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, webV1+tc.yaml, "")
			s, _ := p.Service("web")
			spec, err := ServiceSpec(p, s, Target{Revision: 1})
			if want, ok := strings.CutPrefix(tc.want, "error: "); ok {
				if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), `service "web"`) {
					t.Fatalf("got %v, want an error naming the service and %q", err, want)
				}
				if Check(p) == nil {
					t.Fatal("Check let it through")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "global" {
				if spec.Mode.Global == nil {
					t.Fatalf("mode %+v: want global", spec.Mode)
				}
				return
			}
			if got := strings.Join(spec.TaskTemplate.Placement.Constraints, " "); got != tc.want {
				t.Fatalf("constraints %q, want %q", got, tc.want)
			}
		})
	}
}

// running makes the observed state of a swarm that carried out every
// service step of a plan: specs replaced, Swarm's previous spec kept, the
// update complete, the tasks of the new revision running.
func running(t *testing.T, obs Observed, plan Plan) Observed {
	t.Helper()
	next := obs
	next.Services = map[string]Service{}
	for k, v := range obs.Services {
		next.Services[k] = v
	}
	next.Networks = map[string]bool{}
	for k, v := range obs.Networks {
		next.Networks[k] = v
	}
	next.Tasks = nil
	for _, s := range plan.Setup {
		if cn, ok := s.Action.(CreateNetwork); ok {
			next.Networks[cn.Name] = true
		}
	}
	for _, s := range plan.Services {
		switch a := s.Action.(type) {
		case CreateService:
			next.Services[s.Service] = observeService(swarm.Service{ID: "id-" + s.Service, Spec: a.Spec, Meta: swarm.Meta{Version: swarm.Version{Index: 1}}})
		case UpdateService:
			o := obs.Services[s.Service]
			prev := o.Spec
			upd := &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}
			if o.Spec.TaskTemplate.ContainerSpec.Labels[reconcile.LabelRevision] == a.Spec.TaskTemplate.ContainerSpec.Labels[reconcile.LabelRevision] {
				upd = nil // labels or replicas only: no rolling update
			}
			next.Services[s.Service] = observeService(swarm.Service{ID: o.ID, Spec: a.Spec, PreviousSpec: &prev, UpdateStatus: upd, Meta: swarm.Meta{Version: swarm.Version{Index: o.Version + 1}}})
		case RollbackService:
			o := obs.Services[s.Service]
			cur := o.Spec
			next.Services[s.Service] = observeService(swarm.Service{ID: o.ID, Spec: *o.Previous, PreviousSpec: &cur, UpdateStatus: &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted}, Meta: swarm.Meta{Version: swarm.Version{Index: o.Version + 1}}})
		}
	}
	for name, o := range next.Services {
		for i := 1; i <= max(o.Replicas(), 1); i++ {
			next.Tasks = append(next.Tasks, Task{ID: name + strconv.Itoa(i), Service: name, Slot: i, Revision: o.Revision, State: swarm.TaskStateRunning, Desired: swarm.TaskStateRunning})
		}
	}
	return next
}

func empty() Observed {
	return Observed{Services: map[string]Service{}, Networks: map[string]bool{}, Images: map[string]string{}, Nodes: []swarm.Node{{ID: "n1"}}}
}

// TestVerbs walks one service through the verbs on a simulated swarm,
// checking each plan and each state, and that planning again after a plain
// up or an upgrade is carried out gives an empty plan.
func TestVerbs(t *testing.T) {
	p := load(t, webV1, policy3)
	obs := empty()
	opts := reconcile.Options{WaitTimeout: time.Minute}

	plan, err := Up(p, obs, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := "create-network proj_default (attachable overlay)\ncreate         web (3 replicas)\n"
	if plan.String() != want {
		t.Fatalf("up on an empty swarm:\n%s\nwant:\n%s", plan, want)
	}
	obs = running(t, obs, plan)
	if again, _ := Up(p, obs, opts); !again.Empty() || len(again.Left) > 0 {
		t.Fatalf("up after up:\n%s%v", again, again.Left)
	}

	// Scale: a plain up applies it.
	p3 := load(t, webV1, "services:\n  web:\n    scale: 5\n")
	plan, _ = Up(p3, obs, opts)
	if plan.String() != "update         web (scale 3 -> 5)\n" {
		t.Fatalf("scale:\n%s", plan)
	}

	// Drift: a plain up reports it and changes nothing.
	p2 := load(t, "services:\n  web:\n    image: hello:v2\n", policy3)
	plan, _ = Up(p2, obs, opts)
	if !plan.Empty() || len(plan.Left) != 1 || !strings.Contains(plan.Left[0], "out of sync") {
		t.Fatalf("up out of sync: %s%v", plan, plan.Left)
	}

	// Upgrade: revision 2, the policy in the reason.
	plan, err = Upgrade(p2, obs, reconcile.UpgradeOptions{Options: opts})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plan.String(), "update         web (revision 1 -> 2, batches of 1, start-first, 500ms apart:") {
		t.Fatalf("upgrade:\n%s", plan)
	}
	obs = running(t, obs, plan)
	if st := StateOf(obs.Services["web"]); st != reconcile.Upgraded {
		t.Fatalf("after the upgrade: %s, want upgraded", st)
	}
	if again, _ := Upgrade(p2, obs, reconcile.UpgradeOptions{Options: opts}); !again.Empty() {
		t.Fatalf("upgrade after upgrade:\n%s", again)
	}

	// Rollback: Swarm's previous spec; then refused, since Swarm's previous
	// spec is the one rolled back from.
	plan, err = Rollback(obs, nil, time.Minute)
	if err != nil || plan.String() != "rollback       web (revision 2 -> 1: Swarm's previous spec, run as new tasks)\n" {
		t.Fatalf("rollback: %v\n%s", err, plan)
	}
	rolled := running(t, obs, plan)
	if st := StateOf(rolled.Services["web"]); st != reconcile.Active || rolled.Services["web"].Revision != 1 {
		t.Fatalf("after the rollback: %s revision %d", st, rolled.Services["web"].Revision)
	}
	if _, err := Rollback(rolled, nil, time.Minute); err == nil || !strings.Contains(err.Error(), "already rolled back") {
		t.Fatalf("a second rollback: %v", err)
	}

	// Confirm: a label; a rollback is refused after it.
	plan, err = Confirm(obs, nil, false, time.Minute)
	if err != nil || !strings.Contains(plan.String(), "confirm revision 2") {
		t.Fatalf("confirm: %v\n%s", err, plan)
	}
	if w := plan.Services[0].Action.(UpdateService).Watch; w.Kind != WatchLabels || w.Revision != 2 || w.Replicas != 3 || w.Timeout != time.Minute {
		t.Errorf("the confirm's watch %+v: want Swarm's update for a slot's second task, revision 2, 3 replicas, a minute", w)
	}
	confirmed := running(t, obs, plan)
	if st := StateOf(confirmed.Services["web"]); st != reconcile.Active {
		t.Fatalf("after the confirm: %s", st)
	}
	if _, err := Rollback(confirmed, nil, time.Minute); err == nil || !strings.Contains(err.Error(), "confirmed") {
		t.Fatalf("rollback after confirm: %v", err)
	}
	if _, err := Confirm(confirmed, []string{"web"}, false, time.Minute); err == nil {
		t.Fatal("confirming an active service must be refused")
	}
}

func TestStateOf(t *testing.T) {
	prev := &swarm.ServiceSpec{Annotations: swarm.Annotations{Labels: map[string]string{reconcile.LabelRevision: "1"}}}
	tests := []struct {
		name      string
		update    swarm.UpdateState
		previous  *swarm.ServiceSpec
		confirmed bool
		want      reconcile.UpgradeState
	}{
		{"created", "", nil, false, reconcile.Active},
		{"updating", swarm.UpdateStateUpdating, prev, false, reconcile.Upgrading},
		{"completed", swarm.UpdateStateCompleted, prev, false, reconcile.Upgraded},
		{"completed and confirmed", swarm.UpdateStateCompleted, prev, true, reconcile.Active},
		{"paused", swarm.UpdateStatePaused, prev, false, reconcile.UpgradeFailed},
		{"rolling back", swarm.UpdateStateRollbackStarted, prev, false, reconcile.Upgrading},
		{"rollback paused", swarm.UpdateStateRollbackPaused, prev, false, reconcile.UpgradeFailed},
		{"rolled back", swarm.UpdateStateRollbackCompleted, prev, false, reconcile.Active},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Service{Revision: 2, PreviousRevision: 1, Previous: tc.previous, Confirmed: tc.confirmed}
			if tc.update != "" {
				s.Update = &swarm.UpdateStatus{State: tc.update}
			}
			if got := StateOf(s); got != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// TestBatches: with 3 replicas in batches of 2, the 2nd task running
// closes batch 1 and the 3rd batch 2; in batches of 1 each task closes one.
func TestBatches(t *testing.T) {
	for _, tc := range []struct{ replicas, parallelism, want int }{{3, 2, 2}, {3, 1, 3}, {4, 2, 2}, {1, 5, 1}} {
		w := Watch{Service: "web", Kind: WatchUpdate, Revision: 2, Replicas: tc.replicas, Parallelism: tc.parallelism}
		sn := newSeen()
		var tasks []Task
		batches := 0
		for i := 1; i <= tc.replicas; i++ {
			tasks = append(tasks, Task{ID: strconv.Itoa(i), Service: "web", Slot: i, Revision: 2, State: swarm.TaskStateRunning, Desired: swarm.TaskStateRunning})
			if started, _ := news(sn, tasks, w); len(started) != 1 {
				t.Fatalf("task %d: %d started", i, len(started))
			}
			if _, ok := batchDone(sn, w); ok {
				batches++
			}
		}
		if batches != tc.want {
			t.Errorf("%d replicas in batches of %d: %d batches, want %d", tc.replicas, tc.parallelism, batches, tc.want)
		}
	}
}

// TestBatchesBySlot: a second task of the revision in a slot already
// updated (a drained node's task replaced by the orchestrator while the
// update replaced it too, as the multi-node test saw) closes no batch; the
// last slot closes the last one, 3 of 3.
func TestBatchesBySlot(t *testing.T) {
	w := Watch{Service: "web", Kind: WatchUpdate, Revision: 2, Replicas: 3, Parallelism: 1}
	sn := newSeen()
	var tasks []Task
	var closed []int
	for i, slot := range []int{1, 2, 2, 3} {
		tasks = append(tasks, Task{ID: strconv.Itoa(i), Service: "web", Slot: slot, Revision: 2, State: swarm.TaskStateRunning, Desired: swarm.TaskStateRunning})
		news(sn, tasks, w)
		if n, ok := batchDone(sn, w); ok {
			closed = append(closed, n)
		}
	}
	if fmt.Sprint(closed) != "[1 2 3]" {
		t.Fatalf("batches closed %v, want [1 2 3]", closed)
	}
}

// TestSurplus: a drain during the update left two new tasks in slot 2
// (Swarm's orchestrator replaced the drained node's task while the update
// replaced it too): the watch names the slot; once Swarm shuts one down,
// nothing.
func TestSurplus(t *testing.T) {
	w := Watch{Service: "web", Kind: WatchUpdate, Revision: 2, Replicas: 3}
	task := func(id string, slot int, node string) Task {
		return Task{ID: id, Service: "web", Slot: slot, Node: node, Revision: 2, State: swarm.TaskStateRunning, Desired: swarm.TaskStateRunning}
	}
	tasks := []Task{task("a", 1, "vm"), task("b", 2, "vm"), task("c", 2, "w2"), task("d", 3, "w2")}
	if got, want := surplus(tasks, w), "Swarm runs 4 tasks for 3 replicas: web.2 runs 2 (on vm, w2)"; got != want {
		t.Errorf("surplus:\n%s\nwant\n%s", got, want)
	}
	tasks[2].Desired = swarm.TaskStateShutdown
	if got := surplus(tasks, w); got != "" {
		t.Errorf("the second task shutting down: %q, want none", got)
	}
	if got := surplus(append(tasks, task("e", 0, "w3")), Watch{Service: "web", Replicas: -1}); got != "" {
		t.Errorf("a global service: %q, want none", got)
	}
}

// TestOnSurplus: what a watch does about a slot's second task that Swarm
// left, by what the step was for. drover changes the service itself only
// where that gives up no way back, and names only steps right from the
// state the service is left in.
func TestOnSurplus(t *testing.T) {
	const extra = "Swarm runs 4 tasks for 3 replicas: web.2 runs 2 (on vm, w2)"
	tests := []struct {
		name        string
		w           Watch
		move        surplusMove
		note        []string // the note holds each
		noteLacks   []string
		beforeGrace surplusMove
	}{
		{name: "an update left upgraded", w: Watch{Kind: WatchUpdate},
			move: surplusEnd, note: []string{extra + ";", "drover --engine swarm up --confirm-upgrade web does it", "up --rollback web"}, beforeGrace: surplusWait},
		{name: "an update the run confirms next", w: Watch{Kind: WatchUpdate, ConfirmNext: true},
			move: surplusEnd, beforeGrace: surplusEnd},
		{name: "a rollback", w: Watch{Kind: WatchRollback}, move: surplusRelabel, beforeGrace: surplusWait},
		{name: "a scale", w: Watch{Kind: WatchScale}, move: surplusRelabel, beforeGrace: surplusWait},
		{name: "a create", w: Watch{Kind: WatchCreate}, move: surplusRelabel, beforeGrace: surplusWait},
		{name: "a change of labels (a confirm, or drover's own)", w: Watch{Kind: WatchLabels},
			move: surplusEnd, note: []string{extra + ";", "Swarm did not remove the extra task after the change of labels"}, noteLacks: []string{"--confirm-upgrade", "--rollback"}, beforeGrace: surplusWait},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.w.Service, tc.w.Revision, tc.w.Replicas = "web", 2, 3
			if move, note := onSurplus(tc.w, extra, false); move != tc.beforeGrace || note != "" {
				t.Errorf("before the grace: move %d, note %q; want move %d and no note", move, note, tc.beforeGrace)
			}
			move, note := onSurplus(tc.w, extra, true)
			if move != tc.move {
				t.Errorf("after the grace: move %d, want %d", move, tc.move)
			}
			if len(tc.note) == 0 && note != "" {
				t.Errorf("note %q, want none", note)
			}
			for _, want := range tc.note {
				if !strings.Contains(note, want) {
					t.Errorf("note %q, want it to hold %q", note, want)
				}
			}
			for _, bad := range tc.noteLacks {
				if strings.Contains(note, bad) {
					t.Errorf("note %q names %q, which is not right from this state", note, bad)
				}
			}
		})
	}
}

// TestThenConfirm: up --upgrade --confirm-upgrade marks the watches of the
// updates it confirms after, and only those (a rollback followed, a
// create, a scale are not confirmed).
func TestThenConfirm(t *testing.T) {
	plan := Plan{Services: []Step{
		{Service: "a", Action: UpdateService{Watch: Watch{Service: "a", Kind: WatchUpdate}}},
		{Service: "b", Action: FollowUpdate{Watch: Watch{Service: "b", Kind: WatchUpdate}}},
		{Service: "c", Action: FollowUpdate{Watch: Watch{Service: "c", Kind: WatchRollback}}},
		{Service: "d", Action: UpdateService{Watch: Watch{Service: "d", Kind: WatchScale}}},
		{Service: "e", Action: CreateService{Watch: Watch{Service: "e", Kind: WatchCreate}}},
	}}
	got := plan.ThenConfirm()
	var marked []string
	for _, s := range got.Services {
		switch a := s.Action.(type) {
		case UpdateService:
			if a.Watch.ConfirmNext {
				marked = append(marked, s.Service)
			}
		case FollowUpdate:
			if a.Watch.ConfirmNext {
				marked = append(marked, s.Service)
			}
		case CreateService:
			if a.Watch.ConfirmNext {
				marked = append(marked, s.Service)
			}
		}
	}
	if fmt.Sprint(marked) != "[a b]" {
		t.Errorf("marked %v, want [a b]", marked)
	}
	if plan.Services[0].Action.(UpdateService).Watch.ConfirmNext {
		t.Error("ThenConfirm changed the plan it was given")
	}
}

func TestOutcome(t *testing.T) {
	w := Watch{Service: "web", Kind: WatchUpdate, Revision: 2, Replicas: 1}
	newTask := Task{ID: "n", Service: "web", Revision: 2, State: swarm.TaskStateRunning, Desired: swarm.TaskStateRunning}
	oldTask := Task{ID: "o", Service: "web", Revision: 1, State: swarm.TaskStateRunning, Desired: swarm.TaskStateShutdown}
	done := Service{Revision: 2, Update: &swarm.UpdateStatus{State: swarm.UpdateStateCompleted}}
	if ok, err := outcome(done, []Task{newTask, oldTask}, w, 1); ok || err != nil {
		t.Errorf("completed with an old task still running: %v %v, want going on", ok, err)
	}
	oldTask.State = swarm.TaskStateShutdown
	if ok, err := outcome(done, []Task{newTask, oldTask}, w, 1); !ok || err != nil {
		t.Errorf("completed: %v %v", ok, err)
	}
	back := Service{Revision: 1, Update: &swarm.UpdateStatus{State: swarm.UpdateStateRollbackCompleted, Message: "update rolled back due to failure"}}
	if _, err := outcome(back, nil, w, 1); err == nil || !strings.Contains(err.Error(), "Swarm rolled back") {
		t.Errorf("rolled back during an upgrade: %v", err)
	}
	paused := Service{Revision: 2, Update: &swarm.UpdateStatus{State: swarm.UpdateStatePaused}}
	if _, err := outcome(paused, nil, w, 1); err == nil || !strings.Contains(err.Error(), "paused") {
		t.Errorf("paused: %v", err)
	}
	create := Watch{Service: "web", Revision: 1, Replicas: 2}
	failed := Task{ID: "f", Service: "web", Slot: 1, Node: "n1", Revision: 1, State: swarm.TaskStateRejected, Desired: swarm.TaskStateRunning, Err: "No such image: x"}
	if _, err := outcome(Service{}, []Task{failed}, create, 1); err == nil || !strings.Contains(err.Error(), "No such image") {
		t.Errorf("a rejected task: %v", err)
	}
}

func TestImageOnlyLocalOnSeveralNodes(t *testing.T) {
	p := load(t, webV1, "")
	obs := empty()
	obs.Images["hello:v1"] = "sha256:1"
	if plan, _ := Up(p, obs, reconcile.Options{}); len(plan.Warnings) != 0 {
		t.Fatalf("one node: %v", plan.Warnings)
	}
	obs.Nodes = append(obs.Nodes, swarm.Node{ID: "n2"})
	plan, _ := Up(p, obs, reconcile.Options{})
	if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "exists on this node only") {
		t.Fatalf("two nodes: %v", plan.Warnings)
	}
	pr := load(t, "services:\n  web:\n    image: localhost:5000/hello:v1\n", "")
	obs.Images["localhost:5000/hello:v1"] = "sha256:1"
	obs.Images["localhost:5000/hello@sha256:d1"] = "sha256:1"
	if plan, _ := Up(pr, obs, reconcile.Options{}); len(plan.Warnings) != 0 {
		t.Fatalf("an image pushed to its registry: %v", plan.Warnings)
	}
	obs.Images["localhost:5000/hello:v1"] = "sha256:2" // tagged here since
	if plan, _ := Up(pr, obs, reconcile.Options{}); len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "docker push localhost:5000/hello:v1") {
		t.Fatalf("a registry's name on an image never pushed: %v", plan.Warnings)
	}
}

// TestPushed: an image has been in the repository its reference names
// when the engine lists a digest of it from that repository, whatever
// the name says: a registry host, docker.io or none.
func TestPushed(t *testing.T) {
	tests := []struct {
		name   string
		ref    string
		images map[string]string
		want   bool
	}{
		{name: "built here, no host", ref: "hello:v1", images: map[string]string{"hello:v1": "sha256:1"}},
		{name: "built here, docker.io named", ref: "docker.io/library/hello:v1", images: map[string]string{"hello:v1": "sha256:1"}},
		{name: "built here, a registry host named", ref: "127.0.0.1:5000/hello:v1", images: map[string]string{"127.0.0.1:5000/hello:v1": "sha256:1"}},
		{name: "pulled from docker.io", ref: "docker.io/library/hello:v1", images: map[string]string{"hello:v1": "sha256:1", "hello@sha256:d1": "sha256:1"}, want: true},
		{name: "pulled from docker.io, no host", ref: "hello", images: map[string]string{"hello:latest": "sha256:1", "hello@sha256:d1": "sha256:1"}, want: true},
		{name: "pushed to its registry", ref: "127.0.0.1:5000/hello:v1", images: map[string]string{"127.0.0.1:5000/hello:v1": "sha256:1", "127.0.0.1:5000/hello@sha256:d1": "sha256:1"}, want: true},
		{name: "pushed under another name only", ref: "hello:v1", images: map[string]string{"hello:v1": "sha256:1", "127.0.0.1:5000/hello@sha256:d1": "sha256:1"}},
		{name: "the tag moved after the push", ref: "127.0.0.1:5000/hello:v1", images: map[string]string{"127.0.0.1:5000/hello:v1": "sha256:2", "127.0.0.1:5000/hello@sha256:d1": "sha256:1"}},
		{name: "not on this node", ref: "127.0.0.1:5000/hello:v1", images: map[string]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Observed{Images: tc.images}).Pushed(tc.ref); got != tc.want {
				t.Errorf("Pushed(%s) = %v, want %v", tc.ref, got, tc.want)
			}
		})
	}
}

// TestLocalImageWarning: the warning says why the other nodes cannot pull
// the image, and how to make them: push it where its name says when the
// name has a registry host, else push it to one and name it there.
func TestLocalImageWarning(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"hello:v1", "push it to a registry they reach and name it there (registry/hello:v1): this node has no digest of it from docker.io"},
		{"docker.io/acme/hello:v1", "push it to a registry they reach (docker push docker.io/acme/hello:v1): this node has no digest of it from docker.io"},
		{"127.0.0.1:5000/hello:v1", "push it to a registry they reach (docker push 127.0.0.1:5000/hello:v1): this node has no digest of it from 127.0.0.1:5000"},
	}
	for _, tc := range tests {
		got := localImage("web", tc.ref, 3)
		if !strings.HasPrefix(got, `service "web": image `+tc.ref+" exists on this node only, and the swarm has 3 nodes: the others cannot pull it; ") || !strings.Contains(got, tc.want) {
			t.Errorf("%s:\n%s\nwant it to hold %q", tc.ref, got, tc.want)
		}
	}
}

// TestServingCountsTasksMeantToRun: a task of the revision that Swarm is
// shutting down still runs for a moment (a drained node's, or the second
// task of a slot that a drain and the rolling update both replaced, as the
// multi-node test saw); it is not serving.
func TestServingCountsTasksMeantToRun(t *testing.T) {
	obs := empty()
	obs.Services["web"] = Service{Service: "web", Revision: 2}
	task := func(id string, rev int, state, desired swarm.TaskState) Task {
		return Task{ID: id, Service: "web", Slot: 1, Revision: rev, State: state, Desired: desired}
	}
	obs.Tasks = []Task{
		task("a", 2, swarm.TaskStateRunning, swarm.TaskStateRunning),
		task("b", 2, swarm.TaskStateRunning, swarm.TaskStateRunning),
		task("c", 2, swarm.TaskStateRunning, swarm.TaskStateRunning),
		task("extra", 2, swarm.TaskStateRunning, swarm.TaskStateShutdown),
		task("old", 1, swarm.TaskStateShutdown, swarm.TaskStateShutdown),
	}
	st := Status(nil, obs)
	if len(st) != 1 || st[0].Serving != 3 {
		t.Fatalf("serving %+v, want 3", st)
	}
}

// TestImageByItsFamiliarForm: the engine lists hello:latest for a service
// whose image is hello (or docker.io/library/hello): the manager's image
// is found all the same, for the image ID that shows a tag moved, and for
// the warning on several nodes (docker.io/... too: that names a registry,
// but this image, built here, was never in it).
func TestImageByItsFamiliarForm(t *testing.T) {
	for _, ref := range []string{"hello", "docker.io/library/hello:latest"} {
		p := load(t, "services:\n  web:\n    image: "+ref+"\n", "")
		obs := empty()
		obs.Images["hello:latest"] = "sha256:1"
		obs.Nodes = append(obs.Nodes, swarm.Node{ID: "n2"})
		plan, err := Up(p, obs, reconcile.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Warnings) != 1 || !strings.Contains(plan.Warnings[0], "image "+ref+" exists on this node only") {
			t.Errorf("%s on two nodes: warnings %v, want one", ref, plan.Warnings)
		}
		if len(plan.Services) != 1 {
			t.Fatalf("%s: plan %s", ref, plan)
		}
		spec := plan.Services[0].Action.(CreateService).Spec
		if got := spec.TaskTemplate.ContainerSpec.Labels[LabelImageID]; got != "sha256:1" {
			t.Errorf("%s: image ID label %q, want sha256:1", ref, got)
		}
	}
}

// TestDownVolumesNote: on several nodes, down -v says that only the
// manager's node's volumes go, when the project has named volumes: some
// on the manager's node, or a service that mounts one (Swarm made it
// where its tasks ran, perhaps not here). With none, no note.
func TestDownVolumesNote(t *testing.T) {
	withVolume := load(t, "services:\n  web:\n    image: hello:v1\n    volumes: [\"data:/data\"]\nvolumes:\n  data: {}\n", "")
	s, _ := withVolume.Service("web")
	spec, err := ServiceSpec(withVolume, s, Target{Revision: 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		nodes    int
		volumes  []string
		mounts   bool
		withV    bool
		wantNote bool
	}{
		{name: "several nodes, no volumes", nodes: 3, withV: true},
		{name: "several nodes, volumes here", nodes: 3, volumes: []string{"proj_data"}, withV: true, wantNote: true},
		{name: "several nodes, a service mounts one, none here", nodes: 3, mounts: true, withV: true, wantNote: true},
		{name: "one node, volumes here", nodes: 1, volumes: []string{"proj_data"}, withV: true},
		{name: "several nodes, without -v", nodes: 3, volumes: []string{"proj_data"}, mounts: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obs := empty()
			obs.Nodes = make([]swarm.Node, tc.nodes)
			if tc.mounts {
				obs.Services["web"] = observeService(swarm.Service{ID: "id-web", Spec: spec})
			}
			plan := Down(obs, nil, tc.volumes, nil, nil, tc.withV)
			if got := len(plan.Notes) == 1 && strings.HasPrefix(plan.Notes[0], "volumes: only the manager's node's are removed"); got != tc.wantNote || len(plan.Notes) > 1 {
				t.Errorf("notes %q, want the volumes note: %v", plan.Notes, tc.wantNote)
			}
		})
	}
}

package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/history"
)

const historyWeb = "services:\n  web:\n    image: drover-hello:%s\n    restart: always\n    scale: 2\n    environment: {RELEASE: %q}\n"

// releases builds the world of the proof on a simulated engine:
// v1 up, v2 upgraded and confirmed, v3 upgraded and confirmed.
func releases(t *testing.T) (p3 *compose.Project, obs Observed) {
	t.Helper()
	var p *compose.Project
	for i, v := range []string{"v1", "v2", "v3"} {
		p = load(t, fmt.Sprintf(historyWeb, v, v), "web:\n  upgrade_strategy: {batch_size: 1}\n")
		if i == 0 {
			w := newWorld(p)
			w.obs.Images["drover-hello:v3"], w.obs.Images["sha256:333"] = "sha256:333", "sha256:333"
			up, err := Up(p, w.obs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			obs = simulate(t, w.obs, up)
			continue
		}
		up, err := Upgrade(p, obs, UpgradeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		obs = simulate(t, obs, up)
		confirm, err := Confirm(obs, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		obs = simulate(t, obs, confirm)
	}
	return p, obs
}

func TestHistoryOfReleases(t *testing.T) {
	_, obs := releases(t)
	hist, warnings := ServiceHistory(obs.Containers, obs.Images)
	if len(warnings) > 0 {
		t.Fatal(warnings)
	}
	var got []string
	for _, r := range hist {
		got = append(got, fmt.Sprintf("%d %s %s spec=%v", r.Number, r.Image, r.ImageID, r.Spec != nil))
	}
	want := "3 drover-hello:v3 sha256:333 spec=true|2 drover-hello:v2 sha256:222 spec=true|1 drover-hello:v1 sha256:111 spec=true"
	if strings.Join(got, "|") != want {
		t.Errorf("history:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.ReplaceAll(want, "|", "\n"))
	}
	// An older drover's container (no history label) still tells its own
	// revision.
	old := obs.Containers[0]
	old.Labels = map[string]string{LabelSpec: old.Labels[LabelSpec]}
	if h, _ := ServiceHistory([]Container{old}, obs.Images); len(h) != 1 || h[0].Number != 3 || h[0].Spec == nil {
		t.Errorf("history of a container without the label: %+v", h)
	}
}

// TestRollbackToRevision: a rollback to revision 1 after two confirmed
// upgrades makes revision 4 from revision 1's spec and image ID, though
// the tag has moved since, keeping revision 3; stopped after any step, going
// on finishes it and a plain rollback returns to revision 3's containers.
// A scale up then makes the new slot from revision 4, the one serving.
func TestRollbackToRevision(t *testing.T) {
	p3, obs := releases(t)
	obs.Images["drover-hello:v1"] = "sha256:222" // the tag moved
	v3 := map[string]string{}
	for _, c := range obs.Containers {
		v3[c.ID] = c.Name
	}
	opts := RollbackToOptions{UpgradeOptions: UpgradeOptions{Options: Options{Services: []string{"web"}, WaitTimeout: time.Minute}}, Revision: 1}
	plan, recreated, err := RollbackTo(p3, obs, opts)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(recreated, ",") != "web" {
		t.Errorf("recreated %v", recreated)
	}
	t.Logf("plan:\n%s", plan)
	for _, s := range flatten(plan.Services[0].Steps) {
		if c, ok := s.Action.(CreateContainer); ok {
			l := c.Request.Config.Labels
			if c.Request.Config.Image != "sha256:111" || l[LabelRevision] != "4" || l[LabelRollbackOf] != "1" || l[LabelImage] != "drover-hello:v1" || !strings.Contains(l[LabelSpec], `"RELEASE":"v1"`) {
				t.Errorf("create %s: image %s, labels revision %s rollback-of %s image %s", c.Request.Name, c.Request.Config.Image, l[LabelRevision], l[LabelRollbackOf], l[LabelImage])
			}
			if h, err := history.Decode(l[LabelHistory]); err != nil || len(h) != 3 || h[0].Number != 3 {
				t.Errorf("create %s: history %+v, %v; want revisions 3, 2, 1", c.Request.Name, h, err)
			}
		}
	}
	gates := strings.Count(plan.String(), "wait-healthy")
	if gates != 2 {
		t.Errorf("%d health gates, want one per batch of 1 (2)", gates)
	}
	steps := len(flatten(plan.Services[0].Steps))
	for k := 0; k <= steps; k++ {
		where := fmt.Sprintf("after step %d of %d", k, steps)
		left, _ := simulateSteps(t, obs, plan, k, "")
		// Going on: the same command finishes revision 4.
		again, _, err := RollbackTo(p3, left, opts)
		if err != nil {
			t.Errorf("%s: going on: %v", where, err)
			continue
		}
		done := simulate(t, left, again)
		view := viewOf(byService(done.Containers)["web"], 2)
		if view.State != Upgraded || view.Revision != 4 || len(view.Current) != 2 {
			t.Errorf("%s: going on left %s revision %d with %d containers", where, view.State, view.Revision, len(view.Current))
		}
		for _, c := range view.Current {
			if c.ImageID != "sha256:111" || c.Labels[LabelRollbackOf] != "1" {
				t.Errorf("%s: %s runs %s, rollback of %q", where, c.Name, c.ImageID, c.Labels[LabelRollbackOf])
			}
		}
		// What status advises in a state between revisions works: up
		// --upgrade goes on with revision 4 (from its record, not the
		// files), and --rollback goes back.
		if lv := viewOf(byService(left.Containers)["web"], 2); lv.State == Upgrading || lv.State == UpgradeFailed {
			if next := nextStep("web", lv); !strings.Contains(next, "drover up --upgrade web (go on to revision 4)") || !strings.Contains(next, "drover up --rollback web") {
				t.Errorf("%s: advice %q", where, next)
			}
			up, err := Upgrade(p3, left, UpgradeOptions{})
			if err != nil {
				t.Errorf("%s: up --upgrade: %v", where, err)
				continue
			}
			on := viewOf(byService(simulate(t, left, up).Containers)["web"], 2)
			if on.State != Upgraded || on.Revision != 4 {
				t.Errorf("%s: up --upgrade left %s revision %d", where, on.State, on.Revision)
			}
			for _, c := range on.Current {
				if c.ImageID != "sha256:111" || c.Labels[LabelRollbackOf] != "1" || !strings.Contains(c.Labels[LabelSpec], `"RELEASE":"v1"`) {
					t.Errorf("%s: after up --upgrade %s runs %s, rollback of %q", where, c.Name, c.ImageID, c.Labels[LabelRollbackOf])
				}
			}
		}
		// Back: a plain rollback returns to revision 3's containers.
		if !slices.ContainsFunc(flatten(plan.Services[0].Steps)[:k], changes) {
			continue
		}
		rb, err := Rollback(left, RollbackOptions{Timeout: time.Minute})
		if err != nil {
			t.Errorf("%s: rollback: %v", where, err)
			continue
		}
		backed := simulate(t, left, rb)
		if len(backed.Containers) != len(v3) {
			t.Errorf("%s: after the rollback %d containers, want revision 3's %d", where, len(backed.Containers), len(v3))
		}
		for _, c := range backed.Containers {
			if v3[c.ID] != c.Name || !c.Running() {
				t.Errorf("%s: after the rollback %s (revision %d) is %s", where, c.Name, c.Revision, c.State)
			}
		}
	}

	rolled := simulate(t, obs, plan)
	if again, _, err := RollbackTo(p3, rolled, opts); err != nil || !again.Empty() || !strings.Contains(again.String(), "web: revision 1 serves already (as revision 4); nothing to do") {
		t.Errorf("a rollback to revision 1 again: %v\n%s", err, again)
	}
	var made []CreateRequest
	// Scaled up before a confirm: the new slot is made from revision 4, the
	// service stays upgraded, and a rollback still returns to revision 3.
	up3, err := Up(p3, rolled, Options{Services: []string{"web"}, Scale: map[string]int{"web": 3}})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(up3.String(), "create web#3") || !strings.Contains(up3.Services[0].Left, "out of sync") {
		t.Errorf("scale up of the upgraded service:\n%s", up3)
	}
	for _, st := range flatten(up3.Services[0].Steps) {
		if c, ok := st.Action.(CreateContainer); ok && (c.Request.Config.Image != "sha256:111" || c.Request.Config.Labels[LabelRevision] != "4") {
			t.Errorf("scale up of the upgraded service makes %s on %s, revision %s", c.Request.Name, c.Request.Config.Image, c.Request.Config.Labels[LabelRevision])
		}
	}
	scaled := simulate(t, rolled, up3)
	if v := viewOf(byService(scaled.Containers)["web"], 3); v.State != Upgraded || len(v.Current) != 3 {
		t.Errorf("after the scale up: %s with %d containers", v.State, len(v.Current))
	}
	backed := simulate(t, scaled, must(Rollback(scaled, RollbackOptions{Timeout: time.Minute})))
	for _, c := range backed.Containers {
		if v3[c.ID] != c.Name || !c.Running() {
			t.Errorf("rollback after the scale up: %s (revision %d) is %s", c.Name, c.Revision, c.State)
		}
	}
	// Upgraded, and a new container removed by hand: a plain up makes it
	// again from revision 4, beside revision 3's kept one.
	gap := rolled
	gap.Containers = nil
	for _, c := range rolled.Containers {
		if !(c.Number == 1 && c.Revision == 4) {
			gap.Containers = append(gap.Containers, c)
		}
	}
	refill, err := Up(p3, gap, Options{})
	if err != nil {
		t.Fatal(err)
	}
	made = nil
	for _, st := range flatten(refill.Services[0].Steps) {
		if c, ok := st.Action.(CreateContainer); ok {
			made = append(made, c.Request)
		}
	}
	if len(made) != 1 || made[0].Name != "demo-web-1" || made[0].Config.Image != "sha256:111" || made[0].Config.Labels[LabelRevision] != "4" {
		t.Errorf("a new container removed by hand before a confirm:\n%s", refill)
	}
	if v := viewOf(byService(simulate(t, gap, refill).Containers)["web"], 2); v.State != Upgraded {
		t.Errorf("after making it again: %s", v.State)
	}
	// Once confirmed, a scale up of the out-of-sync service makes its new
	// slot from revision 4: revision 1's spec and image ID, not the files'
	// v3 nor what the v1 tag means now.
	confirmed := simulate(t, rolled, must(Confirm(rolled, nil, false)))
	scale, err := Up(p3, confirmed, Options{Services: []string{"web"}, Scale: map[string]int{"web": 3}})
	if err != nil {
		t.Fatal(err)
	}
	made = nil
	for _, s := range flatten(scale.Services[0].Steps) {
		if c, ok := s.Action.(CreateContainer); ok {
			made = append(made, c.Request)
		}
	}
	if len(made) != 1 || made[0].Config.Image != "sha256:111" || made[0].Config.Labels[LabelRevision] != "4" || made[0].Config.Labels[LabelRollbackOf] != "1" || !strings.Contains(made[0].Config.Labels[LabelSpec], `"RELEASE":"v1"`) {
		t.Errorf("scale up of the rolled-back service:\n%s", scale)
	}
	// One back from revision 4 after a confirm: revision 3 made again.
	back, _, err := RollbackTo(p3, confirmed, RollbackToOptions{UpgradeOptions: opts.UpgradeOptions})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(back.String(), "revision 3 made again") {
		t.Errorf("one back from revision 4:\n%s", back)
	}
}

func must(p Plan, err error) Plan {
	if err != nil {
		panic(err)
	}
	return p
}

func TestRollbackToRefuses(t *testing.T) {
	p3, obs := releases(t)
	opts := func(rev int) RollbackToOptions {
		return RollbackToOptions{UpgradeOptions: UpgradeOptions{Options: Options{Services: []string{"web"}}}, Revision: rev}
	}
	cases := []struct {
		name  string
		rev   int
		world func(o *Observed)
		want  string // error, or a line of the plan
	}{
		{name: "not recorded", rev: 7, want: "revision 7 is not in its history (it records 3, 2, 1"},
		{name: "serving", rev: 3, want: "note: web: revision 3 serves already; nothing to do"},
		{name: "image gone, no digest", rev: 1, world: func(o *Observed) { delete(o.Images, "sha256:111"); delete(o.Images, "drover-hello:v1") },
			want: "revision 1 ran image 111 (drover-hello:v1), which is no longer on the engine and has no repo digest to pull it by; nothing was changed"},
		{name: "image gone, pulled by digest", rev: 2, world: func(o *Observed) {
			// The history recorded the digest while the image was there.
			for i := range o.Containers {
				h, _ := history.Decode(o.Containers[i].Labels[LabelHistory])
				for j := range h {
					if h[j].Number == 2 {
						h[j].Digest = "reg.example/hello@sha256:abc"
					}
				}
				enc, _ := history.Encode(h)
				o.Containers[i].Labels[LabelHistory] = enc
			}
			delete(o.Images, "sha256:222")
		}, want: "setup: pull reg.example/hello@sha256:abc (image of revision 2, by its digest)"},
		{name: "spec not recorded", rev: 1, world: func(o *Observed) {
			for i := range o.Containers {
				h, _ := history.Decode(o.Containers[i].Labels[LabelHistory])
				for j := range h {
					h[j].Spec = nil
				}
				enc, _ := history.Encode(h)
				o.Containers[i].Labels[LabelHistory] = enc
			}
		}, want: "revision 1: its spec or image ID was not recorded"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := obs
			o.Images = map[string]string{}
			for k, v := range obs.Images {
				o.Images[k] = v
			}
			o.Containers = nil
			for _, c := range obs.Containers {
				labels := map[string]string{}
				for k, v := range c.Labels {
					labels[k] = v
				}
				c.Labels = labels
				o.Containers = append(o.Containers, c)
			}
			if tc.world != nil {
				tc.world(&o)
			}
			plan, _, err := RollbackTo(p3, o, opts(tc.rev))
			got := plan.String()
			if err != nil {
				got = err.Error()
			}
			if !strings.Contains(got, tc.want) {
				t.Errorf("got\n%s\nwant %q", got, tc.want)
			}
		})
	}
	// With nothing before revision 1, one back is nothing to roll back to.
	p1 := load(t, fmt.Sprintf(historyWeb, "v1", "v1"), "")
	w := newWorld(p1)
	first := simulate(t, w.obs, must(Up(p1, w.obs, Options{})))
	if _, _, err := RollbackTo(p1, first, RollbackToOptions{}); !errors.Is(err, ErrNothingKept) {
		t.Errorf("one back from the first revision: %v", err)
	}
}

// TestRecordedSpecMakesTheSameContainer: a revision made again from its
// recorded spec gets the create request the files gave it, key for key,
// for a service that uses much of the vocabulary.
func TestRecordedSpecMakesTheSameContainer(t *testing.T) {
	p := load(t, `
services:
  web:
    image: drover-hello:v1
    command: ["serve", "--port", "80"]
    entrypoint: ["/hello"]
    working_dir: /srv
    user: "1000:1000"
    environment: {A: "1", B: "two words"}
    ports: ["127.0.0.1:8080:80", "9000-9001:9000-9001/udp"]
    expose: ["81"]
    volumes: ["data:/data", "./conf:/conf:ro", {type: tmpfs, target: /tmp, tmpfs: {size: 1000}}]
    healthcheck: {test: ["CMD", "/hello", "-probe"], interval: 2s, timeout: 1s, retries: 3, start_period: 5s}
    restart: on-failure:3
    stop_grace_period: 7s
    stop_signal: SIGINT
    labels: {team: web}
    cap_add: [NET_ADMIN]
    extra_hosts: ["db:10.0.0.2"]
    dns: [1.1.1.1]
    sysctls: {net.core.somaxconn: "1024"}
    ulimits: {nofile: {soft: 1024, hard: 2048}}
    mem_limit: 64m
    cpus: 0.5
    init: true
    read_only: true
    logging: {driver: json-file, options: {max-size: 1m}}
    networks: {front: {aliases: [www]}, back: {}}
    pids_limit: 50
networks: {front: {}, back: {}}
volumes: {data: {}}
`, "")
	svc, _ := p.Service("web")
	files, _, err := newCreateRequest(specInput{project: p, service: svc, number: 1, revision: 2, apiVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	made, err := fromRevision(svc, history.Revision{Number: 2, Hash: svc.Hash, Spec: svc.Spec})
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := newCreateRequest(specInput{project: p, service: made, number: 1, revision: 2, apiVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(files)
	b, _ := json.Marshal(again)
	if string(a) != string(b) {
		t.Errorf("from the files:\n%s\nfrom the recorded spec:\n%s", a, b)
	}
}

// TestRecordedSpecsOfTestProjects: the same for every service of the
// loader's test projects.
func TestRecordedSpecsOfTestProjects(t *testing.T) {
	dirs, _ := filepath.Glob("../compose/testdata/projects/*")
	if len(dirs) == 0 {
		t.Fatal("no test projects")
	}
	for _, dir := range dirs {
		p, err := compose.Load(context.Background(), compose.Options{ProjectDir: dir, ProjectName: "demo"})
		if err != nil {
			continue // a project that is meant to fail
		}
		for _, svc := range p.Services {
			files, _, err := newCreateRequest(specInput{project: p, service: svc, number: 1, revision: 2, apiVersion: "1.41"})
			if err != nil {
				continue
			}
			made, err := fromRevision(svc, history.Revision{Number: 2, Hash: svc.Hash, Spec: svc.Spec})
			if err != nil {
				t.Errorf("%s %s: %v", dir, svc.Name, err)
				continue
			}
			again, _, err := newCreateRequest(specInput{project: p, service: made, number: 1, revision: 2, apiVersion: "1.41"})
			a, _ := json.Marshal(files)
			b, _ := json.Marshal(again)
			if err != nil || string(a) != string(b) {
				t.Errorf("%s %s: from the files:\n%s\nfrom the recorded spec (%v):\n%s", dir, svc.Name, a, err, b)
			}
		}
	}
}

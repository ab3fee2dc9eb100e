package reconcile

import (
	"strconv"
	"strings"
	"testing"
	"time"
)

const fourWeb = `
services:
  web:
    image: drover-hello:v2
    scale: 4
`

// pending gives a new container its pending name: created, not yet past
// its health gate.
func pending(c *Container) { c.Name = PendingName(c.Name, c.Revision) }

// outdated marks the last container as made from an older config (v1).
func outdated(c *Container) {
	c.Hash = "old"
	c.Image = "drover-hello:v1"
	c.Labels[LabelSpec] = strings.Replace(c.Labels[LabelSpec], "v2", "v1", 1)
}

func TestUpgrade(t *testing.T) {
	v1 := func(w *world, state string, ns ...int) {
		for _, n := range ns {
			w.ctr("web", n, 1, state).edit(outdated)
		}
	}
	cases := []struct {
		name    string
		rancher string
		world   func(w *world)
		opts    UpgradeOptions
		want    string
	}{
		{
			name: "active and in sync: nothing to do",
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").ctr("web", 2, 1, "running").ctr("web", 3, 1, "running").ctr("web", 4, 1, "running")
			},
			want: "",
		},
		{
			name: "out of sync, start-first, batches of 2", rancher: "web:\n  upgrade_strategy: {start_first: true, batch_size: 2, interval_millis: 500}\n",
			world: func(w *world) { v1(w, "running", 1, 2, 3, 4) },
			want: `web: batch web (1/2: web#1, web#2)
web: create web#1 (revision 2)
web: start web#1
web: create web#2 (revision 2)
web: start web#2
web: wait-healthy web (batch 1)
web: set-restart web#1 (keep for rollback)
web: stop web#1 (keep for rollback)
web: rename web#1 (keep for rollback)
web: rename web#1 (passed its health gate)
web: set-restart web#2 (keep for rollback)
web: stop web#2 (keep for rollback)
web: rename web#2 (keep for rollback)
web: rename web#2 (passed its health gate)
web: wait-interval web (500ms)
web: batch web (2/2: web#3, web#4)
web: create web#3 (revision 2)
web: start web#3
web: create web#4 (revision 2)
web: start web#4
web: wait-healthy web (batch 2)
web: set-restart web#3 (keep for rollback)
web: stop web#3 (keep for rollback)
web: rename web#3 (keep for rollback)
web: rename web#3 (passed its health gate)
web: set-restart web#4 (keep for rollback)
web: stop web#4 (keep for rollback)
web: rename web#4 (keep for rollback)
web: rename web#4 (passed its health gate)
`,
		},
		{
			name:  "out of sync, stop-first, batch size and interval from the command line",
			world: func(w *world) { v1(w, "running", 1, 2, 3, 4) },
			opts:  UpgradeOptions{BatchSize: 3, Interval: durationp(0)},
			want: `web: batch web (1/2: web#1, web#2, web#3)
web: create web#1 (revision 2)
web: set-restart web#1 (keep for rollback)
web: stop web#1 (keep for rollback)
web: rename web#1 (keep for rollback)
web: start web#1
web: create web#2 (revision 2)
web: set-restart web#2 (keep for rollback)
web: stop web#2 (keep for rollback)
web: rename web#2 (keep for rollback)
web: start web#2
web: create web#3 (revision 2)
web: set-restart web#3 (keep for rollback)
web: stop web#3 (keep for rollback)
web: rename web#3 (keep for rollback)
web: start web#3
web: wait-healthy web (batch 1)
web: rename web#1 (passed its health gate)
web: rename web#2 (passed its health gate)
web: rename web#3 (passed its health gate)
web: batch web (2/2: web#4)
web: create web#4 (revision 2)
web: set-restart web#4 (keep for rollback)
web: stop web#4 (keep for rollback)
web: rename web#4 (keep for rollback)
web: start web#4
web: wait-healthy web (batch 2)
web: rename web#4 (passed its health gate)
`,
		},
		{
			name: "in sync but forced", rancher: "web:\n  scale: 1\n",
			world: func(w *world) { w.ctr("web", 1, 1, "running") },
			opts:  UpgradeOptions{Force: []string{"web"}},
			want: `web: batch web (1/1: web#1)
web: create web#1 (revision 2)
web: set-restart web#1 (keep for rollback)
web: stop web#1 (keep for rollback)
web: rename web#1 (keep for rollback)
web: start web#1
web: wait-healthy web (batch 1)
web: rename web#1 (passed its health gate)
`,
		},
		{
			name: "interrupted upgrade goes on from where it stopped", rancher: "web:\n  upgrade_strategy: {start_first: true, batch_size: 4}\n",
			world: func(w *world) {
				// #1 done; #2's new container runs, in its health
				// wait; #3's is created, not started; #4 untouched.
				v1(w, "exited", 1)
				w.obs.Containers[0].Name = KeptName(w.obs.Containers[0].Name, 1)
				v1(w, "running", 2, 3, 4)
				w.ctr("web", 1, 2, "running").ctr("web", 2, 2, "running").edit(pending).ctr("web", 3, 2, "created").edit(pending)
			},
			want: `web: batch web (1/1: web#2, web#3, web#4)
web: start web#3 (interrupted upgrade)
web: create web#4 (revision 2)
web: start web#4
web: wait-healthy web (batch 1)
web: set-restart web#2 (keep for rollback)
web: stop web#2 (keep for rollback)
web: rename web#2 (keep for rollback)
web: rename web#2 (passed its health gate)
web: set-restart web#3 (keep for rollback)
web: stop web#3 (keep for rollback)
web: rename web#3 (keep for rollback)
web: rename web#3 (passed its health gate)
web: set-restart web#4 (keep for rollback)
web: stop web#4 (keep for rollback)
web: rename web#4 (keep for rollback)
web: rename web#4 (passed its health gate)
`,
		},
		{
			name: "upgraded and in sync: the rollback window stays open", rancher: "web:\n  scale: 1\n",
			world: func(w *world) {
				v1(w, "exited", 1)
				w.obs.Containers[0].Name = KeptName(w.obs.Containers[0].Name, 1)
				w.ctr("web", 1, 2, "running")
			},
			want: "",
		},
		{
			name: "upgraded, then changed again: confirm first, then upgrade", rancher: "web:\n  scale: 1\n",
			world: func(w *world) {
				v1(w, "exited", 1)
				w.obs.Containers[0].Name = KeptName(w.obs.Containers[0].Name, 1)
				w.ctr("web", 1, 2, "running").edit(outdated)
			},
			want: `web: remove web#1 (confirm revision 2)
web: batch web (1/1: web#1)
web: create web#1 (revision 3)
web: set-restart web#1 (keep for rollback)
web: stop web#1 (keep for rollback)
web: rename web#1 (keep for rollback)
web: start web#1
web: wait-healthy web (batch 1)
web: rename web#1 (passed its health gate)
`,
		},
		{
			name: "scale down during an upgrade keeps the surplus old containers", rancher: "web:\n  scale: 1\n",
			world: func(w *world) { v1(w, "running", 1, 2) },
			want: `web: batch web (1/1: web#1)
web: create web#1 (revision 2)
web: set-restart web#1 (keep for rollback)
web: stop web#1 (keep for rollback)
web: rename web#1 (keep for rollback)
web: start web#1
web: wait-healthy web (batch 1)
web: rename web#1 (passed its health gate)
web: set-restart web#2 (keep for rollback)
web: stop web#2 (keep for rollback)
web: rename web#2 (keep for rollback)
`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, fourWeb, tc.rancher)
			w := newWorld(p)
			tc.world(w)
			plan, err := Upgrade(p, w.obs, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.String(); got != tc.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
			// Property: after the upgrade, planning it again finds nothing
			// to do, and the service is upgraded or active.
			after := simulate(t, w.obs, plan)
			again, err := Upgrade(p, after, UpgradeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if !again.Empty() {
				t.Errorf("upgrading again after the upgrade:\n%s", again)
			}
			svc, _ := p.Service("web")
			if v := viewOf(byService(after.Containers)["web"], svc.Scale); v.State == Upgrading {
				t.Errorf("after the upgrade the service is still upgrading")
			}
		})
	}
}

func durationp(d time.Duration) *time.Duration { return &d }

func TestUpgradeErrors(t *testing.T) {
	t.Run("files changed during an upgrade", func(t *testing.T) {
		p := load(t, fourWeb, "web:\n  scale: 1\n")
		w := newWorld(p).ctr("web", 1, 1, "running")
		w.obs.Containers[0].Name = KeptName(w.obs.Containers[0].Name, 1)
		w.ctr("web", 1, 2, "created").edit(func(c *Container) { c.Hash = "other" })
		_, err := Upgrade(p, w.obs, UpgradeOptions{})
		if err == nil || !strings.Contains(err.Error(), "the files have changed since; finish it with the files it started from, or roll it back") {
			t.Errorf("error %v", err)
		}
	})
	t.Run("start-first with a host port", func(t *testing.T) {
		p := load(t, "services:\n  web:\n    image: drover-hello:v2\n    ports: ['127.0.0.1:8991:80']\n    x-drover: {proxy: false}\n", "web:\n  upgrade_strategy: {start_first: true}\n")
		w := newWorld(p).ctr("web", 1, 1, "running").edit(outdated)
		_, err := Upgrade(p, w.obs, UpgradeOptions{})
		if err == nil || !strings.Contains(err.Error(), `service "web": a start-first upgrade runs the old and the new container side by side, and both cannot publish host port 8991; use stop-first`) {
			t.Errorf("error %v", err)
		}
	})
}

// upgraded builds a service of four at revision 2 with revision 1 kept.
func upgraded(t *testing.T, ports bool) *world {
	p := load(t, fourWeb, "")
	w := newWorld(p)
	for n := 1; n <= 4; n++ {
		w.ctr("web", n, 1, "exited").edit(func(c *Container) { c.Name = KeptName(c.Name, 1) })
		w.ctr("web", n, 2, "running")
		if ports {
			w.edit(func(c *Container) {
				c.Ports = []Port{{HostIP: "127.0.0.1", HostPort: uint16(8000 + n), Port: 80, Protocol: "tcp"}}
			})
		}
	}
	sortContainers(w.obs.Containers)
	return w
}

func TestRollback(t *testing.T) {
	cases := []struct {
		name  string
		world func(t *testing.T) *world
		want  string
	}{
		{
			name:  "upgraded: kept containers back under their names, new ones removed",
			world: func(t *testing.T) *world { return upgraded(t, false) },
			want: `web: rename web#1 (frees its name)
web: rename web#1 (back to revision 1)
web: set-restart web#1 (its own restart policy)
web: start web#1 (revision 1)
web: rename web#2 (frees its name)
web: rename web#2 (back to revision 1)
web: set-restart web#2 (its own restart policy)
web: start web#2 (revision 1)
web: rename web#3 (frees its name)
web: rename web#3 (back to revision 1)
web: set-restart web#3 (its own restart policy)
web: start web#3 (revision 1)
web: rename web#4 (frees its name)
web: rename web#4 (back to revision 1)
web: set-restart web#4 (its own restart policy)
web: start web#4 (revision 1)
web: wait-healthy web (revision 1)
web: stop web#1 (rolled back from revision 2)
web: remove web#1 (rolled back from revision 2)
web: stop web#2 (rolled back from revision 2)
web: remove web#2 (rolled back from revision 2)
web: stop web#3 (rolled back from revision 2)
web: remove web#3 (rolled back from revision 2)
web: stop web#4 (rolled back from revision 2)
web: remove web#4 (rolled back from revision 2)
`,
		},
		{
			name: "with host ports the new containers stop first",
			world: func(t *testing.T) *world {
				w := upgraded(t, true)
				var slot1 []Container
				for _, c := range w.obs.Containers {
					if c.Number == 1 {
						slot1 = append(slot1, c)
					}
				}
				w.obs.Containers = slot1
				return w
			},
			want: `web: stop web#1 (frees its host ports)
web: rename web#1 (frees its name)
web: rename web#1 (back to revision 1)
web: set-restart web#1 (its own restart policy)
web: start web#1 (revision 1)
web: wait-healthy web (revision 1)
web: remove web#1 (rolled back from revision 2)
`,
		},
		{
			name: "upgrading: the untouched old containers stay as they are",
			world: func(t *testing.T) *world {
				p := load(t, fourWeb, "")
				w := newWorld(p)
				w.ctr("web", 1, 1, "exited").edit(func(c *Container) { c.Name = KeptName(c.Name, 1) })
				w.ctr("web", 2, 1, "running")
				w.ctr("web", 1, 2, "running")
				return w
			},
			want: `web: rename web#1 (frees its name)
web: rename web#1 (back to revision 1)
web: set-restart web#1 (its own restart policy)
web: start web#1 (revision 1)
web: set-restart web#2 (its own restart policy)
web: wait-healthy web (revision 1)
web: stop web#1 (rolled back from revision 2)
web: remove web#1 (rolled back from revision 2)
`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.world(t)
			before := map[string]string{}
			for _, c := range w.obs.Containers {
				if c.Revision == 1 {
					before[c.ID] = canonicalName(c.Name)
				}
			}
			plan, err := Rollback(w.obs, RollbackOptions{Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.String(); got != tc.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
			// Property: afterwards only the revision 1 containers are left,
			// the same ones, running under their own names.
			after := simulate(t, w.obs, plan)
			for _, c := range after.Containers {
				if c.Revision != 1 || !c.Running() || before[c.ID] != c.Name {
					t.Errorf("after the rollback: %s (%s) revision %d %s", c.Name, c.ID, c.Revision, c.State)
				}
			}
			if len(after.Containers) != len(before) {
				t.Errorf("%d containers after the rollback, want the %d kept ones", len(after.Containers), len(before))
			}
		})
	}
}

func TestRollbackNothingKept(t *testing.T) {
	p := load(t, fourWeb, "")
	w := newWorld(p).ctr("web", 1, 1, "running")
	if _, err := Rollback(w.obs, RollbackOptions{Services: []string{"web"}, Timeout: time.Minute}); err == nil || !strings.Contains(err.Error(), `service "web": nothing to roll back to`) {
		t.Errorf("error %v", err)
	}
	if _, err := Rollback(w.obs, RollbackOptions{Timeout: time.Minute}); err != ErrNothingKept {
		t.Errorf("error %v, want ErrNothingKept", err)
	}
}

func TestConfirm(t *testing.T) {
	w := upgraded(t, false)
	plan, err := Confirm(w.obs, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `web: remove web#1 (confirm revision 2)
web: remove web#2 (confirm revision 2)
web: remove web#3 (confirm revision 2)
web: remove web#4 (confirm revision 2)
`
	if got := plan.String(); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	for _, c := range simulate(t, w.obs, plan).Containers {
		if c.Revision != 2 {
			t.Errorf("%s of revision %d left", c.Name, c.Revision)
		}
	}

	// A service still upgrading cannot be confirmed.
	for i, c := range w.obs.Containers {
		if c.Revision == 1 {
			w.obs.Containers[i].State = "running"
			break
		}
	}
	if _, err := Confirm(w.obs, nil, false); err == nil || !strings.Contains(err.Error(), "the upgrade to revision 2 is not finished") {
		t.Errorf("confirm while upgrading: %v", err)
	}
}

func TestBatches(t *testing.T) {
	cases := []struct {
		n, size int
		want    string
	}{
		{0, 2, "[]"}, {1, 2, "[{0 1}]"}, {4, 2, "[{0 2} {2 4}]"}, {5, 2, "[{0 2} {2 4} {4 5}]"}, {3, 0, "[{0 1} {1 2} {2 3}]"}, {2, 10, "[{0 2}]"},
	}
	for _, tc := range cases {
		if got := fmtBatches(Batches(tc.n, tc.size)); got != tc.want {
			t.Errorf("Batches(%d, %d) = %s, want %s", tc.n, tc.size, got, tc.want)
		}
	}
}

func fmtBatches(b []BatchRange) string {
	var parts []string
	for _, r := range b {
		parts = append(parts, "{"+strconv.Itoa(r.From)+" "+strconv.Itoa(r.To)+"}")
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func TestUpgradeRunOnce(t *testing.T) {
	p := load(t, `
services:
  job:
    image: drover-hello:v2
    scale: 2
    labels: {io.rancher.container.start_once: "true"}
`, "job:\n  upgrade_strategy: {batch_size: 1}\n")
	w := newWorld(p)
	// Slot 1 is upgraded and its new container has run and exited 0;
	// slot 2 still runs the old revision.
	w.ctr("job", 1, 1, "exited").edit(outdated).edit(func(c *Container) { c.Name = KeptName(c.Name, 1) })
	w.ctr("job", 2, 1, "running").edit(outdated)
	w.ctr("job", 1, 2, "exited")
	plan, err := Upgrade(p, w.obs, UpgradeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := `job: batch job (1/1: job#2)
job: create job#2 (revision 2)
job: set-restart job#2 (keep for rollback)
job: stop job#2 (keep for rollback)
job: rename job#2 (keep for rollback)
job: start job#2
job: wait-ready job (batch 1)
job: rename job#2 (passed its health gate)
`
	if got := plan.String(); got != want {
		t.Errorf("plan:\n%s\nwant (job#1 has completed: it is done):\n%s", got, want)
	}
}

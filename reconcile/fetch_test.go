package reconcile

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/drover/drover/compose"
)

func TestRefresh(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	files := `
services:
  always:
    image: drover-hello:v1
    labels: {io.rancher.container.pull_image: always}
  same-image:
    image: drover-hello:v1
    pull_policy: always
  daily:
    image: drover-hello:v2
    pull_policy: daily
  absent:
    image: registry.example/absent:1
    pull_policy: always
  missing:
    image: drover-hello:v2
  built:
    build: .
    pull_policy: build
`
	for _, tc := range []struct {
		name     string
		services []string
		tagged   time.Time
		override compose.PullMode
		want     string
	}{
		{name: "always pulls present images once each, build builds, daily fresh waits", tagged: now.Add(-time.Hour), want: `setup: build demo-built (pull build (pull_policy))
setup: pull drover-hello:v1 (pull always (label io.rancher.container.pull_image))
`},
		{name: "daily pulls a tag older than a day", services: []string{"daily"}, tagged: now.Add(-25 * time.Hour),
			want: "setup: pull drover-hello:v2 (pull refresh every 24h0m0s (pull_policy))\n"},
		{name: "daily with an unknown tag time does not pull", services: []string{"daily"}, want: ""},
		{name: "--pull never overrides every policy", override: compose.PullNever, want: ""},
		{name: "--pull always overrides", services: []string{"missing"}, override: compose.PullAlways,
			want: "setup: pull drover-hello:v2 (pull always (--pull))\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, files, "")
			if tc.override != "" {
				p.OverridePull(tc.override)
			}
			w := newWorld(p)
			w.obs.Images[NormalizeRef("demo-built")] = "sha256:333"
			tagged := map[string]time.Time{"drover-hello:v2": tc.tagged, "drover-hello:v1": tc.tagged}
			plan, err := Refresh(p, tc.services, w.obs, tagged, now)
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.String(); got != tc.want {
				t.Fatalf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestFetchLanesBound(t *testing.T) {
	var steps []Step
	for _, ref := range []string{"a", "b", "c", "d", "e", "f"} {
		steps = append(steps, Step{Target: ref, Action: PullImage{Ref: ref}})
	}
	steps = append(steps, Step{Target: "x", Action: BuildImage{}}, Step{Target: "y", Action: BuildImage{}})
	got := fetchLanes(steps)
	l, ok := got[0].Action.(Lanes)
	if len(got) != 1 || !ok || l.Max != FetchParallel || len(l.Lanes) != 7 || len(l.Lanes[0]) != 2 {
		t.Fatalf("fetchLanes: %+v; want one Lanes step bounded by %d, the builds in one lane first", got, FetchParallel)
	}
	if s := (Plan{Setup: got}).String(); !strings.HasPrefix(s, "setup: build x\nsetup: build y\nsetup: pull a\n") {
		t.Fatalf("plan:\n%s", s)
	}
}

func TestBuildAndPushPlans(t *testing.T) {
	p := load(t, `
services:
  web:
    build: .
    image: r.example/web:1
  worker:
    build: .
    image: r.example/web:1
  local:
    build: .
  cache:
    image: r.example/cache:7
`, "")
	plan, err := BuildPlan(p, nil, BuildOptions{NoCache: true, Args: map[string]string{"RELEASE": "2"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := plan.String(); got != "setup: build demo-local (local)\nsetup: build r.example/web:1 (web)\n" {
		t.Fatalf("build plan:\n%s", got)
	}
	spec := plan.Setup[1].Action.(BuildImage).Spec
	if !spec.NoCache || spec.Args["RELEASE"] == nil || *spec.Args["RELEASE"] != "2" {
		t.Fatalf("build spec %+v lacks --no-cache or --build-arg", spec)
	}
	push, err := PushPlan(p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := push.String(); got != "setup: push r.example/web:1 (web)\n" {
		t.Fatalf("push plan:\n%s", got)
	}
	if _, err := PushPlan(p, []string{"cache"}); err == nil || !strings.Contains(err.Error(), `service "cache": nothing to push`) {
		t.Fatalf("push of a service that does not build: %v", err)
	}
}

// pullCounter is an engine whose pulls take a moment and count how many
// run at once.
type pullCounter struct {
	Engine
	mu            sync.Mutex
	now, most, n  int
	progressCalls int
}

func (e *pullCounter) PullImage(ctx context.Context, ref string, progress func(Progress)) error {
	e.mu.Lock()
	e.now++
	e.n++
	e.most = max(e.most, e.now)
	e.mu.Unlock()
	progress(Progress{Layers: 1, LayersDone: 1, Bytes: 10, BytesDone: 10})
	time.Sleep(20 * time.Millisecond)
	e.mu.Lock()
	e.now--
	e.mu.Unlock()
	return nil
}

func TestApplyPullsInParallelWithABound(t *testing.T) {
	var steps []Step
	for i := range 10 {
		ref := fmt.Sprintf("r.example/s%d:1", i)
		steps = append(steps, Step{Target: ref, Action: PullImage{Ref: ref}})
	}
	e := &pullCounter{}
	var progress int
	err := Apply(context.Background(), e, Plan{Setup: fetchLanes(steps)}, func(ev Event) {
		if ev.Phase == Underway && ev.Progress != nil && ev.Progress.LayersDone == 1 {
			progress++
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if e.n != 10 || e.most != FetchParallel || progress != 10 {
		t.Fatalf("%d pulls, at most %d at once, %d progress events; want 10, %d, 10", e.n, e.most, progress, FetchParallel)
	}
}

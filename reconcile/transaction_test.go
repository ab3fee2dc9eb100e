package reconcile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/compose"
)

// TestUpgradeIsATransaction stops an upgrade after every step (as a kill
// would: a prefix of the plan carried out) and checks, from the state left,
// that the advice drover gives is right and that both ways out work: an
// up --upgrade finishes the upgrade (good image) or fails and rolls back
// (crashing image), and a rollback brings back the original containers
// under their own names with their own restart policy.
func TestUpgradeIsATransaction(t *testing.T) {
	modes := []struct {
		name, compose, rancher string
		scale                  int
		ports                  bool
	}{
		{"stop-first, scale 1, host port", "services:\n  web:\n    image: drover-hello:%s\n    restart: always\n    ports: ['127.0.0.1:8991:80']\n    x-drover: {proxy: false}\n", "web:\n  upgrade_strategy: {start_first: false}\n", 1, true},
		{"stop-first, scale 4", "services:\n  web:\n    image: drover-hello:%s\n    restart: unless-stopped\n    scale: 4\n", "web:\n  upgrade_strategy: {start_first: false, batch_size: 2}\n", 4, false},
		{"start-first, scale 4", "services:\n  web:\n    image: drover-hello:%s\n    restart: always\n    scale: 4\n", "web:\n  upgrade_strategy: {start_first: true, batch_size: 3}\n", 4, false},
		// With hooks, a run stopped between a pre_stop hook and its stop,
		// or between a start and its post_start hook, must run them.
		{"stop-first, scale 2, hooks", hooksFile, "web:\n  upgrade_strategy: {start_first: false, batch_size: 1}\n", 2, false},
		{"start-first, scale 3, hooks", hooksFile, "web:\n  scale: 3\n  upgrade_strategy: {start_first: true, batch_size: 2}\n", 3, false},
		// A primary with its sidekick: both upgraded in the same batches.
		{"stop-first, scale 3, sidekick", sidekickFile, "web:\n  scale: 3\n  upgrade_strategy: {start_first: false, batch_size: 2}\n", 3, false},
		{"start-first, scale 2, sidekick", sidekickFile, "web:\n  scale: 2\n  upgrade_strategy: {start_first: true, batch_size: 1}\n", 2, false},
	}
	for _, m := range modes {
		images := []string{"v2", "broken"}
		if m.compose == hooksFile {
			images = append(images, failingHook)
		}
		for _, image := range images {
			t.Run(m.name+", "+image, func(t *testing.T) {
				p1 := load(t, fmt.Sprintf(m.compose, "v1"), m.rancher)
				// The revision that runs: made by a plain up of v1.
				w := newWorld(p1)
				up, err := Up(p1, w.obs, Options{})
				if err != nil {
					t.Fatal(err)
				}
				start := simulate(t, w.obs, up)
				original := map[string]string{} // ID -> name
				for _, c := range start.Containers {
					original[c.ID] = c.Name
				}
				bad := ""
				file := fmt.Sprintf(m.compose, image)
				switch image {
				case "broken":
					bad = "drover-hello:broken"
					start.Images[bad] = "sha256:bad"
				case failingHook:
					bad = failingHook
					file = strings.ReplaceAll(fmt.Sprintf(m.compose, "v2"), "[/hello, -append, /hooks/started]", "[/hello, -exit, '3']")
				}
				p2 := load(t, file, m.rancher)
				plan, err := Upgrade(p2, start, UpgradeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				steps := len(flatten(webSteps(plan)))
				if steps < 4 {
					t.Fatalf("upgrade plan of %d steps:\n%s", steps, plan)
				}
				for k := 0; k <= steps; k++ {
					left, failed := simulateSteps(t, start, plan, k, bad)
					if failed && k < steps {
						// A run stops at a failed wait: later steps are
						// never reached.
						if _, f := simulateSteps(t, start, plan, k-1, bad); f {
							continue
						}
					}
					changed := slices.ContainsFunc(flatten(webSteps(plan))[:k], changes)
					where := fmt.Sprintf("after step %d of %d", k, steps)
					var last Step
					if k > 0 {
						last = flatten(webSteps(plan))[k-1]
					}
					checkInvariants(t, where, left, last, m.scale, original)
					checkAdvice(t, where, left, changed)
					finish(t, where, p2, left, bad, m.scale, original)
					back(t, where, left, changed, original)
				}
			})
		}
	}
}

// hooksFile is a service with both hooks, the pre_stop one with a secret in
// its environment.
const hooksFile = `services:
  web:
    image: drover-hello:%s
    restart: always
    scale: 2
    post_start:
      - command: [/hello, -append, /hooks/started]
    pre_stop:
      - command: [/hello, -append, /hooks/stopping]
        environment: {TOKEN: s3cret}
`

// sidekickFile is a primary that takes its volumes from its sidekick.
const sidekickFile = `services:
  web:
    image: drover-hello:%[1]s
    restart: always
    labels: {io.rancher.sidekicks: data}
    volumes_from: [data]
  data:
    image: drover-hello:%[1]s
    restart: unless-stopped
`

// checkInvariants: every slot has a container of the old revision or a
// new one that holds or will take its name; the containers are the original
// ones and the new revision's, nothing else; a kept container, and a new
// one until it passes, has restart policy "no".
func checkInvariants(t *testing.T, where string, obs Observed, last Step, scale int, original map[string]string) {
	t.Helper()
	slots := map[string]int{}
	for _, c := range obs.Containers {
		slots[c.Target()]++
		if _, ok := original[c.ID]; !ok && c.Revision != 2 {
			t.Errorf("%s: %s is neither an original container nor of revision 2", where, c.Name)
		}
		// A new container gets its own policy right before it takes its
		// slot's name: only a run stopped between the two leaves it so.
		justSet := last.Action == SetRestartPolicy{Ref: c.Name, Policy: c.RestartPolicy}
		if c.Revision == 2 && !Passed(c) && c.Labels[liveRestart] != "no" && !justSet {
			t.Errorf("%s: %s has not passed its gate but has restart policy %q", where, c.Name, c.Labels[liveRestart])
		}
		if c.Revision == 1 && c.Name != original[c.ID] && c.Labels[liveRestart] != "no" {
			t.Errorf("%s: %s left its slot's name but keeps restart policy %q", where, c.Name, c.Labels[liveRestart])
		}
	}
	for _, service := range servicesOf(obs) {
		for n := 1; n <= scale; n++ {
			target := fmt.Sprintf("%s#%d", service, n)
			if slots[target] == 0 || slots[target] > 2 {
				t.Errorf("%s: slot %s has %d containers", where, target, slots[target])
			}
		}
	}
}

// checkAdvice: the next step status gives names only commands that work,
// and confirm is refused unless every new container passed.
func checkAdvice(t *testing.T, where string, obs Observed, changed bool) {
	t.Helper()
	// A unit (web and its sidekick) is confirmed as one: confirm must be
	// accepted when no member is upgrading or failed, refused otherwise.
	active, confirmable := true, true
	for _, service := range servicesOf(obs) {
		view := viewOf(byService(obs.Containers)[service], 0)
		next := nextStep(service, view)
		active = active && view.State == Active
		confirmable = confirmable && view.State != Upgrading && view.State != UpgradeFailed
		if view.State != Active && !strings.Contains(next, "--rollback "+service) {
			t.Errorf("%s (%s): advice %q does not offer the rollback", where, view.State, next)
		}
		if strings.Contains(next, "--confirm-upgrade") && view.State != Upgraded {
			t.Errorf("%s: advice %q offers a confirm in state %s", where, next, view.State)
		}
	}
	if changed && active {
		t.Errorf("%s: the service is active, but the upgrade changed the engine", where)
	}
	_, err := Confirm(obs, []string{"web"}, false)
	if confirmable && err != nil {
		t.Errorf("%s: confirm of an upgraded service refused: %v", where, err)
	}
	if !confirmable && err == nil {
		t.Errorf("%s: confirm of a service upgrading or failed accepted", where)
	}
}

// finish runs up --upgrade from the state left, and on failure the failure
// action (rollback), as cmd/drover does.
func finish(t *testing.T, where string, p2 *compose.Project, obs Observed, bad string, scale int, original map[string]string) {
	t.Helper()
	plan, err := Upgrade(p2, obs, UpgradeOptions{})
	if err != nil {
		t.Errorf("%s: up --upgrade: %v", where, err)
		return
	}
	after, failed := simulateSteps(t, obs, plan, -1, bad)
	if bad == "" {
		for _, service := range servicesOf(after) {
			view := viewOf(byService(after.Containers)[service], scale)
			if failed || view.State != Upgraded || len(view.Current) != scale {
				t.Errorf("%s: up --upgrade left %s %s with %d new containers (failed %v)", where, service, view.State, len(view.Current), failed)
			}
		}
		view := viewOf(byService(after.Containers)["web"], scale)
		for _, c := range view.Current {
			if !c.Running() || !Passed(c) || c.Labels[liveRestart] != c.RestartPolicy {
				t.Errorf("%s: after up --upgrade, %s is %s with restart policy %q (its own: %q)", where, c.Name, c.State, c.Labels[liveRestart], c.RestartPolicy)
			}
		}
		for _, c := range view.Kept {
			if _, ok := original[c.ID]; !ok || c.Running() || c.Labels[liveRestart] != "no" {
				t.Errorf("%s: after up --upgrade, kept %s (%s, policy %q) is not an original container kept stopped with policy no", where, c.Name, c.State, c.Labels[liveRestart])
			}
		}
		if again, err := Upgrade(p2, after, UpgradeOptions{}); err != nil || !again.Empty() {
			t.Errorf("%s: upgrading again after finishing: %v\n%s", where, err, again)
		}
		return
	}
	if !failed {
		t.Errorf("%s: up --upgrade of a crashing image did not fail", where)
		return
	}
	rb, err := Rollback(after, RollbackOptions{Services: []string{"web"}, Timeout: time.Minute})
	if err != nil {
		t.Errorf("%s: the failure action's rollback: %v", where, err)
		return
	}
	checkOriginal(t, where+", up --upgrade failed and rolled back", simulate(t, after, rb), original)
}

// back runs up --rollback from the state left.
func back(t *testing.T, where string, obs Observed, changed bool, original map[string]string) {
	t.Helper()
	plan, err := Rollback(obs, RollbackOptions{Timeout: time.Minute})
	if !changed {
		if !errors.Is(err, ErrNothingKept) {
			t.Errorf("%s: rollback before any change: %v", where, err)
		}
		return
	}
	if err != nil {
		t.Errorf("%s: rollback: %v", where, err)
		return
	}
	checkOriginal(t, where+", rolled back", simulate(t, obs, plan), original)
}

// checkOriginal: exactly the original containers, running, under their
// own names, with their own restart policy.
func checkOriginal(t *testing.T, where string, obs Observed, original map[string]string) {
	t.Helper()
	var ids []string
	for _, c := range obs.Containers {
		ids = append(ids, c.ID)
		name, ok := original[c.ID]
		switch {
		case !ok:
			t.Errorf("%s: %s (revision %d) is left", where, c.Name, c.Revision)
		case c.Name != name || !c.Running():
			t.Errorf("%s: %s is %s under the name %s", where, name, c.State, c.Name)
		case c.Labels[liveRestart] != "" && c.Labels[liveRestart] != c.RestartPolicy:
			t.Errorf("%s: %s has restart policy %q, not its own %q", where, name, c.Labels[liveRestart], c.RestartPolicy)
		}
	}
	if len(ids) != len(original) {
		t.Errorf("%s: %d containers, want the %d original ones", where, len(ids), len(original))
	}
	if view := viewOf(byService(obs.Containers)["web"], 0); view.State != Active || slices.ContainsFunc(obs.Containers, func(c Container) bool { return c.Revision != 1 }) {
		t.Errorf("%s: state %s", where, view.State)
	}
}

func servicesOf(obs Observed) []string {
	var out []string
	for name := range byService(obs.Containers) {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// changes reports whether a step changes the engine.
func changes(s Step) bool {
	switch s.Action.(type) {
	case Batch, Wait, Sleep:
		return false
	}
	return true
}

// TestFailedRollbackGoesForward: when the kept revision does not come back
// (here its containers exit as soon as they start), Forward puts the new
// revision back: passed, running, under the slots' names, with its own
// policy, and the old one kept again.
func TestFailedRollbackGoesForward(t *testing.T) {
	for _, compose := range []string{
		"services:\n  web:\n    image: drover-hello:%s\n    restart: always\n    ports: ['127.0.0.1:8991:80']\n",
		"services:\n  web:\n    image: drover-hello:%s\n    restart: always\n    scale: 3\n",
	} {
		p1 := load(t, fmt.Sprintf(compose, "v1"), "")
		w := newWorld(p1)
		up, err := Up(p1, w.obs, Options{})
		if err != nil {
			t.Fatal(err)
		}
		start := simulate(t, w.obs, up)
		p2 := load(t, fmt.Sprintf(compose, "v2"), "")
		upgrade, err := Upgrade(p2, start, UpgradeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		upgraded := simulate(t, start, upgrade)
		rb, err := Rollback(upgraded, RollbackOptions{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		failed, bad := simulateSteps(t, upgraded, rb, -1, "drover-hello:v1")
		if !bad {
			t.Fatalf("the rollback to a revision that exits did not fail")
		}
		fw, err := Forward(failed, RollbackOptions{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		after := simulate(t, failed, fw)
		view := viewOf(byService(after.Containers)["web"], 0)
		if view.State != Upgraded {
			t.Errorf("after going forward: %s\n%s", view.State, fw)
		}
		for _, c := range view.Current {
			if !c.Running() || !Passed(c) || c.Labels[liveRestart] != c.RestartPolicy {
				t.Errorf("after going forward: %s is %s, policy %q", c.Name, c.State, c.Labels[liveRestart])
			}
		}
		for _, c := range view.Kept {
			if c.Running() || !isKept(c) || c.Labels[liveRestart] != "no" {
				t.Errorf("after going forward: kept %s is %s, policy %q", c.Name, c.State, c.Labels[liveRestart])
			}
		}
	}
}

// TestProxySwitchesNeverServeAStoppedContainer walks an upgrade and a
// rollback of a service behind the front proxy one step at a time and
// checks, after every step, that each backend the proxy was last told to
// serve is running (a container leaves the serving set, and drains, before
// it stops; it enters only once it has passed its gate), and that the last
// table serves exactly the revision the command went to.
func TestProxySwitchesNeverServeAStoppedContainer(t *testing.T) {
	for _, rancher := range []string{
		"web:\n  upgrade_strategy: {start_first: true, batch_size: 1}\n",
		"web:\n  upgrade_strategy: {start_first: false, batch_size: 1}\n",
		"web:\n  upgrade_strategy: {start_first: false, batch_size: 2}\n",
	} {
		for _, scale := range []int{1, 3} {
			file := "services:\n  web:\n    image: drover-hello:%s\n    scale: %d\n    ports: ['127.0.0.1:8991:80']\n    x-drover: {proxy: true}\n"
			p1 := load(t, fmt.Sprintf(file, "v1", scale), rancher)
			w := newWorld(p1)
			w.obs.Images[ProxyImage] = "sha256:proxy"
			up, err := Up(p1, w.obs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			start := simulate(t, w.obs, up)
			checkServing(t, "up", start, lastTable(up, -1), 1, scale)
			start.Proxy = &Container{ID: "proxy", Name: "demo-proxy", Image: ProxyImage, State: "running", Labels: map[string]string{LabelProxy: routesLabel(proxyRoutes(p1))}}
			p2 := load(t, fmt.Sprintf(file, "v2", scale), rancher)
			plan, err := Upgrade(p2, start, UpgradeOptions{})
			if err != nil {
				t.Fatal(err)
			}
			steps := flatten(plan.Services[0].Steps)
			for k := 0; k <= len(steps); k++ {
				left, _ := simulateSteps(t, start, plan, k, "")
				where := fmt.Sprintf("%s scale %d, upgrade after step %d of %d", strings.TrimSpace(rancher), scale, k, len(steps))
				checkServing(t, where, left, lastTable(plan, k), 0, 0)
			}
			upgraded := simulate(t, start, plan)
			checkServing(t, "after the upgrade", upgraded, lastTable(plan, -1), 2, scale)
			rb, err := Rollback(upgraded, RollbackOptions{Timeout: time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			rsteps := flatten(rb.Services[0].Steps)
			for k := 0; k <= len(rsteps); k++ {
				left, _ := simulateSteps(t, upgraded, rb, k, "")
				table := lastTable(rb, k)
				if table == nil {
					table = lastTable(plan, -1)
				}
				checkServing(t, fmt.Sprintf("%s scale %d, rollback after step %d", strings.TrimSpace(rancher), scale, k), left, table, 0, 0)
			}
			checkServing(t, "after the rollback", simulate(t, upgraded, rb), lastTable(rb, -1), 1, scale)
		}
	}
}

// lastTable is the serving backends of the last proxy switch among the
// first k steps (all when k < 0); nil when there was none.
func lastTable(plan Plan, k int) []string {
	var steps []Step
	steps = append(steps, plan.Setup...)
	for _, sp := range plan.Services {
		steps = append(steps, sp.Steps...)
	}
	var out []string
	for n, s := range flatten(steps) {
		if k >= 0 && n >= k+len(flatten(plan.Setup)) {
			break
		}
		if a, ok := s.Action.(ProxyApply); ok {
			out = []string{}
			for _, b := range a.Routes[0].Backends {
				if b.State == "serving" {
					out = append(out, strings.Split(b.Addr, ":")[0])
				}
			}
		}
	}
	return out
}

// checkServing: every serving backend is a running container; with
// revision > 0, they are exactly scale containers of that revision.
func checkServing(t *testing.T, where string, obs Observed, serving []string, revision, scale int) {
	t.Helper()
	byHost := map[string]Container{}
	for _, c := range obs.Containers {
		byHost[BackendHost(c)] = c
	}
	for _, host := range serving {
		c, ok := byHost[host]
		if !ok || !c.Running() {
			t.Errorf("%s: the proxy serves %s, which is %s", where, host, c.State)
		}
		if revision > 0 && c.Revision != revision {
			t.Errorf("%s: the proxy serves %s of revision %d, want %d", where, host, c.Revision, revision)
		}
	}
	if revision > 0 && len(serving) != scale {
		t.Errorf("%s: the proxy serves %v, want %d backends", where, serving, scale)
	}
}

// The proxy is replaced only when asked: a change of its ports is said, and
// done with RecreateProxy; another drover build keeps the running proxy.
func TestProxyReplacedOnlyWhenAsked(t *testing.T) {
	file := "services:\n  web:\n    image: drover-hello:v1\n    ports: ['127.0.0.1:%d:80']\n    x-drover: {proxy: true}\n"
	old := load(t, fmt.Sprintf(file, 8991), "")
	running := &Container{ID: "proxy", Name: "demo-proxy", Image: "drover-proxy:old-build", State: "running", Labels: map[string]string{LabelProxy: routesLabel(proxyRoutes(old))}}
	obs := Observed{Project: "demo", Proxy: running, Images: map[string]string{"drover-proxy:new-build": "sha256:p"}, ProxyImage: "drover-proxy:new-build"}

	steps, notes, err := proxySetup(old, obs, false)
	if err != nil || len(steps) != 0 || len(notes) != 0 {
		t.Errorf("another build, same ports: steps %v notes %v err %v; want the running proxy kept", steps, notes, err)
	}
	moved := load(t, fmt.Sprintf(file, 8992), "")
	steps, notes, _ = proxySetup(moved, obs, false)
	if len(steps) != 0 || len(notes) != 1 || !strings.Contains(notes[0], "it has 8991 → web:80, the files ask for 8992 → web:80); run drover up --recreate-proxy") {
		t.Errorf("ports changed, not asked: steps %v notes %v", steps, notes)
	}
	steps, _, _ = proxySetup(moved, obs, true)
	var kinds []string
	for _, s := range steps {
		kinds = append(kinds, s.Action.Kind())
	}
	if strings.Join(kinds, " ") != "remove create-volume create start create start" {
		t.Errorf("ports changed, asked: %v", kinds)
	}
}

// webSteps is the steps of service web, which holds its sidekicks' too.
func webSteps(plan Plan) []Step {
	for _, sp := range plan.Services {
		if sp.Service == "web" {
			return sp.Steps
		}
	}
	return nil
}

// TestRollbackDrainsAsTheFilesSay: a rollback's switch waits for the
// drained containers as long as drain_timeout_ms says when the files are
// there (the default 30 s without them), as the upgrade's switches did.
func TestRollbackDrainsAsTheFilesSay(t *testing.T) {
	file := "services:\n  web:\n    image: drover-hello:%s\n    ports: ['127.0.0.1:8991:80']\n    x-drover: {proxy: true}\n"
	rancher := "web:\n  drain_timeout_ms: 8000\n  upgrade_strategy: {start_first: true}\n"
	start := upBehindProxy(t, load(t, fmt.Sprintf(file, "v1"), rancher))
	p2 := load(t, fmt.Sprintf(file, "v2"), rancher)
	plan, err := Upgrade(p2, start, UpgradeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	upgraded := simulate(t, start, plan)
	drains := func(p Plan) (out []time.Duration) {
		for _, st := range p.Services[0].Steps {
			if a, ok := st.Action.(ProxyApply); ok {
				out = append(out, a.DrainTimeout)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		files map[string]time.Duration
		want  time.Duration
	}{
		{"with the files", DrainTimeouts(p2), 8 * time.Second},
		{"without files", nil, DefaultDrainTimeout},
	} {
		rb, err := Rollback(upgraded, RollbackOptions{Timeout: time.Minute, DrainTimeouts: tc.files})
		if err != nil {
			t.Fatal(err)
		}
		got := drains(rb)
		if len(got) == 0 {
			t.Fatalf("%s: no switch in the rollback:\n%s", tc.name, rb)
		}
		for _, d := range got {
			if d != tc.want {
				t.Errorf("%s: a switch drains for %s, want %s", tc.name, d, tc.want)
			}
		}
	}
	if got := drains(plan); len(got) == 0 || got[0] != 8*time.Second {
		t.Errorf("the upgrade's switches drain for %v, want 8s", got)
	}
}

// Behind the proxy, a container that leaves (a scale down, in an up or in
// an upgrade) is drained before it stops: a switch lists it as draining,
// and no later switch before its stop serves it.
func TestSurplusIsDrainedBeforeItStops(t *testing.T) {
	file := "services:\n  web:\n    image: drover-hello:%s\n    scale: %d\n    ports: ['127.0.0.1:8991:80']\n    x-drover: {proxy: true}\n"
	for _, tc := range []struct {
		name, rancher string
		upgrade       bool
	}{
		{"up", "web:\n  drain_timeout_ms: 7000\n", false},
		{"start-first upgrade", "web:\n  drain_timeout_ms: 7000\n  upgrade_strategy: {start_first: true, batch_size: 1}\n", true},
		{"stop-first upgrade", "web:\n  drain_timeout_ms: 7000\n  upgrade_strategy: {start_first: false, batch_size: 2}\n", true},
	} {
		start := upBehindProxy(t, load(t, fmt.Sprintf(file, "v1", 3), tc.rancher))
		var plan Plan
		var err error
		if tc.upgrade {
			plan, err = Upgrade(load(t, fmt.Sprintf(file, "v2", 1), tc.rancher), start, UpgradeOptions{})
		} else {
			plan, err = Up(load(t, fmt.Sprintf(file, "v1", 1), tc.rancher), start, Options{})
		}
		if err != nil {
			t.Fatal(err)
		}
		if stopped := drainedBeforeStops(t, tc.name, start, plan.Services[0].Steps, 7*time.Second); stopped < 2 {
			t.Errorf("%s: %d of the old containers stop, want at least the 2 beyond the scale:\n%s", tc.name, stopped, plan)
		}
	}
}

// drainedBeforeStops checks that each container of obs that steps stop was
// listed as draining, for drain, by a switch before its stop, and that no
// later switch serves it; it returns how many of them stop.
func drainedBeforeStops(t *testing.T, where string, obs Observed, steps []Step, drain time.Duration) int {
	t.Helper()
	hosts := map[string]string{}
	for _, c := range obs.Containers {
		hosts[c.ID] = BackendHost(c)
	}
	state, drained, stopped := map[string]string{}, map[string]bool{}, 0
	for _, s := range flatten(steps) {
		switch a := s.Action.(type) {
		case ProxyApply:
			state = map[string]string{}
			for _, b := range a.Routes[0].Backends {
				host := strings.Split(b.Addr, ":")[0]
				state[host] = b.State
				if b.State == "draining" {
					drained[host] = true
					if a.DrainTimeout != drain {
						t.Errorf("%s: %s drains for %s, want %s", where, host, a.DrainTimeout, drain)
					}
				}
			}
		case StopContainer:
			host, ok := hosts[a.Ref]
			if !ok {
				continue
			}
			stopped++
			if !drained[host] || state[host] == "serving" {
				t.Errorf("%s: %s stops, drained before: %v, in the last switch: %q", where, host, drained[host], state[host])
			}
		}
	}
	return stopped
}

// Behind the proxy, a restart drains each container before it stops and
// serves it once ready: after every step, every backend the proxy serves
// runs, and at the end all of them serve, a replica that was stopped
// included (it is started first, so that the others' drains need not pause
// the route); with one container, the proxy holds new connections meanwhile
// (the drain's switch pauses the route).
func TestRestartBehindTheProxy(t *testing.T) {
	file := "services:\n  web:\n    image: drover-hello:v1\n    scale: %d\n    ports: ['127.0.0.1:8991:80']\n    x-drover: {proxy: true}\n"
	for _, tc := range []struct {
		scale, stopped int // stopped: the number of a replica that has exited
	}{{1, 0}, {3, 0}, {3, 2}} {
		scale := tc.scale
		start := upBehindProxy(t, load(t, fmt.Sprintf(file, scale), ""))
		running := scale
		for i, c := range start.Containers {
			if c.Number == tc.stopped {
				start.Containers[i].State = "exited"
				running--
			}
		}
		plan := Restart(start, nil, nil, time.Minute, map[string]time.Duration{"web": 4 * time.Second})
		where := fmt.Sprintf("scale %d, replica %d exited", scale, tc.stopped)
		if stopped := drainedBeforeStops(t, where, start, plan.Setup, 4*time.Second); stopped != running {
			t.Errorf("%s: %d containers stop, want %d:\n%s", where, stopped, running, plan)
		}
		steps := flatten(plan.Setup)
		for k := 0; k <= len(steps); k++ {
			left, _ := simulateSteps(t, start, plan, k, "")
			// lastTable counts the steps of the services: the restart's
			// are the setup's.
			table := lastTable(Plan{Services: []ServicePlan{{Steps: plan.Setup}}}, k)
			if table == nil {
				continue // the table of the up, unchanged
			}
			checkServing(t, fmt.Sprintf("%s, restart after step %d of %d", where, k, len(steps)), left, table, 0, 0)
		}
		checkServing(t, where+", after the restart", simulate(t, start, plan), lastTable(plan, -1), 1, scale)
		paused := false
		for _, st := range steps {
			if a, ok := st.Action.(ProxyApply); ok && a.Routes[0].Paused {
				paused = true
			}
		}
		if paused != (scale == 1) {
			t.Errorf("%s: a switch pauses the route: %v; want it only with one container:\n%s", where, paused, plan)
		}
	}
}

// upBehindProxy is the engine after a first up of p, its proxy running.
func upBehindProxy(t *testing.T, p *compose.Project) Observed {
	t.Helper()
	w := newWorld(p)
	w.obs.Images[ProxyImage] = "sha256:proxy"
	up, err := Up(p, w.obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	start := simulate(t, w.obs, up)
	start.Proxy = &Container{ID: "proxy", Name: "demo-proxy", Image: ProxyImage, State: "running", Labels: map[string]string{LabelProxy: routesLabel(proxyRoutes(p))}}
	return start
}

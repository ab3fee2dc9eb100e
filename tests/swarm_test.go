package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
)

// initSwarm makes this engine a single-node swarm manager for the test and
// leaves the swarm at the end, even on failure, so that the next test on
// the engine finds it as it was (the whole run holds the engine lock). An
// engine already in a swarm is used as it is, and left in it.
func initSwarm(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	info, err := docker.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Swarm.LocalNodeState == swarm.LocalNodeStateActive {
		if !info.Swarm.ControlAvailable {
			t.Skip("the engine is a swarm worker: the swarm tests need a manager, or an engine in no swarm")
		}
		t.Log("the engine is already a swarm manager: using it, and leaving it in its swarm")
		return
	}
	swarmInit(t, "--advertise-addr", "127.0.0.1")
}

// swarmInit runs docker swarm init with args on this engine, which is in
// no swarm, and makes it leave the swarm at the end, even on failure.
func swarmInit(t *testing.T, args ...string) {
	t.Helper()
	// Swarm makes docker_gwbridge on the first task: remove it afterwards
	// unless it was there.
	nets, _ := docker.NetworkList(context.Background(), network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", "docker_gwbridge"))})
	hadBridge := len(nets) > 0
	if out, err := exec.Command("docker", append([]string{"swarm", "init"}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("docker swarm init %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("docker", "swarm", "leave", "--force").CombinedOutput(); err != nil {
			t.Errorf("docker swarm leave --force: %v\n%s", err, out)
		}
		if !hadBridge {
			_ = docker.NetworkRemove(context.Background(), "docker_gwbridge")
		}
	})
}

// servedVersions asks the service n times, from a container on the
// project's attachable overlay network (the host cannot reach it, and no
// port is published: Swarm would publish on every address), and returns
// the versions that answered. It asks tasks.web, the tasks' own addresses:
// the service's virtual IP needs the kernel's IPVS, which this machine's
// kernel lacks (connect: no route to host).
func servedVersions(t *testing.T, p *project, n int) map[string]int {
	t.Helper()
	out := map[string]int{}
	for i := 0; i < n; i++ {
		cmd := exec.Command("docker", "run", "--rm", "--network", p.name+"_default", imageRepo+":v1", "-get", "http://tasks.web/version")
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("GET http://tasks.web/version on %s_default: %v", p.name, err)
		}
		out[strings.TrimSpace(string(b))]++
	}
	return out
}

// swarmStatus is drover status --format json on the swarm.
func swarmStatus(t *testing.T, p *project) map[string]any {
	t.Helper()
	r := p.mustDrover("--engine", "swarm", "status", "--format", "json")
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("status: %v\n%s", err, r)
	}
	return rows[0]
}

type swarmEvent struct {
	Time   time.Time `json:"time"`
	Target string    `json:"target"`
	Action string    `json:"action"`
	Phase  string    `json:"phase"`
	Reason string    `json:"reason"`
	Note   string    `json:"note"`
}

func jsonEvents(t *testing.T, out string) []swarmEvent {
	t.Helper()
	var evs []swarmEvent
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var ev swarmEvent
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Action != "" {
			evs = append(evs, ev)
		}
	}
	return evs
}

// TestSwarmSingleNode drives a project through every swarm verb on a
// single-node swarm: up at scale 3, an upgrade in batches of 1 start-first
// (the events show the batches), status upgraded, rollback to the previous
// image, upgrade with confirm (rollback refused after), a release that
// fails its health check rolled back by Swarm with the previous version
// serving, docker stack ps listing the project, down leaving nothing.
func TestSwarmSingleNode(t *testing.T) {
	initSwarm(t)
	p := newProject(t, `services:
  web:
    image: IMAGE:v1
`, `services:
  web:
    scale: 3
    upgrade_strategy:
      start_first: true
      batch_size: 1
      interval_millis: 500
`)
	t.Cleanup(func() { p.drover("--engine", "swarm", "down", "-v") })
	sw := func(args ...string) result { return p.drover(append([]string{"--engine", "swarm"}, args...)...) }

	if r := sw("up"); r.code != 0 {
		t.Fatalf("up:\n%s", r)
	}
	st := swarmStatus(t, p)
	if st["state"] != "active" || st["serving"] != 3.0 || st["revision"] != 1.0 {
		t.Fatalf("after up: %v", st)
	}
	if v := servedVersions(t, p, 2); v["v1"] != 2 {
		t.Fatalf("after up, served %v, want v1", v)
	}

	// Upgrade in batches of 1, start-first.
	p.write("docker-compose.yml", "services:\n  web:\n    image: IMAGE:v2\n")
	if r := sw("up"); r.code != 3 || !strings.Contains(r.stderr, "out of sync") {
		t.Fatalf("a plain up out of sync must report the drift and exit 3:\n%s", r)
	}
	r := sw("--progress", "json", "up", "--upgrade")
	if r.code != 0 {
		t.Fatalf("up --upgrade:\n%s", r)
	}
	var batches, started []swarmEvent
	firstStop := -1
	for i, ev := range jsonEvents(t, r.stdout) {
		switch {
		case ev.Action == "batch":
			batches = append(batches, ev)
		case ev.Action == "start" && ev.Phase == "done":
			started = append(started, ev)
		case ev.Action == "stop" && firstStop < 0:
			firstStop = i
			if len(started) == 0 {
				t.Errorf("start-first: an old task stopped before any new one ran:\n%s", r.stdout)
			}
		}
	}
	if len(batches) != 3 || len(started) != 3 {
		t.Fatalf("want 3 batches of 1 and 3 tasks started, got %d and %d:\n%s", len(batches), len(started), r.stdout)
	}
	for i := 1; i < len(batches); i++ {
		if gap := batches[i].Time.Sub(batches[i-1].Time); gap < 500*time.Millisecond {
			t.Errorf("batch %d came %s after the one before: the interval is 500ms", i+1, gap)
		}
	}
	st = swarmStatus(t, p)
	if st["state"] != "upgraded" || st["revision"] != 2.0 || st["serving"] != 3.0 {
		t.Fatalf("after the upgrade: %v", st)
	}
	if v := servedVersions(t, p, 2); v["v2"] != 2 {
		t.Fatalf("after the upgrade, served %v, want v2", v)
	}

	// Rollback: Swarm's previous spec, as new tasks.
	r = sw("up", "--rollback")
	if r.code != 0 || !strings.Contains(r.stderr, "not its containers") {
		t.Fatalf("up --rollback:\n%s", r)
	}
	st = swarmStatus(t, p)
	if st["state"] != "active" || st["revision"] != 1.0 || st["serving"] != 3.0 {
		t.Fatalf("after the rollback: %v", st)
	}
	if v := servedVersions(t, p, 2); v["v1"] != 2 {
		t.Fatalf("after the rollback, served %v, want v1", v)
	}
	if r := sw("up", "--rollback"); r.code != 1 || !strings.Contains(r.stderr, "already rolled back") {
		t.Fatalf("a second rollback must be refused:\n%s", r)
	}

	// Upgrade and confirm: a rollback is refused after.
	if r := sw("up", "--upgrade", "--confirm-upgrade"); r.code != 0 {
		t.Fatalf("up --upgrade --confirm-upgrade:\n%s", r)
	}
	st = swarmStatus(t, p)
	if st["state"] != "active" || st["revision"] != 2.0 {
		t.Fatalf("after upgrade and confirm: %v", st)
	}
	if r := sw("up", "--rollback"); r.code != 1 || !strings.Contains(r.stderr, "confirmed") {
		t.Fatalf("a rollback after a confirm must be refused:\n%s", r)
	}

	// A release that never turns healthy: Swarm rolls back, v2 serves.
	p.write("docker-compose.yml", "services:\n  web:\n    image: IMAGE:broken\n")
	r = sw("up", "--upgrade")
	if r.code != 1 || !strings.Contains(r.stderr, "rolled back") {
		t.Fatalf("an upgrade to a broken release must fail and say Swarm rolled back:\n%s", r)
	}
	st = swarmStatus(t, p)
	if st["revision"] != 2.0 || st["serving"] != 3.0 {
		t.Fatalf("after the failed upgrade: %v", st)
	}
	if v := servedVersions(t, p, 2); v["v2"] != 2 {
		t.Fatalf("after the failed upgrade, served %v, want v2", v)
	}

	// docker stack sees the project.
	out, err := exec.Command("docker", "stack", "ps", p.name, "--filter", "desired-state=running", "--format", "{{.Name}} {{.Image}}").CombinedOutput()
	if err != nil || strings.Count(string(out), p.name+"_web.") != 3 || !strings.Contains(string(out), imageRepo+":v2") {
		t.Fatalf("docker stack ps %s: %v\n%s", p.name, err, out)
	}
	if r := sw("ps"); r.code != 0 || strings.Count(r.stdout, "web.") < 3 {
		t.Fatalf("ps:\n%s", r)
	}

	// down leaves nothing.
	if r := sw("down", "-v"); r.code != 0 {
		t.Fatalf("down:\n%s", r)
	}
	ctx := context.Background()
	svcs, _ := docker.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+p.name))})
	nets, _ := docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", "com.docker.stack.namespace="+p.name))})
	if len(svcs) > 0 || len(nets) > 0 {
		t.Fatalf("down left %d services and %d networks", len(svcs), len(nets))
	}
	if left := p.leftovers(); len(left) > 0 {
		t.Fatalf("down left %v", left)
	}
}

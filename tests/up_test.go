package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

func webAndFront(port int) string {
	return fmt.Sprintf(`
services:
  web:
    image: IMAGE:v1
  front:
    image: IMAGE:v1
    ports: ["127.0.0.1:%d:80"]
    depends_on: [web]
`, port)
}

func TestUpFromNothing(t *testing.T) {
	port := freePort(t)
	p := newProject(t, webAndFront(port), "services:\n  web:\n    scale: 2\n")
	r := p.mustDrover("up", "-d")
	// Three containers, the front proxy, which owns front's port, and its
	// launcher, which opens it on the host.
	if !strings.Contains(r.stdout, "up: 5 created, 5 started") {
		t.Errorf("summary missing:\n%s", r)
	}
	cs := p.containers()
	var names []string
	for _, c := range cs {
		names = append(names, strings.TrimPrefix(c.Names[0], "/"))
		if c.State != "running" {
			t.Errorf("%s is %s, want running", c.Names[0], c.State)
		}
		l := c.Labels
		if isProxyPart(l) {
			continue // front's port is behind the project's proxy, by default
		}
		if l["com.docker.compose.oneoff"] != "False" || l["io.drover.revision"] != "1" || len(l["com.docker.compose.config-hash"]) != 64 ||
			l["com.docker.compose.project.working_dir"] != p.dir || l["io.drover.spec"] == "" {
			t.Errorf("%s: labels %v lack the Compose or drover state labels", c.Names[0], l)
		}
	}
	sort.Strings(names)
	want := []string{p.name + "-front-1", p.name + "-proxy", p.name + "-web-1", p.name + "-web-2"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Errorf("containers %v, want %v", names, want)
	}
	if _, err := docker.NetworkInspect(context.Background(), p.name+"_default", network.InspectOptions{}); err != nil {
		t.Errorf("network %s_default: %v", p.name, err)
	}
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.HasPrefix(body, "hello from v1") {
		t.Errorf("front answered %q", body)
	}
	// web before front: front depends on it.
	if strings.Index(r.stdout, "web#2") > strings.Index(r.stdout, "front#1") {
		t.Errorf("front was created before web:\n%s", r.stdout)
	}
	// docker-compose (v1, Python) sees drover's containers through the labels.
	t.Run("docker-compose ps", func(t *testing.T) {
		needDockerCompose(t)
		cmd := exec.Command("docker-compose", "-p", p.name, "ps", "-q")
		cmd.Dir = p.dir
		out, err := cmd.Output()
		if err != nil {
			t.Errorf("docker-compose ps: %v", err)
		} else if n := len(strings.Fields(string(out))); n != 3 {
			t.Errorf("docker-compose ps lists %d containers, want 3", n)
		}
	})
}

func TestSecondUpChangesNothing(t *testing.T) {
	p := newProject(t, webAndFront(freePort(t)), "services:\n  web:\n    scale: 2\n")
	p.mustDrover("up")
	before := p.ids()
	r := p.mustDrover("up")
	if after := p.ids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("second up changed containers:\nbefore %v\nafter  %v", before, after)
	}
	if !strings.Contains(r.stdout, "up: nothing to do") {
		t.Errorf("second up did something:\n%s", r)
	}
}

func TestScaleUpAndDown(t *testing.T) {
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n", "")
	p.mustDrover("up")
	first := p.ids()[p.name+"-web-1"]

	p.write("rancher-compose.yml", "services:\n  web:\n    scale: 3\n")
	p.mustDrover("up")
	ids := p.ids()
	if len(ids) != 3 || ids[p.name+"-web-1"] != first {
		t.Fatalf("after scale 3: %v; want web-1 kept (%s) and web-2, web-3 added", ids, first)
	}

	r := p.mustDrover("scale", "web=2")
	ids = p.ids()
	if len(ids) != 2 || ids[p.name+"-web-3"] != "" {
		t.Errorf("after scale web=2: %v, want web-3 removed\n%s", ids, r)
	}

	p.write("rancher-compose.yml", "services:\n  web:\n    scale: 1\n")
	p.mustDrover("up")
	ids = p.ids()
	if len(ids) != 1 || ids[p.name+"-web-1"] != first {
		t.Errorf("after scale 1: %v, want only the original web-1", ids)
	}
}

func TestStoppedContainerIsStarted(t *testing.T) {
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n", "")
	p.mustDrover("up")
	id := p.ids()[p.name+"-web-1"]
	if err := docker.ContainerStop(context.Background(), id, container.StopOptions{}); err != nil {
		t.Fatal(err)
	}
	r := p.mustDrover("up")
	cs := p.containers()
	if len(cs) != 1 || cs[0].ID != id || cs[0].State != "running" {
		t.Errorf("after up: %+v; want the same container %s running\n%s", cs, id, r)
	}
}

func TestChangeIsReportedNotApplied(t *testing.T) {
	port := freePort(t)
	compose := fmt.Sprintf("services:\n  web:\n    image: IMAGE:%%s\n    ports: ['127.0.0.1:%d:80']\n    environment: {TOKEN: %%s}\n", port)
	p := newProject(t, fmt.Sprintf(compose, "v1", "first-secret"), "")
	p.mustDrover("up")
	before := p.ids()

	p.write("docker-compose.yml", fmt.Sprintf(compose, "v2", "second-secret"))
	r := p.drover("up")
	want := fmt.Sprintf("web: out of sync: environment.TOKEN changed, image %s:v1 → %s:v2; run drover up --upgrade", imageRepo, imageRepo)
	if r.code != 3 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "not in step with the files: web: out of sync") {
		t.Errorf("no out-of-sync report; want %q in\n%s", want, r)
	}
	if strings.Contains(r.stdout+r.stderr, "secret") {
		t.Errorf("an environment value was printed:\n%s", r)
	}
	if after := p.ids(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a plain up changed the containers: %v → %v", before, after)
	}
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.HasPrefix(body, "hello from v1") {
		t.Errorf("serving %q, want v1 still", body)
	}
}

func TestRetaggedImageIsOutOfSync(t *testing.T) {
	ctx := context.Background()
	moving := imageRepo + ":moving-" + randomHex(2)
	if err := docker.ImageTag(ctx, imageRepo+":v1", moving); err != nil {
		t.Fatal(err)
	}
	p := newProject(t, "services:\n  web:\n    image: "+moving+"\n", "")
	p.mustDrover("up")
	// The same tag now names another image, as after a pull or a rebuild.
	if err := docker.ImageTag(ctx, imageRepo+":v2", moving); err != nil {
		t.Fatal(err)
	}
	r := p.drover("up")
	if r.code != 3 || !strings.Contains(r.stderr, "web: out of sync: image "+moving+" now points at") {
		t.Errorf("a retagged image went unnoticed:\n%s", r)
	}
}

func TestDownRemovesEverything(t *testing.T) {
	p := newProject(t, `
services:
  web:
    image: IMAGE:v1
    volumes: [data:/data, /anon]
    networks: [default, back]
volumes:
  data: {}
networks:
  back: {}
`, "")
	p.mustDrover("up")
	anon := anonymousVolume(t, p.name+"-web-1", "/anon")
	p.mustDrover("down")
	left := p.leftovers()
	if len(left) != 1 || left[0] != "volume "+p.name+"_data" {
		t.Errorf("after down: %v; want only the named volume", left)
	}
	if _, err := docker.VolumeInspect(context.Background(), anon); err == nil {
		t.Errorf("anonymous volume %s outlived its container", anon)
	}
	p.mustDrover("up")
	p.mustDrover("down", "-v")
	if left := p.leftovers(); len(left) > 0 {
		t.Errorf("after down -v: %v left", left)
	}
}

// anonymousVolume names the volume mounted at target in a container.
func anonymousVolume(t *testing.T, ref, target string) string {
	t.Helper()
	c, err := docker.ContainerInspect(context.Background(), ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range c.Mounts {
		if m.Destination == target {
			return m.Name
		}
	}
	t.Fatalf("%s has no volume at %s", ref, target)
	return ""
}

func TestPsJSONAndConfig(t *testing.T) {
	port := freePort(t)
	p := newProject(t, webAndFront(port), `
services:
  web:
    scale: 2
    upgrade_strategy: {start_first: true, batch_size: 1, interval_millis: 250}
`)
	p.mustDrover("up")
	var rows []struct {
		Name, Service, State, Health, Role string
		Number, Revision                   int
		Ports                              []string
	}
	r := p.mustDrover("ps", "--format", "json")
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("ps --format json: %v\n%s", err, r)
	}
	if len(rows) != 5 {
		t.Fatalf("ps lists %d containers, want 3, the front proxy and its launcher:\n%s", len(rows), r.stdout)
	}
	for _, row := range rows {
		// front's port is published by the proxy, which ps lists with it;
		// its launcher opens it on the host.
		if row.Role == "proxy" {
			if row.Name != p.name+"-proxy" || len(row.Ports) != 1 || row.Ports[0] != fmt.Sprintf("127.0.0.1:%d->%d/tcp", port, port) {
				t.Errorf("proxy row %+v", row)
			}
			continue
		}
		if row.Role == "proxy-ports" {
			if row.Name != p.name+"-proxy-ports" || row.State != "running" {
				t.Errorf("launcher row %+v", row)
			}
			continue
		}
		if row.State != "running" || row.Revision != 1 || row.Role != "serving" || row.Number < 1 {
			t.Errorf("row %+v", row)
		}
		for _, port := range row.Ports {
			if strings.Contains(port, "->") {
				t.Errorf("%s publishes %v itself", row.Name, row.Ports)
			}
		}
		if row.Health != "healthy" {
			t.Errorf("%s health %q, want healthy (the image has a HEALTHCHECK)", row.Name, row.Health)
		}
	}
	r = p.mustDrover("ps", "web")
	if strings.Count(r.stdout, p.name+"-web-") != 2 || strings.Contains(r.stdout, "front") {
		t.Errorf("ps web:\n%s", r.stdout)
	}

	r = p.mustDrover("config")
	for _, want := range []string{"x-drover:", "start_first: true", "batch_size: 1", "interval: 250ms", "scale: 2", "image: " + imageRepo + ":v1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestBadInputLeavesEngineUntouched(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	good := "services:\n  web:\n    image: IMAGE:v1\n"
	cases := []struct {
		name             string
		compose, rancher string
		args             []string
		env              []string
		want             string
	}{
		{name: "no compose file", args: []string{"up"}, want: "no compose file found"},
		{name: "yaml error", compose: "services:\n  web:\n   image: x\n  bad\n", args: []string{"up"}, want: "docker-compose.yml"},
		{name: "unknown service on the command line", compose: good, args: []string{"up", "nope"}, want: `no such service: "nope"`},
		{name: "unknown rancher key", compose: good, rancher: "services:\n  web:\n    scael: 2\n", args: []string{"up"},
			want: `rancher-compose.yml:3: service "web": scael: unknown rancher-compose key`},
		{name: "rancher service not in compose", compose: good, rancher: "services:\n  ghost:\n    scale: 2\n", args: []string{"up"},
			want: `rancher-compose.yml:2: service "ghost": service is not defined in the compose file`},
		{name: "unsupported key", compose: good + "    credential_spec: {file: a.json}\n", args: []string{"up"},
			want: `service "web": key "credential_spec" is not supported by drover yet`},
		{name: "fixed port with scale 2", compose: good + "    ports: ['127.0.0.1:1:80']\n    scale: 2\n    x-drover: {proxy: false}\n", args: []string{"up"},
			want: "two containers cannot publish the same host port"},
		{name: "image missing", compose: good + "  db:\n    image: drover-e2e-missing-image:v9\n    pull_policy: never\n", args: []string{"up"},
			want: `service "db": image drover-e2e-missing-image:v9 is not on the engine`},
		{name: "image cannot be pulled", compose: good + "  db:\n    image: 127.0.0.1:9/drover-e2e-missing:v9\n", args: []string{"up"},
			want: "pull 127.0.0.1:9/drover-e2e-missing:v9"},
		{name: "engine unreachable", compose: good, args: []string{"up"}, env: []string{"DOCKER_HOST=unix:///nonexistent/docker.sock"},
			want: "cannot reach the Docker engine"},
		{name: "bad flag", compose: good, args: []string{"up", "--no-such-flag"}, want: "unknown flag: --no-such-flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProject(t, tc.compose, tc.rancher)
			if tc.compose == "" {
				os.Remove(filepath.Join(p.dir, "docker-compose.yml"))
			}
			r := p.droverEnv(tc.env, append([]string{"-p", p.name}, tc.args...)...)
			if r.code == 0 {
				t.Fatalf("exit 0, want a failure:\n%s", r)
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr lacks %q:\n%s", tc.want, r)
			}
			if left := p.leftovers(); len(left) > 0 {
				t.Errorf("the engine was changed: %v", left)
			}
		})
	}
}

func TestDependsOnHealthyGatesTheStart(t *testing.T) {
	p := newProject(t, `
services:
  db:
    image: IMAGE:v1
    environment: {SLOW_START: 2s}
  web:
    image: IMAGE:v1
    depends_on:
      db: {condition: service_healthy}
`, "")
	p.mustDrover("up")
	ctx := context.Background()
	db, err := docker.ContainerInspect(ctx, p.name+"-db-1")
	if err != nil {
		t.Fatal(err)
	}
	web, err := docker.ContainerInspect(ctx, p.name+"-web-1")
	if err != nil {
		t.Fatal(err)
	}
	dbStart, err := time.Parse(time.RFC3339Nano, db.State.StartedAt)
	if err != nil {
		t.Fatalf("db's start time: %v", err)
	}
	webStart, err := time.Parse(time.RFC3339Nano, web.State.StartedAt)
	if err != nil {
		t.Fatalf("web's start time: %v", err)
	}
	// db needs 2s before it listens, then a passing probe: web may not
	// start before that.
	if webStart.Sub(dbStart) < 2*time.Second {
		t.Errorf("web started %s after db; want it to wait for db to be healthy (over 2s)", webStart.Sub(dbStart))
	}
}

func TestBuildsWhatIsMissing(t *testing.T) {
	p := newProject(t, "services:\n  app:\n    build: ./app\n", "")
	p.builtImages = append(p.builtImages, p.name+"-app")
	os.Mkdir(filepath.Join(p.dir, "app"), 0o755)
	data, err := os.ReadFile(helloBin)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(p.dir, "app", "hello"), data, 0o755)
	os.WriteFile(filepath.Join(p.dir, "app", "junk"), make([]byte, 32<<20), 0o644)
	p.write("app/.dockerignore", "junk\n")
	// The whole context is copied: only .dockerignore keeps junk out.
	p.write("app/Dockerfile", "FROM scratch\nCOPY . /\nENTRYPOINT [\"/hello\"]\n")
	r := p.mustDrover("up")
	if !strings.Contains(r.stdout, p.name+"-app") || !strings.Contains(r.stdout, "build") {
		t.Errorf("no build step:\n%s", r)
	}
	cs := p.containers()
	if len(cs) != 1 || cs[0].Image != p.name+"-app" || cs[0].State != "running" {
		t.Errorf("containers %+v, want one running %s-app", cs, p.name)
	}
	img, err := docker.ImageInspect(context.Background(), p.name+"-app")
	if err != nil {
		t.Fatal(err)
	}
	if limit := int64(len(data)) + 1<<20; img.Size > limit {
		t.Errorf("image of %d bytes for a %d-byte binary: .dockerignore was not honoured", img.Size, len(data))
	}
	// A second up does not build again.
	if r := p.mustDrover("up"); !strings.Contains(r.stdout, "nothing to do") {
		t.Errorf("second up:\n%s", r)
	}
}

func TestConcurrentRunsRefuse(t *testing.T) {
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n    environment: {SLOW_START: 3s}\n", "")
	first := exec.Command(droverBin, "-p", p.name, "up")
	first.Dir, first.Env = p.dir, cleanEnviron()
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the first run is inside its wait for the slow container.
	deadline := time.Now().Add(10 * time.Second)
	for len(p.containers()) == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	r := p.drover("up")
	if err := first.Wait(); err != nil {
		t.Errorf("first run: %v", err)
	}
	if r.code == 0 || !strings.Contains(r.stderr, "another drover run") {
		t.Errorf("second run did not refuse:\n%s", r)
	}
	if n := len(p.containers()); n != 1 {
		t.Errorf("%d containers, want 1", n)
	}
}

func TestWithoutFilesFromProjectName(t *testing.T) {
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n", "")
	p.mustDrover("up")
	elsewhere := &project{t: t, name: p.name, dir: t.TempDir()}
	r := elsewhere.mustDrover("ps")
	if !strings.Contains(r.stdout, p.name+"-web-1") {
		t.Errorf("ps -p from another directory:\n%s", r)
	}
	r = elsewhere.mustDrover("logs", "--tail", "5")
	if !strings.Contains(r.stdout, p.name+"-web-1 | ") || !strings.Contains(r.stdout, "listening on :80") {
		t.Errorf("logs:\n%s", r)
	}
	elsewhere.mustDrover("stop")
	if cs := p.containers(); cs[0].State != "exited" {
		t.Errorf("after stop: %s", cs[0].State)
	}
	elsewhere.mustDrover("start")
	if cs := p.containers(); cs[0].State != "running" {
		t.Errorf("after start: %s", cs[0].State)
	}
	elsewhere.mustDrover("down")
	if left := p.leftovers(); len(left) > 0 {
		t.Errorf("after down from -p alone: %v", left)
	}
}

package tests

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// TestVocabularyOnTheEngine: keys of the Compose vocabulary that drover
// passes to the engine are seen on the running containers.
func TestVocabularyOnTheEngine(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	p := newProject(t, `
services:
  db:
    image: IMAGE:v1
    ipc: shareable
  web:
    image: IMAGE:v1
    pid: service:db
    ipc: service:db
    group_add: ["1234"]
    devices: ["/dev/null:/dev/xnull:r"]
    oom_score_adj: 100
    label_file: [./web.labels]
`, "")
	p.write("web.labels", "team=core\n")
	p.mustDrover("up", "-d")
	ctx := context.Background()
	db, err := docker.ContainerInspect(ctx, p.name+"-db-1")
	if err != nil {
		t.Fatal(err)
	}
	web, err := docker.ContainerInspect(ctx, p.name+"-web-1")
	if err != nil {
		t.Fatal(err)
	}
	h := web.HostConfig
	if !web.State.Running {
		t.Errorf("web is %s, want running", web.State.Status)
	}
	// The engine resolves a container: mode to the container's ID.
	for what, mode := range map[string]string{"pid": string(h.PidMode), "ipc": string(h.IpcMode)} {
		if mode != "container:"+db.ID && mode != "container:"+p.name+"-db-1" {
			t.Errorf("%s mode %q, want db's container", what, mode)
		}
	}
	if !slices.Equal(h.GroupAdd, []string{"1234"}) || h.OomScoreAdj != 100 || web.Config.Labels["team"] != "core" {
		t.Errorf("group_add %v, oom_score_adj %d, label team %q", h.GroupAdd, h.OomScoreAdj, web.Config.Labels["team"])
	}
	if len(h.Devices) != 1 || h.Devices[0].PathOnHost != "/dev/null" || h.Devices[0].PathInContainer != "/dev/xnull" || h.Devices[0].CgroupPermissions != "r" {
		t.Errorf("devices %+v", h.Devices)
	}
}

// TestDuplicateContainerNameRefused: two services with one container_name
// are refused before the first engine call, naming both.
func TestDuplicateContainerNameRefused(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	files := `
services:
  a:
    image: IMAGE:v1
  b:
    image: IMAGE:v1
    container_name: NAME
  c:
    image: IMAGE:v1
    container_name: NAME
`
	p := newProject(t, files, "")
	p.write("docker-compose.yml", strings.ReplaceAll(files, "NAME", p.name+"-one"))
	r := p.drover("up", "-d")
	want := `docker-compose.yml:10: service "c": container_name "` + p.name + `-one" is already the container name of service "b"`
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("want exit 1 and %q:\n%s", want, r)
	}
	if left := p.leftovers(); len(left) > 0 {
		t.Errorf("the engine was changed: %v", left)
	}
	if _, err := docker.ContainerInspect(context.Background(), p.name+"-one"); err == nil {
		t.Errorf("container %s-one exists", p.name)
	}
}

// TestConfigsUpgradeAndRollBack: a file: config is bind-mounted, a content:
// config and a secret of environment: (from .env) copied in, all read by
// the server; a change of either is
// out of sync (diff names it, masked), an upgrade serves the new content,
// and a rollback the old (each container has its own copy).
func TestConfigsUpgradeAndRollBack(t *testing.T) {
	port := freePort(t)
	files := fmt.Sprintf(`
services:
  web:
    image: IMAGE:v1
    ports: ["127.0.0.1:%d:80"]
    configs:
      - source: app
        target: /app.conf
      - source: inline
        target: /conf/inline.txt
    secrets: [api_key]
secrets:
  api_key:
    environment: API_KEY
configs:
  app:
    file: ./app.conf
  inline:
    content: INLINE
`, port)
	p := newProject(t, strings.Replace(files, "INLINE", "one", 1), "")
	p.write("app.conf", "file v1\n")
	p.write(".env", "API_KEY=k1\n")
	p.mustDrover("up", "-d")
	read := func(path string) string {
		t.Helper()
		return get(t, fmt.Sprintf("http://127.0.0.1:%d/file?path=%s", port, path))
	}
	if a, b := read("/app.conf"), read("/conf/inline.txt"); a != "file v1\n" || b != "one" {
		t.Fatalf("served %q and %q, want the configs' content", a, b)
	}
	if s := read("/run/secrets/api_key"); s != "k1" {
		t.Errorf("served %q for the secret of environment:, want k1", s)
	}

	p.write("app.conf", "file v2\n")
	p.write("docker-compose.yml", strings.Replace(files, "INLINE", "two", 1))
	r := p.mustDrover("diff")
	for _, want := range []string{"config_content.app\n    - ****\n    + ****", "config_content.inline\n    - ****\n    + ****"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("diff lacks %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.stdout, "two") || strings.Contains(r.stdout, "file v2") {
		t.Errorf("diff prints a config's content:\n%s", r)
	}
	if r := p.drover("up", "-d"); r.code != 3 || !strings.Contains(r.stdout+r.stderr, "out of sync") {
		t.Errorf("a changed config is not reported out of sync:\n%s", r)
	}
	p.mustDrover("up", "--upgrade")
	if a, b := read("/app.conf"), read("/conf/inline.txt"); a != "file v2\n" || b != "two" {
		t.Errorf("after the upgrade: served %q and %q", a, b)
	}
	p.mustDrover("up", "--rollback")
	if b := read("/conf/inline.txt"); b != "one" {
		t.Errorf("after the rollback: served %q, want the old container's copy", b)
	}
}

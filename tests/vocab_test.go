package tests

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// TestVocabularyOnTheEngine: keys of the Compose vocabulary that drover
// passes to the engine are seen on the running containers.
func TestVocabularyOnTheEngine(t *testing.T) {
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

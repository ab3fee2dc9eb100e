package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// A project as it ran under rancher-compose: both files in the v1 layout.
const rancherV1Compose = `web:
  image: IMAGE:%s
  mem_limit: 64m
  log_driver: json-file
  log_opt:
    max-size: 1m
  labels:
    io.rancher.scheduler.affinity:host_label: role=web
client:
  image: IMAGE:v1
  links:
    - web:backend
`

const rancherV1Rancher = `web:
  scale: 2
  upgrade_strategy:
    start_first: true
    batch_size: 1
    interval_millis: 100
  health_check:
    port: 80
    request_line: GET /healthz HTTP/1.0
    interval: 2000
    healthy_threshold: 2
    unhealthy_threshold: 3
client:
  scale: 1
`

func TestRancherV1ProjectComesUpAndUpgrades(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	p := newProject(t, fmt.Sprintf(rancherV1Compose, "v1"), rancherV1Rancher)
	r := p.mustDrover("config")
	// The health_check has a port: the front proxy runs it, so no warning
	// says it is not run.
	if strings.Contains(r.stderr, "health_check") || !strings.Contains(r.stderr, "io.rancher.scheduler.affinity:host_label: kept on the containers, no effect") {
		t.Errorf("config does not explain what has no effect:\n%s", r)
	}
	p.mustDrover("up")
	ctx := context.Background()
	web, err := docker.ContainerInspect(ctx, p.name+"-web-1")
	if err != nil {
		t.Fatal(err)
	}
	if web.HostConfig.Memory != 64<<20 || web.HostConfig.LogConfig.Type != "json-file" || web.HostConfig.LogConfig.Config["max-size"] != "1m" {
		t.Errorf("web: memory %d, logging %+v; want the v1 mem_limit, log_driver and log_opt applied", web.HostConfig.Memory, web.HostConfig.LogConfig)
	}
	if web.Config.Labels["io.rancher.scheduler.affinity:host_label"] != "role=web" {
		t.Errorf("the io.rancher label was not kept: %v", web.Config.Labels)
	}
	client, err := docker.ContainerInspect(ctx, p.name+"-client-1")
	if err != nil {
		t.Fatal(err)
	}
	links := fmt.Sprint(client.NetworkSettings.Networks[p.name+"_default"].Links)
	if !strings.Contains(links, p.name+"-web-1:backend") {
		t.Errorf("client links %s, want %s-web-1:backend", links, p.name)
	}
	clientID := client.ID

	p.write("docker-compose.yml", fmt.Sprintf(rancherV1Compose, "v2"))
	s := watch(p)
	p.mustDrover("up", "--upgrade")
	s.done()
	if s.minHealthy < 3 {
		t.Errorf("during the start-first upgrade %d containers ran healthy; want web's 2 and client", s.minHealthy)
	}
	rows := p.ps("-a")
	serving, _ := byRole(rows, "serving")
	kept, _ := byRole(rows, "kept")
	want := []string{p.name + "-client-1@v1/running", p.name + "-web-1@v2/running", p.name + "-web-2@v2/running"}
	if fmt.Sprint(serving) != fmt.Sprint(want) || len(kept) != 2 {
		t.Errorf("after the upgrade: serving %v, kept %v; want %v and the two v1 web containers kept", serving, kept, want)
	}
	if c, _ := docker.ContainerInspect(ctx, p.name+"-client-1"); c.ID != clientID {
		t.Errorf("client was recreated by an upgrade of web")
	}
}

func TestStartOnCreateFalseLeavesContainersStopped(t *testing.T) {
	p := newProject(t, "web:\n  image: IMAGE:v1\n", "web:\n  scale: 2\n  start_on_create: false\n")
	p.mustDrover("up")
	cs := p.containers()
	if len(cs) != 2 {
		t.Fatalf("%d containers, want 2", len(cs))
	}
	for _, c := range cs {
		if c.State != "created" {
			t.Errorf("%s is %s, want created and not started", c.Names[0], c.State)
		}
	}
	if r := p.mustDrover("up"); !strings.Contains(r.stdout, "nothing to do") {
		t.Errorf("a second up:\n%s", r)
	}
}

package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// balancedSite is a Rancher load balancer in front of two services that
// answer differently: web (v1, port 80) and api (v2, port 8080). Its HTTP
// port routes by host (exact and wildcard) and by path; its TCP port goes
// to api.
const balancedSite = `version: '2'
services:
  lb:
    image: rancher/lb-service-haproxy:v0.7.9
    ports: ['127.0.0.1:%[2]d:80', '127.0.0.1:%[3]d:%[3]d']
    expose: ['9000']
  web:
    image: IMAGE:%[1]s
  api:
    image: IMAGE:v2
    environment: {PORT: "8080"}
    healthcheck: {test: [CMD, /hello, -probe, "http://127.0.0.1:8080/healthz"], interval: 1s}
`

const balancedRules = `version: '2'
services:
  lb:
    scale: 1
    lb_config:
      certs: []
      port_rules:
      - {source_port: 80, target_port: 80, service: web, protocol: http, hostname: shop.example.com}
      - {source_port: 80, target_port: 8080, service: api, hostname: '*.example.com'}
      - {source_port: 80, target_port: 8080, service: api, path: /api}
      - {source_port: %[1]d, target_port: 8080, service: api, protocol: tcp}
      - {source_port: 9000, target_port: 80, service: web}
    health_check: {port: 42, interval: 2000}
  web:
    upgrade_strategy: {start_first: true, batch_size: 1}
`

// hostGet sends one request with a Host header and returns the status and
// body.
func hostGet(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	c := http.Client{Timeout: 5 * time.Second}
	var lastErr error
	for range 20 {
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return resp.StatusCode, string(body)
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s (Host %s): %v", url, host, lastErr)
	return 0, ""
}

// probeFrom runs the hello image's probe of url in a container on the
// project's network, and returns its exit status: how a service of the
// project sees a balancer's internal port.
func probeFrom(t *testing.T, p *project, url string) int64 {
	t.Helper()
	ctx := context.Background()
	created, err := docker.ContainerCreate(ctx, &container.Config{Image: imageRepo + ":v1", Cmd: []string{"-probe", url}},
		&container.HostConfig{NetworkMode: container.NetworkMode(p.name + "_default")}, nil, nil, p.name+"-probe")
	if err != nil {
		t.Fatal(err)
	}
	defer docker.ContainerRemove(ctx, created.ID, container.RemoveOptions{Force: true})
	if err := docker.ContainerStart(ctx, created.ID, container.StartOptions{}); err != nil {
		t.Fatal(err)
	}
	waitC, errC := docker.ContainerWait(ctx, created.ID, container.WaitConditionNotRunning)
	select {
	case w := <-waitC:
		return w.StatusCode
	case err := <-errC:
		t.Fatal(err)
	}
	return -1
}

// A load-balancer service is served by the front proxy: no container of
// its image, its rules route by host, wildcard host and path over HTTP, a
// TCP port goes through, and an internal port (expose) is reached by the
// balancer's name from the project's network, unpublished; an upgrade of one target under load behind the
// balancer fails no request and leaves the other target's rules alone.
func TestBalancerRoutesAndUpgradesWithoutFailures(t *testing.T) {
	httpPort, tcpPort := freePort(t), freePort(t)
	p := newProject(t, fmt.Sprintf(balancedSite, "v1", httpPort, tcpPort), fmt.Sprintf(balancedRules, tcpPort))
	up := p.mustDrover("up")
	if !strings.Contains(up.stderr, `service "lb": load balancer: served by drover's front proxy`) {
		t.Errorf("up does not say the proxy serves lb:\n%s", up)
	}
	cs, err := docker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+p.name))})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if strings.Contains(c.Image, "lb-service-haproxy") || c.Labels["com.docker.compose.service"] == "lb" {
			t.Errorf("a container was made for the balancer: %s (%s)", c.Names, c.Image)
		}
	}
	if len(cs) != 4 {
		t.Errorf("%d containers, want web, api, the proxy and its launcher", len(cs))
	}

	base := fmt.Sprintf("http://127.0.0.1:%d", httpPort)
	for _, tc := range []struct {
		host, path string
		code       int
		want       string
	}{
		{"shop.example.com", "/version", 200, "v1\n"},                // exact host: web
		{"SHOP.example.com:80", "/version", 200, "v1\n"},             // case and port left out
		{"www.example.com", "/version", 200, "v2\n"},                 // wildcard host: api
		{"other.org", "/api/version", 200, "hello from v2 ("},        // path prefix: api
		{"shop.example.com", "/api/version", 200, "hello from v1 ("}, // host before path
		{"other.org", "/version", 503, ""},                           // no rule matches
	} {
		code, body := hostGet(t, base+tc.path, tc.host)
		if code != tc.code || !strings.HasPrefix(body, tc.want) {
			t.Errorf("Host %s %s: %d %q, want %d %q", tc.host, tc.path, code, body, tc.code, tc.want)
		}
	}
	if v := get(t, fmt.Sprintf("http://127.0.0.1:%d/version", tcpPort)); v != "v2\n" {
		t.Errorf("through the tcp rule: %q, want api's v2", v)
	}
	if code := probeFrom(t, p, "http://lb:9000/healthz"); code != 0 {
		t.Errorf("lb:9000 from the project's network: the probe exited %d, want 0", code)
	}
	if code := probeFrom(t, p, "http://lb:9001/healthz"); code == 0 {
		t.Error("lb:9001, a port the balancer does not have, answered: the probe proves nothing")
	}

	// What the commands show.
	st := p.mustDrover("status")
	if !regexp.MustCompile(`(?m)^lb\s+load-balancer\s+-\s+-\s+-\s+-\s+-$`).MatchString(st.stdout) {
		t.Errorf("status has no row for lb as a load balancer:\n%s", st.stdout)
	}
	for _, want := range []string{
		fmt.Sprintf("proxy lb %d http shop.example.com → web:80: %s-web-1-r1:80 serving", httpPort, p.name),
		fmt.Sprintf("proxy lb %d tcp * → api:8080: %s-api-1-r1:8080 serving", tcpPort, p.name),
		fmt.Sprintf("proxy web web:80: %s-web-1-r1:80 serving", p.name),
	} {
		if !strings.Contains(st.stdout, want) {
			t.Errorf("status lacks %q:\n%s", want, st.stdout)
		}
	}
	if ps := p.mustDrover("ps"); !regexp.MustCompile(p.name+`-proxy\s+lb\s`).MatchString(ps.stdout) || strings.Contains(ps.stdout, "9000") {
		t.Errorf("ps does not show the proxy serving lb, or shows the internal port 9000 published:\n%s", ps.stdout)
	}
	if cfg := p.mustDrover("config"); !strings.Contains(cfg.stdout, "served_by: "+p.name+"-proxy") || !strings.Contains(cfg.stdout, "hostname: '*.example.com'") {
		t.Errorf("config does not show the balancer's rules:\n%s", cfg.stdout)
	}
	if again := p.mustDrover("up"); strings.Contains(again.stdout+again.stderr, "proxy-switch") {
		t.Errorf("a second up switches the proxy again:\n%s", again)
	}

	// Upgrade web (start-first) behind the balancer under load on both
	// HTTP rules: nothing fails, web's clients see v1 then v2, api's only v2.
	webLoad := startHostLoad(base+"/version", "shop.example.com", 2, 2)
	apiLoad := startHostLoad(base+"/version", "www.example.com", 1, 1)
	time.Sleep(300 * time.Millisecond)
	p.write("docker-compose.yml", fmt.Sprintf(balancedSite, "v2", httpPort, tcpPort))
	p.mustDrover("up", "--upgrade")
	time.Sleep(300 * time.Millisecond)
	webLoad.finish()
	apiLoad.finish()
	t.Logf("web: %d requests, %d failed, versions %v; api: %d requests, %d failed, versions %v",
		webLoad.ok.Load()+webLoad.failed.Load(), webLoad.failed.Load(), webLoad.versions, apiLoad.ok.Load()+apiLoad.failed.Load(), apiLoad.failed.Load(), apiLoad.versions)
	if webLoad.failed.Load() != 0 || apiLoad.failed.Load() != 0 {
		t.Errorf("requests failed during the upgrade behind the balancer: web %d %v, api %d %v", webLoad.failed.Load(), webLoad.errs, apiLoad.failed.Load(), apiLoad.errs)
	}
	if webLoad.ok.Load() < 50 || webLoad.versions["v1"] == 0 || webLoad.versions["v2"] == 0 {
		t.Errorf("web's clients: %d answered, versions %v; want at least 50, v1 and v2", webLoad.ok.Load(), webLoad.versions)
	}
	if apiLoad.ok.Load() < 20 || len(apiLoad.versions) != 1 || apiLoad.versions["v2"] == 0 {
		t.Errorf("api's clients: %d answered, versions %v; want at least 20, all v2", apiLoad.ok.Load(), apiLoad.versions)
	}
	if _, body := hostGet(t, base+"/version", "shop.example.com"); body != "v2\n" {
		t.Errorf("after the upgrade, web answers %q", body)
	}
	st = p.mustDrover("status")
	if want := fmt.Sprintf("proxy lb %d http shop.example.com → web:80: %s-web-1-r2:80 serving", httpPort, p.name); !strings.Contains(st.stdout, want) || strings.Contains(st.stdout, "draining") {
		t.Errorf("status after the upgrade lacks %q (or still drains):\n%s", want, st.stdout)
	}
	// And back.
	p.mustDrover("up", "--rollback")
	if _, body := hostGet(t, base+"/version", "shop.example.com"); body != "v1\n" {
		t.Errorf("after the rollback, web answers %q", body)
	}
	noDockerSocket(t, p)
}

package tests

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

// clientLoad requests a URL from clients that open a new connection per
// request and from clients that keep theirs alive, and counts what fails
// and which versions answered. Timeouts are long: a stop-first switch
// holds new connections for a moment, which is latency, not failure.
type clientLoad struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	versions   map[string]int
	errs       []string
	// firstFail and lastFail bound the failures in time.
	firstFail, lastFail time.Time
	stop                chan struct{}
	wg                  sync.WaitGroup
}

func startLoad(url string, fresh, keepAlive int) *clientLoad {
	return startHostLoad(url, "", fresh, keepAlive)
}

// startHostLoad is startLoad with a Host header (the URL's when empty).
func startHostLoad(url, host string, fresh, keepAlive int) *clientLoad {
	l := &clientLoad{versions: map[string]int{}, stop: make(chan struct{})}
	for i := 0; i < fresh+keepAlive; i++ {
		client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: i < fresh}}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				req, err := http.NewRequest("GET", url, nil)
				if err != nil {
					panic(err)
				}
				if host != "" {
					req.Host = host
				}
				resp, err := client.Do(req)
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr == nil && resp.StatusCode == http.StatusOK {
						l.ok.Add(1)
						l.mu.Lock()
						l.versions[strings.TrimSpace(string(body))]++
						l.mu.Unlock()
						continue
					}
					err = fmt.Errorf("status %d, %v", resp.StatusCode, rerr)
				}
				l.failed.Add(1)
				l.mu.Lock()
				if l.firstFail.IsZero() {
					l.firstFail = time.Now()
				}
				l.lastFail = time.Now()
				if len(l.errs) < 5 {
					l.errs = append(l.errs, err.Error())
				}
				l.mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *clientLoad) finish() { close(l.stop); l.wg.Wait() }

// proxiedSite is the walk-through's service; app_protocol http lets the
// proxy move keep-alive clients between requests rather than hold their
// connections to a draining container.
const proxiedSite = "services:\n  site:\n    image: IMAGE:%s\n    ports: [{target: 80, published: \"%d\", host_ip: 127.0.0.1, app_protocol: http}]\n    x-drover: {proxy: %v}\n"

// The walk-through behind drover's front proxy, under 4 clients opening a
// new connection per request and 3 keep-alive clients: upgrade, rollback,
// upgrade and confirm, stop-first and start-first, without one failed
// request; and no container of the project mounts the Docker socket.
func TestProxyWalkThroughWithoutFailures(t *testing.T) {
	for _, startFirst := range []bool{false, true} {
		t.Run(fmt.Sprintf("start_first=%v", startFirst), func(t *testing.T) {
			port := freePort(t)
			policy := fmt.Sprintf("services:\n  site:\n    upgrade_strategy: {start_first: %v, batch_size: 1}\n", startFirst)
			p := newProject(t, fmt.Sprintf(proxiedSite, "v1", port, true), policy)
			p.mustDrover("up")
			url := fmt.Sprintf("http://127.0.0.1:%d/version", port)
			if v := get(t, url); v != "v1\n" {
				t.Fatalf("through the proxy: %q", v)
			}
			load := startLoad(url, 4, 3)
			time.Sleep(300 * time.Millisecond)
			p.write("docker-compose.yml", fmt.Sprintf(proxiedSite, "v2", port, true))
			p.mustDrover("up", "--upgrade")
			p.mustDrover("up", "--rollback")
			p.mustDrover("up", "--upgrade", "--confirm-upgrade")
			time.Sleep(300 * time.Millisecond)
			load.finish()
			t.Logf("%d requests, %d failed, versions %v, first errors %v", load.ok.Load()+load.failed.Load(), load.failed.Load(), load.versions, load.errs)
			if load.failed.Load() != 0 {
				t.Errorf("%d of %d requests failed through the proxy: %v", load.failed.Load(), load.ok.Load()+load.failed.Load(), load.errs)
			}
			if load.ok.Load() < 100 || load.versions["v1"] == 0 || load.versions["v2"] == 0 {
				t.Errorf("%d requests answered, versions %v: want at least 100, and both v1 and v2", load.ok.Load(), load.versions)
			}
			if v := get(t, url); v != "v2\n" {
				t.Errorf("after upgrade and confirm: %q", v)
			}
			noDockerSocket(t, p)
			// status shows the proxy's view: the new container serving.
			st := p.mustDrover("status", "--format", "json")
			if want := fmt.Sprintf(`"%d: %s-site-1-r2:80 serving"`, port, p.name); !strings.Contains(st.stdout, want) || strings.Contains(st.stdout, "draining") {
				t.Errorf("status lacks %s:\n%s", want, st.stdout)
			}
		})
	}
}

// The same load against the same upgrade without the proxy: the harness
// must see the failures it exists to count.
func TestWithoutTheProxyTheLoadSeesFailures(t *testing.T) {
	port := freePort(t)
	p := newProject(t, fmt.Sprintf(proxiedSite, "v1", port, false), "services:\n  site:\n    upgrade_strategy: {start_first: false}\n")
	p.mustDrover("up")
	url := fmt.Sprintf("http://127.0.0.1:%d/version", port)
	get(t, url)
	load := startLoad(url, 4, 3)
	time.Sleep(300 * time.Millisecond)
	p.write("docker-compose.yml", fmt.Sprintf(proxiedSite, "v2", port, false))
	p.mustDrover("up", "--upgrade")
	time.Sleep(300 * time.Millisecond)
	load.finish()
	t.Logf("without the proxy: %d requests, %d failed", load.ok.Load()+load.failed.Load(), load.failed.Load())
	if load.failed.Load() == 0 {
		t.Errorf("no request failed during a stop-first upgrade on a published port without the proxy: the load cannot see failures")
	}
}

func noDockerSocket(t *testing.T, p *project) {
	t.Helper()
	cs, err := docker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+p.name))})
	if err != nil {
		t.Fatal(err)
	}
	sawProxy := false
	for _, c := range cs {
		sawProxy = sawProxy || c.Labels["io.drover.proxy"] != ""
		for _, m := range c.Mounts {
			if strings.Contains(m.Source, "docker.sock") {
				t.Errorf("%s mounts %s", c.Names[0], m.Source)
			}
		}
	}
	if !sawProxy {
		t.Errorf("no proxy container among the project's %d containers", len(cs))
	}
}

// A rancher-compose health_check is run by the proxy against each new
// backend: a release whose probe fails (its /healthz answers 500; the
// Docker health check is off, so only the probe can tell) is never served,
// and the upgrade rolls back, with no failed request.
func TestProxyHealthCheckKeepsAFailingReleaseOut(t *testing.T) {
	port := freePort(t)
	site := "services:\n  site:\n    image: IMAGE:%s\n    healthcheck: {disable: true}\n    environment: {FAIL_HEALTH: %q}\n    ports: [{target: 80, published: \"%d\", host_ip: 127.0.0.1, app_protocol: http}]\n    x-drover: {proxy: true}\n"
	rancher := "services:\n  site:\n    upgrade_strategy: {start_first: true}\n    health_check: {port: 80, request_line: GET /healthz HTTP/1.0, interval: 500, response_timeout: 1000, healthy_threshold: 2, unhealthy_threshold: 2, initializing_timeout: 4000}\n"
	p := newProject(t, fmt.Sprintf(site, "v1", "", port), rancher)
	p.mustDrover("up")
	url := fmt.Sprintf("http://127.0.0.1:%d/version", port)
	get(t, url)
	load := startLoad(url, 4, 3)
	time.Sleep(300 * time.Millisecond)
	p.write("docker-compose.yml", fmt.Sprintf(site, "v2", "1", port))
	r := p.drover("up", "--upgrade")
	time.Sleep(300 * time.Millisecond)
	load.finish()
	if r.code != 1 || !strings.Contains(r.stderr, "health_check did not pass within 4s") || !strings.Contains(r.stderr, "answered 500") || !strings.Contains(r.stderr, "rolling back site") {
		t.Errorf("upgrade to a release that fails its health_check:\n%s", r)
	}
	t.Logf("%d requests, %d failed, versions %v", load.ok.Load()+load.failed.Load(), load.failed.Load(), load.versions)
	if load.failed.Load() != 0 || load.versions["v2"] != 0 || load.versions["v1"] == 0 {
		t.Errorf("during the refused upgrade: %d failed, versions %v; want 0 failed and only v1 answering", load.failed.Load(), load.versions)
	}
	rows := p.ps("-a")
	if serving, _ := byRole(rows, "serving"); len(rows) != 3 || len(serving) != 1 || !strings.HasSuffix(serving[0], "@v1/running") {
		t.Errorf("after the rollback: %+v", rows)
	}
}

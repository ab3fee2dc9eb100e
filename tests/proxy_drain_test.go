package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// The drain and the dead-backend proofs of the front proxy (issue 8): what
// a switch waits for, when a drain gives up, and what a backend killed under
// load costs its clients.

// progressEvent is one line of drover's --progress json.
type progressEvent struct {
	Time     time.Time     `json:"time"`
	Target   string        `json:"target"`
	Action   string        `json:"action"`
	Phase    string        `json:"phase"`
	Reason   string        `json:"reason"`
	Duration time.Duration `json:"duration_ns"`
	Note     string        `json:"note"`
}

// stepTimes finds the one step of a run with this action whose reason
// contains reason, and returns when it began and ended.
func stepTimes(t *testing.T, r result, action, reason string) (begun, done progressEvent) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var ev progressEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Action != action || !strings.Contains(ev.Reason, reason) {
			continue
		}
		switch ev.Phase {
		case "begun":
			begun = ev
		case "done":
			done = ev
		}
	}
	if begun.Time.IsZero() || done.Time.IsZero() {
		t.Fatalf("no %s step (%q) begun and done in the run's events:\n%s", action, reason, r)
	}
	return begun, done
}

// timedRequest is one request of a slow client: when it began and ended,
// and what came back.
type timedRequest struct {
	start, end time.Time
	code       int
	body       string
	err        error
}

func (q timedRequest) String() string {
	if q.err != nil {
		return fmt.Sprintf("error after %s: %v", q.end.Sub(q.start).Round(time.Millisecond), q.err)
	}
	return fmt.Sprintf("%d %q after %s", q.code, q.body, q.end.Sub(q.start).Round(time.Millisecond))
}

// timedGet requests url on a new connection and records it.
func timedGet(url string, timeout time.Duration) timedRequest {
	return timedRequestOf(http.MethodGet, url, timeout)
}

func timedRequestOf(method, url string, timeout time.Duration) timedRequest {
	c := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	q := timedRequest{start: time.Now()}
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return timedRequest{start: q.start, end: time.Now(), err: err}
	}
	resp, err := c.Do(req)
	if err == nil {
		var b []byte
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		q.code, q.body = resp.StatusCode, strings.TrimSpace(string(b))
	}
	q.end, q.err = time.Now(), err
	return q
}

// slowLoad starts a request of url every interval, each on its own
// connection, until finish, which waits for the last to end.
type slowLoad struct {
	mu   sync.Mutex
	reqs []timedRequest
	stop chan struct{}
	wg   sync.WaitGroup
}

func startSlowLoad(url string, interval time.Duration) *slowLoad {
	l := &slowLoad{stop: make(chan struct{})}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				q := timedGet(url, 60*time.Second)
				l.mu.Lock()
				l.reqs = append(l.reqs, q)
				l.mu.Unlock()
			}()
			select {
			case <-l.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return l
}

func (l *slowLoad) finish() []timedRequest {
	close(l.stop)
	l.wg.Wait()
	return l.reqs
}

// A start-first upgrade behind the proxy in HTTP mode while a request
// taking 3 s starts every 200 ms: every one of them answers 200, those the
// old container took included, and the switch that drains the old container
// returns only after the last of them ended (it began at least 3 s before).
func TestProxyDrainWaitsForSlowRequests(t *testing.T) {
	port := freePort(t)
	p := newProject(t, fmt.Sprintf(proxiedSite, "v1", port, true), "services:\n  site:\n    upgrade_strategy: {start_first: true}\n")
	p.mustDrover("up")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if v := get(t, base+"/version"); v != "v1\n" {
		t.Fatalf("through the proxy: %q", v)
	}
	load := startLoad(base+"/version", 2, 1)
	slow := startSlowLoad(base+"/slow?d=3s", 200*time.Millisecond)
	time.Sleep(3 * time.Second) // the slow requests overlap from here on
	p.write("docker-compose.yml", fmt.Sprintf(proxiedSite, "v2", port, true))
	r := p.mustDrover("--progress", "json", "up", "--upgrade")
	time.Sleep(time.Second)
	reqs := slow.finish()
	load.finish()
	begun, done := stepTimes(t, r, "proxy-switch", "serve the new ones, drain the old ones")

	versions := map[string]int{}
	inFlight := 0 // taken by the old container, still running when the switch began
	var lastOld timedRequest
	for _, q := range reqs {
		if q.err != nil || q.code != http.StatusOK {
			t.Errorf("a 3 s request failed: %s", q)
			continue
		}
		versions[q.body]++
		if q.body != "v1" {
			continue
		}
		if q.start.Before(begun.Time) && q.end.After(begun.Time) {
			inFlight++
		}
		if q.start.After(lastOld.start) {
			lastOld = q
		}
		// The old container answered after 3 s: the drain held the switch
		// until then (the old one is stopped only after it).
		if min := q.start.Add(3 * time.Second); done.Time.Before(min) {
			t.Errorf("the switch ended at %s, before a request the old container took could end (%s): %s",
				done.Time.Format("15:04:05.000"), min.Format("15:04:05.000"), q)
		}
	}
	t.Logf("%d requests of 3 s (%v); %d taken by v1 were in flight when the switch began; it drained for %s, ending %s after the last v1 request began; fast load %d requests, %d failed",
		len(reqs), versions, inFlight, done.Duration.Round(time.Millisecond), done.Time.Sub(lastOld.start).Round(time.Millisecond),
		load.ok.Load()+load.failed.Load(), load.failed.Load())
	if inFlight < 3 {
		t.Errorf("only %d requests of 3 s on the old container were in flight when the switch began; want at least 3 for the drain to have waited on", inFlight)
	}
	if versions["v2"] == 0 {
		t.Errorf("no 3 s request answered by v2: %v", versions)
	}
	if load.failed.Load() != 0 {
		t.Errorf("%d requests of the fast load failed: %v", load.failed.Load(), load.errs)
	}
	if v := get(t, base+"/version"); v != "v2\n" {
		t.Errorf("after the upgrade: %q", v)
	}
}

// With drain_timeout_ms: 1000, a GET that would take 30 s, in flight on the
// old container when the switch begins, holds the drain for the 1 s timeout
// and no longer: the proxy then ends it with 504 (not before the timeout),
// and the old container is stopped. A GET, because net/http replays one
// whose connection dies before an answer: if the proxy left the request to
// end with the container, it would run its whole length again on the new
// one and the drain timeout would bound nothing.
func TestProxyDrainTimeoutEndsALongRequest(t *testing.T) {
	port := freePort(t)
	p := newProject(t, fmt.Sprintf(proxiedSite, "v1", port, true), "services:\n  site:\n    upgrade_strategy: {start_first: true}\n    drain_timeout_ms: 1000\n")
	p.mustDrover("up")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	if v := get(t, base+"/version"); v != "v1\n" {
		t.Fatalf("through the proxy: %q", v)
	}
	long := make(chan timedRequest, 1)
	go func() { long <- timedRequestOf(http.MethodGet, base+"/slow?d=30s", 90*time.Second) }()
	time.Sleep(500 * time.Millisecond)
	p.write("docker-compose.yml", fmt.Sprintf(proxiedSite, "v2", port, true))
	r := p.mustDrover("--progress", "json", "up", "--upgrade")
	var q timedRequest
	select {
	case q = <-long:
	case <-time.After(60 * time.Second):
		t.Fatalf("the long request still runs 60 s after the upgrade:\n%s", r)
	}
	begun, done := stepTimes(t, r, "proxy-switch", "serve the new ones, drain the old ones")
	stop, _ := stepTimes(t, r, "stop", "keep for rollback")
	old, err := docker.ContainerInspect(context.Background(), p.name+"-site-1-r1")
	if err != nil {
		t.Fatal(err)
	}
	finished, _ := time.Parse(time.RFC3339Nano, old.State.FinishedAt)
	t.Logf("long request: %s; it ended %s after the switch began; the drain lasted %s (timeout 1 s); the stop began %s after the switch began; the old container exited %s after the switch began, %s before the request ended",
		q, q.end.Sub(begun.Time).Round(time.Millisecond), done.Duration.Round(time.Millisecond),
		stop.Time.Sub(begun.Time).Round(time.Millisecond), finished.Sub(begun.Time).Round(time.Millisecond), q.end.Sub(finished).Round(time.Millisecond))
	if q.code != http.StatusGatewayTimeout {
		t.Errorf("the long request ended with %s, want 504 from the proxy at the drain timeout", q)
	}
	if q.end.Sub(q.start) >= 30*time.Second {
		t.Errorf("the long request ran its whole 30 s: %s", q)
	}
	// Not before the drain timeout: a causal bound, which holds however
	// loaded the machine is.
	if q.end.Before(begun.Time.Add(time.Second)) {
		t.Errorf("the long request ended %s after the switch began, before the 1 s drain timeout: %s", q.end.Sub(begun.Time), q)
	}
	if done.Duration < time.Second {
		t.Errorf("the drain lasted %s with a request in flight: want the 1 s timeout", done.Duration)
	}
	// The default is 30 s: a drain that waited that long did not read
	// drain_timeout_ms.
	if done.Duration >= 30*time.Second {
		t.Errorf("the drain lasted %s: drain_timeout_ms 1000 was not applied", done.Duration)
	}
	if old.State.Running {
		t.Errorf("the old container %s still runs", old.Name)
	}
	if want := "drain timed out after 1s: requests still in flight on " + p.name + "-site-1-r1:80 were ended with 504"; !strings.Contains(done.Note, want) {
		t.Errorf("the switch's note is %q, want it to say %q", done.Note, want)
	}
	if v := get(t, base+"/version"); v != "v2\n" {
		t.Errorf("after the upgrade: %q", v)
	}
}

// In TCP mode the proxy cannot tell an idle keep-alive connection from a
// busy one: a client that keeps one open holds the drain for the whole
// drain_timeout_ms. The switch says so when it is done, naming the backend
// and what to do about it, and its reason said how long it might wait.
func TestProxyTCPDrainTimeoutIsExplained(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	p := newProject(t, fmt.Sprintf(proxiedScaled, port, ""), "services:\n  site:\n    upgrade_strategy: {start_first: true}\n    drain_timeout_ms: 1500\n")
	p.mustDrover("up")
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// One request, answered, then the connection stays open and idle, as
	// a browser's or net/http's pool keeps it.
	fmt.Fprintf(conn, "GET /version HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	p.write("docker-compose.yml", strings.Replace(fmt.Sprintf(proxiedScaled, port, ""), "IMAGE:v1", "IMAGE:v2", 1))
	r := p.mustDrover("--progress", "json", "up", "--upgrade")
	_, done := stepTimes(t, r, "proxy-switch", "drain the old ones, waiting up to 1.5s for their connections")
	t.Logf("the drain lasted %s with one idle keep-alive connection open; note: %s", done.Duration.Round(time.Millisecond), done.Note)
	if done.Duration < 1500*time.Millisecond {
		t.Errorf("the drain lasted %s with a connection open: want the 1.5 s timeout", done.Duration)
	}
	for _, want := range []string{"drain timed out after 1.5s with connections still open on " + p.name + "-site-1-r1:80", "app_protocol: http closes idle keep-alive connections"} {
		if !strings.Contains(done.Note, want) {
			t.Errorf("the switch's note is %q, want it to say %q", done.Note, want)
		}
	}
}

// proxiedScaled is a service of two containers behind the proxy, in TCP
// mode or HTTP mode.
const proxiedScaled = "services:\n  site:\n    image: IMAGE:v1\n    ports: [{target: 80, published: \"%d\", host_ip: 127.0.0.1%s}]\n    x-drover: {proxy: true}\n"

// perClientLoad counts, per client, the requests answered and failed.
type perClientLoad struct {
	fresh, keepAlive int
	mu               sync.Mutex
	ok, failed       []int // per client
	okAfter          []int // per client, successes that began after mark
	failedAfter      []int // per client, failures that began after mark
	mark             time.Time
	hosts            map[string]int
	errs             []string
	stop             chan struct{}
	wg               sync.WaitGroup
}

func startPerClientLoad(url string, fresh, keepAlive int) *perClientLoad {
	n := fresh + keepAlive
	l := &perClientLoad{fresh: fresh, keepAlive: keepAlive, ok: make([]int, n), failed: make([]int, n), okAfter: make([]int, n), failedAfter: make([]int, n), hosts: map[string]int{}, stop: make(chan struct{})}
	for i := 0; i < n; i++ {
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
				began := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					body, rerr := io.ReadAll(resp.Body)
					resp.Body.Close()
					if rerr == nil && resp.StatusCode == http.StatusOK {
						l.mu.Lock()
						l.ok[i]++
						if !l.mark.IsZero() && began.After(l.mark) {
							l.okAfter[i]++
						}
						l.hosts[strings.TrimSpace(string(body))]++
						l.mu.Unlock()
						continue
					}
					err = fmt.Errorf("status %d, %v", resp.StatusCode, rerr)
				}
				l.mu.Lock()
				l.failed[i]++
				if !l.mark.IsZero() && began.After(l.mark) {
					l.failedAfter[i]++
				}
				l.errs = append(l.errs, fmt.Sprintf("client %d at %s: %v", i, time.Now().Format("15:04:05.000"), err))
				l.mu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		}()
	}
	return l
}

func (l *perClientLoad) setMark() {
	l.mu.Lock()
	l.mark = time.Now()
	l.mu.Unlock()
}

func (l *perClientLoad) finish() { close(l.stop); l.wg.Wait() }

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// A backend killed under load (docker kill of one of two containers behind
// the proxy, start-first policy), under 4 clients opening a connection per
// request and 3 keep-alive clients: no request begun after the engine
// said the container was dead fails (only those in flight, or on
// connections open to the killed container, can; in HTTP mode none, since
// an unanswered GET goes to the other), every new-connection client keeps succeeding after the kill (the
// proxy tries the other backend when the dial fails), and the next drover
// up brings the second container back: two running, both answering through
// the proxy, and status lists two backends serving.
func TestProxyBackendKilledUnderLoad(t *testing.T) {
	for _, mode := range []string{"tcp", "http"} {
		t.Run(mode, func(t *testing.T) {
			port := freePort(t)
			proto := ""
			if mode == "http" {
				proto = ", app_protocol: http"
			}
			file := fmt.Sprintf(proxiedScaled, port, proto)
			p := newProject(t, file, "services:\n  site:\n    scale: 2\n    upgrade_strategy: {start_first: true}\n")
			p.mustDrover("up")
			url := fmt.Sprintf("http://127.0.0.1:%d/", port)
			get(t, url)
			const fresh, keepAlive = 4, 3
			load := startPerClientLoad(url, fresh, keepAlive)
			time.Sleep(time.Second)
			killed := p.name + "-site-2"
			if err := docker.ContainerKill(context.Background(), killed, "SIGKILL"); err != nil {
				load.finish()
				t.Fatal(err)
			}
			// Count successes from when the engine says it is dead.
			for i := 0; i < 100; i++ {
				c, err := docker.ContainerInspect(context.Background(), killed)
				if err == nil && !c.State.Running {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			load.mu.Lock()
			okBeforeKill := append([]int(nil), load.ok...)
			load.mu.Unlock()
			load.setMark()
			time.Sleep(4 * time.Second)
			load.mu.Lock()
			okAfterKill := append([]int(nil), load.okAfter...)
			load.mu.Unlock()
			up := p.mustDrover("up")
			time.Sleep(time.Second)
			load.finish()
			t.Logf("%s: %d requests answered, failed per client %v (clients 0-%d a new connection per request), answered per client in the 1 s before the kill %v and in the 4 s after it %v; hosts %d; errors %v; up:\n%s",
				mode, sum(load.ok), load.failed, fresh-1, okBeforeKill, okAfterKill, len(load.hosts), load.errs, up.stdout+up.stderr)

			// Only requests on connections to the killed container can
			// fail: those begun before the engine said it was dead (a
			// killed container accepts for a moment, longer on a loaded
			// engine, and the proxy passes it over after its first reset).
			for i, n := range load.failedAfter {
				if n > 0 {
					t.Errorf("client %d: %d requests begun after the killed container was dead failed", i, n)
				}
			}
			// In HTTP mode a GET in flight on the killed container,
			// unanswered, is sent again to the other one.
			if total := sum(load.failed); mode == "http" && total != 0 {
				t.Errorf("HTTP mode: %d requests failed; a GET the killed container did not answer should go to the other", total)
			}
			for i := 0; i < fresh; i++ {
				if okAfterKill[i] == 0 {
					t.Errorf("new-connection client %d had no answer in the 4 s after the kill", i)
				}
			}
			if sum(load.ok) < 100 {
				t.Errorf("only %d requests answered: the load did not run", sum(load.ok))
			}

			// The next up brought it back: two running, both answering.
			running := 0
			for _, c := range p.containers() {
				if !isProxyPart(c.Labels) && c.State == "running" {
					running++
				}
			}
			if running != 2 {
				t.Errorf("after up, %d of the service's containers run; want 2", running)
			}
			// A restarted container's name resolves again once the
			// engine's DNS has it: on a loaded engine, a moment after up.
			hosts := map[string]bool{}
			for deadline := time.Now().Add(10 * time.Second); len(hosts) < 2 && time.Now().Before(deadline); {
				hosts[timedGet(url, 5*time.Second).body] = true
				time.Sleep(100 * time.Millisecond)
			}
			if len(hosts) != 2 {
				t.Errorf("through the proxy after up, answers from %d containers: %v; want 2", len(hosts), hosts)
			}
			st := p.mustDrover("status", "--format", "json")
			var rows []struct {
				Service string   `json:"service"`
				Proxy   []string `json:"proxy"`
			}
			if err := json.Unmarshal([]byte(st.stdout), &rows); err != nil {
				t.Fatalf("status: %v\n%s", err, st)
			}
			serving := 0
			for _, r := range rows {
				for _, b := range r.Proxy {
					if r.Service == "site" && strings.HasSuffix(b, " serving") {
						serving++
					}
				}
			}
			if serving != 2 {
				t.Errorf("status shows %d backends serving; want 2:\n%s", serving, st.stdout)
			}
			if c, err := docker.ContainerInspect(context.Background(), killed); err != nil || !c.State.Running {
				t.Errorf("%s after up: %v %v", killed, err, c.State)
			}
		})
	}
}

// A scale down behind the proxy (HTTP mode, scale 3 to 1, under 4
// new-connection and 3 keep-alive clients, with 7 s requests in flight):
// the proxy drains the two leaving containers before they stop, so no
// request fails, the long ones included, and only the one left answers
// afterwards.
func TestProxyScaleDownUnderLoad(t *testing.T) {
	port := freePort(t)
	p := newProject(t, fmt.Sprintf(proxiedScaled, port, ", app_protocol: http"), "services:\n  site:\n    scale: 3\n    drain_timeout_ms: 10000\n")
	p.mustDrover("up")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	get(t, url)
	load := startPerClientLoad(url, 4, 3)
	time.Sleep(time.Second)
	load.mu.Lock()
	before := len(load.hosts)
	load.mu.Unlock()
	// Requests longer than the app's own grace at SIGTERM (hello finishes
	// its requests for 5 s): only a drain before the stop lets those on
	// the leaving containers end.
	posts := slowPosts(url+"slow?d=7s", 6)
	time.Sleep(300 * time.Millisecond)
	r := p.mustDrover("--progress", "json", "scale", "site=1")
	load.setMark()
	time.Sleep(time.Second)
	load.finish()
	t.Logf("%d requests answered from %d containers before the scale down; failed per client %v; errors %v", sum(load.ok), before, load.failed, load.errs)
	if total := sum(load.failed); total != 0 {
		t.Errorf("%d requests failed during the scale down", total)
	}
	for _, got := range posts() {
		if got != "200 <nil>" {
			t.Errorf("a 7 s POST begun before the scale down ended with %s", got)
		}
	}
	if before != 3 || sum(load.okAfter) < 10 {
		t.Errorf("answers from %d containers before the scale down (want 3), %d after it (want at least 10): the load did not run", before, sum(load.okAfter))
	}
	if !strings.Contains(r.stdout, "drain the surplus") {
		t.Errorf("no drain of the surplus in the run's events:\n%s", r.stdout)
	}
	hosts := map[string]bool{}
	for i := 0; i < 10; i++ {
		hosts[timedGet(url, 5*time.Second).body] = true
	}
	if len(hosts) != 1 {
		t.Errorf("after the scale down, answers from %v; want one container", hosts)
	}
}

// A restart behind the proxy (HTTP mode, one container, under 4
// new-connection and 3 keep-alive clients, with 3 s POSTs in flight): the
// proxy drains the container, holds new connections while it restarts and
// serves it again once ready, so no request fails.
func TestProxyRestartUnderLoad(t *testing.T) {
	port := freePort(t)
	p := newProject(t, fmt.Sprintf(proxiedScaled, port, ", app_protocol: http"), "services:\n  site:\n    drain_timeout_ms: 10000\n")
	p.mustDrover("up")
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	before := get(t, url)
	load := startPerClientLoad(url, 4, 3)
	posts := slowPosts(url+"slow?d=3s", 3)
	time.Sleep(500 * time.Millisecond)
	r := p.mustDrover("--progress", "json", "restart")
	load.setMark()
	time.Sleep(time.Second)
	load.finish()
	t.Logf("%d requests answered; failed per client %v; errors %v", sum(load.ok), load.failed, load.errs)
	if total := sum(load.failed); total != 0 {
		t.Errorf("%d requests failed during the restart", total)
	}
	if sum(load.okAfter) < 10 {
		t.Errorf("%d requests answered after the restart: the load did not run", sum(load.okAfter))
	}
	for _, got := range posts() {
		if got != "200 <nil>" {
			t.Errorf("a 3 s POST begun before the restart ended with %s", got)
		}
	}
	for _, want := range []string{"drain site#1 before its restart", "serve site#1"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("no %q switch in the run's events:\n%s", want, r.stdout)
		}
	}
	// The same container, restarted.
	if after := get(t, url); after != before {
		t.Errorf("after the restart the site answers %q, before %q", after, before)
	}
}

// slowPosts starts n POSTs of url at once, each on its own connection, and
// returns a function that waits for them and returns how each ended
// ("200 <nil>" when answered). POST: the proxy sends a GET its backend
// cut to another backend, which would hide a missing drain.
func slowPosts(url string, n int) func() []string {
	results := make(chan string, n)
	for i := 0; i < n; i++ {
		go func() {
			r := timedRequestOf(http.MethodPost, url, 30*time.Second)
			results <- fmt.Sprintf("%d %v", r.code, r.err)
		}()
	}
	return func() []string {
		out := make([]string, n)
		for i := range out {
			out[i] = <-results
		}
		return out
	}
}

// A published port the app never listens on (hello listens on 80 only, 81
// is published too): the proxy's first switch waits for it up to its bound,
// then serves both ports all the same, and the switch's line names the
// port it could not reach; port 80 answers.
func TestProxySwitchNamesAPortNobodyListensOn(t *testing.T) {
	port, deaf := freePort(t), freePort(t)
	p := newProject(t, fmt.Sprintf("services:\n  site:\n    image: IMAGE:v1\n    ports:\n      - {target: 80, published: \"%d\", host_ip: 127.0.0.1}\n      - {target: 81, published: \"%d\", host_ip: 127.0.0.1}\n    x-drover: {proxy: true}\n", port, deaf), "")
	r := p.mustDrover("--progress", "json", "up")
	var note string
	for _, ev := range jsonEvents(t, r.stdout) {
		if ev.Action == "proxy-switch" && ev.Phase == "done" {
			note += ev.Note
		}
	}
	if want := "the proxy could not connect to " + p.name + "-site-1-r1:81 within 10s"; !strings.Contains(note, want) || strings.Contains(note, ":80") {
		t.Errorf("the switch's note is %q, want it to name port 81 alone (%q)", note, want)
	}
	if v := get(t, fmt.Sprintf("http://127.0.0.1:%d/version", port)); v != "v1\n" {
		t.Errorf("port 80 answers %q", v)
	}
}

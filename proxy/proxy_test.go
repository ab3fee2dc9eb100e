package proxy

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// load runs clients concurrent loops of roundTrip against addr until stop is
// closed, and counts answers per backend name and failures.
type load struct {
	ok, failed atomic.Int64
	mu         sync.Mutex
	seen       map[string]int
	firstErr   error
	wg         sync.WaitGroup
}

func startLoad(addr string, clients int, stop <-chan struct{}) *load {
	l := &load{seen: map[string]int{}}
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				name, err := roundTrip(addr, 5*time.Second)
				l.mu.Lock()
				if err != nil {
					l.failed.Add(1)
					if l.firstErr == nil {
						l.firstErr = err
					}
				} else {
					l.ok.Add(1)
					l.seen[name]++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// TestApplyUnderLoad switches the serving backend twice (a -> b with a
// draining, then b -> a) while 32 clients open a new connection per request,
// and requires 0 failed requests, both backends seen, and no new connection to
// a draining backend once its drain was acknowledged.
func TestApplyUnderLoad(t *testing.T) {
	a := startBackend(t, "a", 0)
	b := startBackend(t, "b", 0)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(route(port, serving(a)))})

	stop := make(chan struct{})
	l := startLoad(loopback(port), 32, stop)
	time.Sleep(300 * time.Millisecond)

	// Add b and drain a in one apply; then drop a.
	resp := p.apply(t, Request{Table: table(route(port, draining(a), serving(b))), DrainTimeout: 5000})
	if len(resp.TimedOut) != 0 {
		t.Fatalf("drain of a timed out: %v", resp.TimedOut)
	}
	aAtAck := a.accepted.Load()
	time.Sleep(300 * time.Millisecond)
	p.apply(t, Request{Table: table(route(port, serving(b)))})
	time.Sleep(300 * time.Millisecond)
	if got := a.accepted.Load(); got != aAtAck {
		t.Errorf("a accepted %d connections after its drain was acknowledged (had %d)", got-aAtAck, aAtAck)
	}

	// And back, the rollback direction.
	resp = p.apply(t, Request{Table: table(route(port, serving(a), draining(b))), DrainTimeout: 5000})
	if len(resp.TimedOut) != 0 {
		t.Fatalf("drain of b timed out: %v", resp.TimedOut)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	l.wg.Wait()

	t.Logf("ok=%d failed=%d seen=%v generation=%d", l.ok.Load(), l.failed.Load(), l.seen, resp.Generation)
	if n := l.failed.Load(); n != 0 {
		t.Errorf("%d failed requests (first: %v)", n, l.firstErr)
	}
	if l.ok.Load() < 200 {
		t.Errorf("only %d requests: the load did not run", l.ok.Load())
	}
	if l.seen["a"] == 0 || l.seen["b"] == 0 {
		t.Errorf("both backends should have answered: %v", l.seen)
	}
	if resp.Generation != 4 {
		t.Errorf("generation = %d, want 4 after four applies", resp.Generation)
	}
}

// TestDrainWaitsForSlowConnection: an apply that drains a backend with one
// connection in flight (answering after 600 ms) is acknowledged only after that
// connection ends, and the connection is not cut.
func TestDrainWaitsForSlowConnection(t *testing.T) {
	slow := startBackend(t, "slow", 600*time.Millisecond)
	fresh := startBackend(t, "fresh", 0)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(route(port, serving(slow)))})

	answer := make(chan string, 1)
	started := time.Now()
	go func() {
		name, err := roundTrip(loopback(port), 5*time.Second)
		if err != nil {
			name = err.Error()
		}
		answer <- name
	}()
	p.waitActive(t, slow.addr, 1)

	resp := p.apply(t, Request{Table: table(route(port, draining(slow), serving(fresh))), DrainTimeout: 5000})
	elapsed := time.Since(started)
	if len(resp.TimedOut) != 0 || resp.Active[slow.addr] != 0 {
		t.Fatalf("drain: timed out %v, active %v", resp.TimedOut, resp.Active)
	}
	if elapsed < 550*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("apply acknowledged %v after the slow request started, want about 600ms", elapsed)
	}
	if got := <-answer; got != "slow" {
		t.Errorf("slow request answered %q, want slow", got)
	}
	if got, err := roundTrip(loopback(port), 5*time.Second); err != nil || got != "fresh" {
		t.Errorf("after drain: %q, %v; want fresh", got, err)
	}
}

// TestDrainTimeoutReported: a connection longer than the drain timeout makes
// the apply return at the timeout (200 ms, not the 1.5 s the connection takes)
// with the backend in TimedOut, and the connection itself still completes.
func TestDrainTimeoutReported(t *testing.T) {
	slow := startBackend(t, "slow", 1500*time.Millisecond)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(route(port, serving(slow)))})

	answer := make(chan string, 1)
	go func() {
		name, err := roundTrip(loopback(port), 5*time.Second)
		if err != nil {
			name = err.Error()
		}
		answer <- name
	}()
	p.waitActive(t, slow.addr, 1)

	start := time.Now()
	resp := p.apply(t, Request{Table: table(route(port, draining(slow))), DrainTimeout: 200})
	elapsed := time.Since(start)
	if !slices.Equal(resp.TimedOut, []string{slow.addr}) {
		t.Errorf("TimedOut = %v, want [%s]", resp.TimedOut, slow.addr)
	}
	if resp.Active[slow.addr] != 1 {
		t.Errorf("Active = %v, want the slow connection still open", resp.Active)
	}
	if elapsed < 200*time.Millisecond || elapsed > time.Second {
		t.Errorf("apply returned after %v, want about 200ms", elapsed)
	}
	if got := <-answer; got != "slow" {
		t.Errorf("the timed-out connection was cut: %q", got)
	}
}

// TestRetryOnRefusedConnect: with a dead address first in the table, all 20
// requests succeed on the live backend, whatever the round-robin position; and
// with only dead backends the client connection is closed, not held.
func TestRetryOnRefusedConnect(t *testing.T) {
	live := startBackend(t, "live", 0)
	dead := Backend{Addr: loopback(freePort(t)), State: StateServing}
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(route(port, dead, serving(live)))})

	for i := range 20 {
		got, err := roundTrip(loopback(port), 5*time.Second)
		if err != nil || got != "live" {
			t.Fatalf("request %d: %q, %v", i, got, err)
		}
	}
	if n := live.accepted.Load(); n != 20 {
		t.Errorf("live accepted %d, want 20", n)
	}

	p.apply(t, Request{Table: table(route(port, dead))})
	start := time.Now()
	if got, err := roundTrip(loopback(port), 5*time.Second); err == nil {
		t.Errorf("all backends dead: got answer %q", got)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("all backends dead: closed after %v, want at once", d)
	}
}

// TestResetBeforeAnswerPassesTheBackendOver: a backend that accepts and
// resets without answering (a container being killed still accepts for a
// moment) costs the connection it took, and is then passed over like one
// that refuses: the next 20 connections, within downFor, go to the live one.
func TestResetBeforeAnswerPassesTheBackendOver(t *testing.T) {
	live := startBackend(t, "live", 0)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var resets atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			resets.Add(1)
			bufio.NewReader(c).ReadString('\n')
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	dying := Backend{Addr: ln.Addr().String(), State: StateServing}
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(route(port, dying, serving(live)))})

	failed := 0
	for range 21 {
		if got, err := roundTrip(loopback(port), 5*time.Second); err != nil || got != "live" {
			failed++
		}
	}
	if failed != 1 || resets.Load() != 1 || live.accepted.Load() != 20 {
		t.Errorf("%d of 21 connections failed, the resetting backend took %d, the live one %d; want 1, 1 and 20", failed, resets.Load(), live.accepted.Load())
	}
}

// TestApplyReachesNewBackendsFirst: with Reach, an apply waits until the
// proxy can connect to a backend it is to serve for the first time (one
// that begins to listen 300 ms later) before it switches; a backend it
// never reaches within the bound is switched to at the bound all the same,
// and the answer names it.
func TestApplyReachesNewBackendsFirst(t *testing.T) {
	dir := t.TempDir()
	p := startProxyWith(t, ServeOptions{ControlSocket: filepath.Join(dir, "ctl.sock"), ListenHost: "127.0.0.1", reachWait: time.Second})
	old := startBackend(t, "old", 0)
	port := freePort(t)
	p.apply(t, Request{Table: table(route(port, serving(old)))})

	late := freePort(t)
	go func() {
		time.Sleep(300 * time.Millisecond)
		ln, err := net.Listen("tcp", loopback(late))
		if err != nil {
			return
		}
		t.Cleanup(func() { ln.Close() })
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "late\n")
			c.Close()
		}
	}()
	start := time.Now()
	resp := p.apply(t, Request{Table: table(route(port, Backend{Addr: loopback(late), State: StateServing})), Reach: true})
	if took := time.Since(start); !resp.OK || took < 250*time.Millisecond {
		t.Errorf("apply of a backend listening 300 ms later: %+v after %s; want ok after it listens", resp, took)
	}
	if got, err := roundTrip(loopback(port), 5*time.Second); got != "late" {
		t.Errorf("after the apply: %q, %v; want the new backend", got, err)
	}

	p.apply(t, Request{Table: table(route(port, serving(old)))})
	never := Backend{Addr: loopback(freePort(t)), State: StateServing}
	start = time.Now()
	resp = p.apply(t, Request{Table: table(route(port, never)), Reach: true})
	if took := time.Since(start); !resp.OK || fmt.Sprint(resp.Unreached) != "["+never.Addr+"]" || took < 900*time.Millisecond {
		t.Errorf("apply of a backend that never listens: %+v after %s; want ok after the 1 s bound, naming it", resp, took)
	}
	if got := p.get(t).Table.Routes[0].Backends; len(got) != 1 || got[0].Addr != never.Addr {
		t.Errorf("after the bound the table serves %v; want %s", got, never.Addr)
	}
}

// TestPauseResume: a connection made while the route is paused waits, is not
// dialed, and is answered once an apply unpauses the route (latency of about
// 300 ms, no error); a paused connection past MaxPause (200 ms) is closed.
func TestPauseResume(t *testing.T) {
	a := startBackend(t, "a", 0)
	p := startProxy(t, "")
	port := freePort(t)
	paused := route(port, serving(a))
	paused.Paused = true
	p.apply(t, Request{Table: table(paused)})

	type result struct {
		name string
		err  error
		took time.Duration
	}
	res := make(chan result, 1)
	go func() {
		start := time.Now()
		name, err := roundTrip(loopback(port), 5*time.Second)
		res <- result{name, err, time.Since(start)}
	}()
	time.Sleep(300 * time.Millisecond)
	if n := a.accepted.Load(); n != 0 {
		t.Fatalf("backend dialed %d times while paused", n)
	}
	p.apply(t, Request{Table: table(route(port, serving(a)))})
	r := <-res
	if r.err != nil || r.name != "a" {
		t.Fatalf("held connection: %q, %v", r.name, r.err)
	}
	if r.took < 300*time.Millisecond {
		t.Errorf("held connection answered after %v, want at least 300ms", r.took)
	}

	p.apply(t, Request{Table: table(paused), MaxPause: 200})
	start := time.Now()
	if got, err := roundTrip(loopback(port), 5*time.Second); err == nil {
		t.Errorf("paused past MaxPause: got answer %q", got)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("paused past MaxPause: closed after %v, want about 200ms", d)
	}
}

// TestNoServingBackendHolds: a route whose only backend is draining holds a
// new connection rather than refusing it, and serves it once a backend is
// added (the stop-first case without an explicit pause).
func TestNoServingBackendHolds(t *testing.T) {
	a := startBackend(t, "a", 0)
	b := startBackend(t, "b", 0)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(route(port, draining(a)))})

	res := make(chan string, 1)
	go func() {
		name, err := roundTrip(loopback(port), 5*time.Second)
		if err != nil {
			name = err.Error()
		}
		res <- name
	}()
	time.Sleep(200 * time.Millisecond)
	p.apply(t, Request{Table: table(route(port, serving(b)))})
	if got := <-res; got != "b" {
		t.Errorf("held connection answered %q, want b", got)
	}
	if n := a.accepted.Load(); n != 0 {
		t.Errorf("draining backend got %d new connections", n)
	}
}

// TestRemovedRouteKeepsInflight: removing a route closes its port for new
// connections but lets a connection in flight finish.
func TestRemovedRouteKeepsInflight(t *testing.T) {
	slow := startBackend(t, "slow", 400*time.Millisecond)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(route(port, serving(slow)))})

	res := make(chan string, 1)
	go func() {
		name, err := roundTrip(loopback(port), 5*time.Second)
		if err != nil {
			name = err.Error()
		}
		res <- name
	}()
	p.waitActive(t, slow.addr, 1)
	p.apply(t, Request{Table: table()})
	if c, err := net.DialTimeout("tcp", loopback(port), time.Second); err == nil {
		c.Close()
		t.Errorf("port %d still accepts after its route was removed", port)
	}
	if got := <-res; got != "slow" {
		t.Errorf("in-flight connection on a removed route: %q", got)
	}
}

// TestStateSurvivesRestart: a second Serve on the same state file restores the
// table and generation, listens again, and continues the generation count.
func TestStateSurvivesRestart(t *testing.T) {
	a := startBackend(t, "a", 0)
	state := filepath.Join(t.TempDir(), "state.json")
	port := freePort(t)

	p := startProxy(t, state)
	p.apply(t, Request{Table: table(route(port, serving(a))), MaxPause: 1234})
	want := p.get(t).Table
	p.stop()

	p = startProxy(t, state)
	resp := p.get(t)
	if resp.Generation != 1 {
		t.Errorf("restored generation = %d, want 1", resp.Generation)
	}
	gotJSON, _ := json.Marshal(resp.Table)
	wantJSON, _ := json.Marshal(want)
	if string(gotJSON) != string(wantJSON) {
		t.Errorf("restored table\n got %s\nwant %s", gotJSON, wantJSON)
	}
	if got, err := roundTrip(loopback(port), 5*time.Second); err != nil || got != "a" {
		t.Errorf("through the restored route: %q, %v", got, err)
	}
	if g := p.apply(t, Request{Table: table(route(port, serving(a)))}).Generation; g != 2 {
		t.Errorf("generation after restart and apply = %d, want 2", g)
	}
}

// TestControlErrors: malformed or invalid requests are answered with OK=false
// and an error, and leave the table as it was.
func TestControlErrors(t *testing.T) {
	a := startBackend(t, "a", 0)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: &Table{Generation: 5, Routes: []Route{route(port, serving(a))}}})

	t.Run("bad JSON", func(t *testing.T) {
		c, err := net.Dial("unix", p.sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("{not json\n"))
		var resp Response
		if err := json.NewDecoder(c).Decode(&resp); err != nil {
			t.Fatal(err)
		}
		if resp.OK || !strings.Contains(resp.Error, "bad request") || resp.Generation != 5 {
			t.Errorf("bad JSON answered %+v", resp)
		}
	})

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	freeNow := freePort(t)

	cases := []struct {
		name string
		req  Request
		want string
	}{
		{"unknown op", Request{Op: "frobnicate"}, `unknown op "frobnicate"`},
		{"apply without table", Request{Op: OpApply}, "no table"},
		{"port listed twice", Request{Op: OpApply, Table: table(route(port), route(port))}, "listed twice"},
		{"port out of range", Request{Op: OpApply, Table: table(route(70000))}, "out of range"},
		{"unknown mode", Request{Op: OpApply, Table: table(Route{Listen: port, Mode: "udp"})}, `unknown mode "udp"`},
		{"unknown state", Request{Op: OpApply, Table: table(route(port, Backend{Addr: a.addr, State: "gone"}))}, `unknown state "gone"`},
		{"addr without port", Request{Op: OpApply, Table: table(route(port, Backend{Addr: "web"}))}, "want host:port"},
		{"stale generation", Request{Op: OpApply, Table: &Table{Generation: 4}}, "stale generation 4"},
		// The second port is free, the first is not: the apply must fail
		// and leave neither open.
		{"port in use", Request{Op: OpApply, Table: table(route(port), route(busyPort), route(freeNow))}, "listen on port"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := Ctl(context.Background(), p.sock, tc.req)
			if err == nil || resp.OK {
				t.Fatalf("accepted: %+v", resp)
			}
			if !strings.Contains(resp.Error, tc.want) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q (Ctl: %v), want it to mention %q", resp.Error, err, tc.want)
			}
			if resp.Generation != 5 {
				t.Errorf("generation = %d, want 5 (unchanged)", resp.Generation)
			}
		})
	}

	if g := p.get(t); g.Generation != 5 || len(g.Table.Routes) != 1 {
		t.Errorf("table changed by refused requests: %+v", g.Table)
	}
	if c, err := net.DialTimeout("tcp", loopback(freeNow), time.Second); err == nil {
		c.Close()
		t.Errorf("a refused apply left port %d open", freeNow)
	}
	if got, err := roundTrip(loopback(port), 5*time.Second); err != nil || got != "a" {
		t.Errorf("route after refused requests: %q, %v", got, err)
	}
}

// TestCtlWaitsForAStartingProxy: a control request sent before the proxy has
// made its socket (drover pushes the first table right after the start) is
// answered once it has, instead of failing.
func TestCtlWaitsForAStartingProxy(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	res := make(chan error, 1)
	go func() {
		_, err := Ctl(context.Background(), sock, Request{Op: OpGet})
		res <- err
	}()
	time.Sleep(300 * time.Millisecond)
	startProxyAt(t, sock, "")
	if err := <-res; err != nil {
		t.Errorf("a request sent before the proxy started: %v", err)
	}
}

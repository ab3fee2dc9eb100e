package proxy

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// On loopback the launcher's socket and the proxy's in-container listener
// cannot share 127.0.0.1:port, as they do in two network namespaces, so
// each test gives its host addresses ports of their own and maps them to
// the route ports (ServeOptions.hostRoute); TestPortOf covers the real
// mapping.

// launcherUnderTest is one ServePorts call.
type launcherUnderTest struct {
	cancel context.CancelFunc
	done   chan error
}

// startLauncher runs ServePorts on sock and waits until the socket exists.
func startLauncher(t testing.TB, sock string, addrs ...string) *launcherUnderTest {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &launcherUnderTest{cancel: cancel, done: make(chan error, 1)}
	go func() { l.done <- ServePorts(ctx, PortsOptions{Socket: sock, Listen: addrs}) }()
	t.Cleanup(l.stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(sock); err == nil {
			return l
		}
		select {
		case err := <-l.done:
			l.done <- err
			t.Fatalf("ServePorts returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("the launcher's socket never appeared")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop cancels ServePorts and waits for it; idempotent.
func (l *launcherUnderTest) stop() {
	l.cancel()
	if err, ok := <-l.done; ok {
		close(l.done)
		if err != nil {
			panic("ServePorts: " + err.Error())
		}
	}
}

// shortDir is a temp dir short enough for unix socket paths.
func shortDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hp")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// hostOpts are the options of a proxy with a launcher at ports, its control
// socket named name in dir; hosts maps a host port to the route port that
// serves it.
func hostOpts(dir, name, ports, state string, hosts map[int]int) ServeOptions {
	return ServeOptions{
		StateFile:     state,
		ControlSocket: filepath.Join(dir, name),
		ListenHost:    "127.0.0.1",
		PortsSocket:   ports,
		hostRoute: func(addr string) (int, error) {
			hp, err := portOf(addr)
			if err != nil {
				return 0, err
			}
			if rp, ok := hosts[hp]; ok {
				return rp, nil
			}
			return 0, fmt.Errorf("test: no route port for %s", addr)
		},
	}
}

// waitHost polls get until HostPorts satisfies ok.
func (p *proxyUnderTest) waitHost(t *testing.T, what string, ok func(map[string]string) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		hp := p.get(t).HostPorts
		if ok(hp) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("host ports never %s: %v", what, hp)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func expectAnswer(t *testing.T, addr, want string) {
	t.Helper()
	if got, err := roundTrip(addr, 5*time.Second); err != nil || got != want {
		t.Errorf("through %s: %q, %v; want %q", addr, got, err, want)
	}
}

// TestHostPortsServeBothModes: host connections reach the backend through
// the launcher's sockets, in TCP and in HTTP mode, while the in-container
// listeners keep working; a host address whose port has no route closes
// its connections, as a port without a route did before.
func TestHostPortsServeBothModes(t *testing.T) {
	b := startBackend(t, "b", 0)
	hb := startHTTPBackend(t, "hb", 0)
	tcpHost, httpHost, idleHost := freePort(t), freePort(t), freePort(t)
	tcpPort, httpPort, idlePort := freePort(t), freePort(t), freePort(t)
	dir := shortDir(t)
	ports := filepath.Join(dir, "ports.sock")
	startLauncher(t, ports, loopback(tcpHost), loopback(httpHost), loopback(idleHost))
	p := startProxyWith(t, hostOpts(dir, "ctl.sock", ports, "", map[int]int{tcpHost: tcpPort, httpHost: httpPort, idleHost: idlePort}))

	resp := p.apply(t, Request{Table: table(route(tcpPort, serving(b)), httpRoute(httpPort, httpServing(hb)))})
	want := map[string]string{loopback(tcpHost): "", loopback(httpHost): "", loopback(idleHost): ""}
	if !maps.Equal(resp.HostPorts, want) {
		t.Fatalf("apply's host ports = %v, want %v", resp.HostPorts, want)
	}
	expectAnswer(t, loopback(tcpHost), "b")
	expectAnswer(t, loopback(tcpPort), "b")
	c := &http.Client{Timeout: 5 * time.Second}
	defer c.CloseIdleConnections()
	for _, port := range []int{httpHost, httpPort} {
		if body, err := get(c, "http://"+loopback(port)+"/"); err != nil || body != "hb" {
			t.Errorf("GET through port %d: %q, %v", port, body, err)
		}
	}
	if got, err := roundTrip(loopback(idleHost), 5*time.Second); err == nil {
		t.Errorf("a host address without a route answered %q", got)
	}
	if n := b.accepted.Load(); n != 2 {
		t.Errorf("backend accepted %d connections, want 2", n)
	}
}

// TestHostPortsLauncherStartsAfterProxy: until the launcher answers, the one
// host-ports entry is its socket and why; an apply then waits for the
// launcher that starts meanwhile, and answers with the ports held.
func TestHostPortsLauncherStartsAfterProxy(t *testing.T) {
	b := startBackend(t, "b", 0)
	host, port := freePort(t), freePort(t)
	dir := shortDir(t)
	ports := filepath.Join(dir, "ports.sock")
	p := startProxyWith(t, hostOpts(dir, "ctl.sock", ports, "", map[int]int{host: port}))

	hp := p.get(t).HostPorts
	if len(hp) != 1 || !strings.HasPrefix(hp[ports], "no answer from the launcher at "+ports) {
		t.Fatalf("host ports before the launcher = %v, want only %s: no answer ...", hp, ports)
	}
	ctx, cancel := context.WithCancel(context.Background())
	launched := make(chan error, 1)
	t.Cleanup(func() {
		cancel()
		if err := <-launched; err != nil {
			t.Errorf("ServePorts: %v", err)
		}
	})
	go func() {
		time.Sleep(300 * time.Millisecond)
		launched <- ServePorts(ctx, PortsOptions{Socket: ports, Listen: []string{loopback(host)}})
	}()
	start := time.Now()
	resp := p.apply(t, Request{Table: table(route(port, serving(b)))})
	if want := map[string]string{loopback(host): ""}; !maps.Equal(resp.HostPorts, want) {
		t.Fatalf("apply's host ports = %v (after %v), want %v", resp.HostPorts, time.Since(start), want)
	}
	expectAnswer(t, loopback(host), "b")
}

// TestHostPortsBusyPortServedOnceFreed: a port another process holds (the
// old container during a move) is reported with the launcher's bind error;
// an apply waits for it, and once it is freed the launcher binds it and the
// proxy serves it.
func TestHostPortsBusyPortServedOnceFreed(t *testing.T) {
	b := startBackend(t, "b", 0)
	host, port := freePort(t), freePort(t)
	blocker, err := net.Listen("tcp", loopback(host))
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	dir := shortDir(t)
	ports := filepath.Join(dir, "ports.sock")
	startLauncher(t, ports, loopback(host))
	p := startProxyWith(t, hostOpts(dir, "ctl.sock", ports, "", map[int]int{host: port}))
	p.waitHost(t, "said the port is busy", func(hp map[string]string) bool {
		return strings.Contains(hp[loopback(host)], "address already in use")
	})

	const freedAfter = 300 * time.Millisecond
	go func() {
		time.Sleep(freedAfter)
		blocker.Close()
	}()
	start := time.Now()
	resp := p.apply(t, Request{Table: table(route(port, serving(b)))})
	took := time.Since(start)
	if want := map[string]string{loopback(host): ""}; !maps.Equal(resp.HostPorts, want) {
		t.Fatalf("apply's host ports = %v, want %v", resp.HostPorts, want)
	}
	if took < freedAfter {
		t.Errorf("apply answered after %v, before the port was freed (%v)", took, freedAfter)
	}
	expectAnswer(t, loopback(host), "b")
}

// TestHostPortsProxyRestartKeepsBacklog: while no proxy runs, the
// launcher's socket keeps the port bound, so a client that connects then
// waits in the accept backlog instead of being refused; the next proxy gets
// the same socket again and answers it.
func TestHostPortsProxyRestartKeepsBacklog(t *testing.T) {
	b := startBackend(t, "b", 0)
	host, port := freePort(t), freePort(t)
	dir := shortDir(t)
	ports, state := filepath.Join(dir, "ports.sock"), filepath.Join(dir, "state.json")
	hosts := map[int]int{host: port}
	startLauncher(t, ports, loopback(host))
	p := startProxyWith(t, hostOpts(dir, "ctl.sock", ports, state, hosts))
	p.apply(t, Request{Table: table(route(port, serving(b)))})
	expectAnswer(t, loopback(host), "b")
	p.stop()

	type answer struct {
		got string
		err error
	}
	waiting := make(chan answer, 1)
	go func() {
		got, err := roundTrip(loopback(host), 10*time.Second)
		waiting <- answer{got, err}
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case a := <-waiting:
		t.Fatalf("with no proxy running the client got %q, %v; want it waiting", a.got, a.err)
	default:
	}

	p = startProxyWith(t, hostOpts(dir, "ctl.sock", ports, state, hosts))
	select {
	case a := <-waiting:
		if a.err != nil || a.got != "b" {
			t.Errorf("the client that waited through the restart got %q, %v", a.got, a.err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the client that waited through the restart got no answer")
	}
	expectAnswer(t, loopback(host), "b")
	if want := map[string]string{loopback(host): ""}; !maps.Equal(p.get(t).HostPorts, want) {
		t.Errorf("host ports after the restart = %v, want %v", p.get(t).HostPorts, want)
	}
}

// TestHostPortsLauncherRestart: the launcher ends while the proxy holds the
// sockets: the proxy's copies keep the ports bound and served; a new
// launcher cannot bind them and keeps trying without disturbing anything;
// once the proxy ends, the new launcher binds the ports and the next proxy
// serves them.
func TestHostPortsLauncherRestart(t *testing.T) {
	b := startBackend(t, "b", 0)
	host, port := freePort(t), freePort(t)
	dir := shortDir(t)
	ports, state := filepath.Join(dir, "ports.sock"), filepath.Join(dir, "state.json")
	hosts := map[int]int{host: port}
	l := startLauncher(t, ports, loopback(host))
	p := startProxyWith(t, hostOpts(dir, "ctl.sock", ports, state, hosts))
	p.apply(t, Request{Table: table(route(port, serving(b)))})
	l.stop()
	expectAnswer(t, loopback(host), "b")

	startLauncher(t, ports, loopback(host))
	deadline := time.Now().Add(5 * time.Second)
	for {
		msg, lns, err := fetchPorts(context.Background(), ports)
		closeListeners(lns)
		if err == nil && len(msg.Ports) == 1 && strings.Contains(msg.Ports[0].Error, "address already in use") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new launcher never said the port is busy: %+v, %v", msg, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for range 4 { // across several of the launcher's bind attempts
		expectAnswer(t, loopback(host), "b")
		time.Sleep(150 * time.Millisecond)
	}
	if want := map[string]string{loopback(host): ""}; !maps.Equal(p.get(t).HostPorts, want) {
		t.Errorf("host ports with the new launcher = %v, want %v", p.get(t).HostPorts, want)
	}

	p.stop()
	p = startProxyWith(t, hostOpts(dir, "ctl.sock", ports, state, hosts))
	resp := p.apply(t, Request{Table: table(route(port, serving(b)))})
	if want := map[string]string{loopback(host): ""}; !maps.Equal(resp.HostPorts, want) {
		t.Fatalf("host ports with the next proxy = %v, want %v", resp.HostPorts, want)
	}
	expectAnswer(t, loopback(host), "b")
}

// TestHostPortsInAnswers: get and apply report every host address, ""
// when served and the launcher's error for a port another process holds;
// the apply gave up waiting at its bound. Without a launcher the field is
// absent.
func TestHostPortsInAnswers(t *testing.T) {
	b := startBackend(t, "b", 0)
	free, held := freePort(t), freePort(t)
	freeRoute, heldRoute := freePort(t), freePort(t)
	blocker, err := net.Listen("tcp", loopback(held))
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	dir := shortDir(t)
	ports := filepath.Join(dir, "ports.sock")
	l := startLauncher(t, ports, loopback(free), loopback(held))
	o := hostOpts(dir, "ctl.sock", ports, "", map[int]int{free: freeRoute, held: heldRoute})
	const wait = 300 * time.Millisecond
	o.hostWait = wait
	p := startProxyWith(t, o)

	start := time.Now()
	resp := p.apply(t, Request{Table: table(route(freeRoute, serving(b)), route(heldRoute, serving(b)))})
	if took := time.Since(start); took < wait {
		t.Errorf("apply answered after %v, before its wait for the host ports (%v)", took, wait)
	}
	for op, hp := range map[string]map[string]string{"apply": resp.HostPorts, "get": p.get(t).HostPorts} {
		wantErr := fmt.Sprintf("listen tcp %s: bind: address already in use", loopback(held))
		if len(hp) != 2 || hp[loopback(free)] != "" || hp[loopback(held)] != wantErr {
			t.Errorf("%s: host ports = %q, want %s: \"\" and %s: %q", op, hp, loopback(free), loopback(held), wantErr)
		}
	}
	js, _ := json.Marshal(resp)
	if !strings.Contains(string(js), `"host_ports":{`) {
		t.Errorf("apply's answer has no host_ports: %s", js)
	}
	expectAnswer(t, loopback(free), "b")

	// The proxy asked again for the busy port every 250 ms and got a copy
	// of the free one each time: once both sides end, none is left.
	time.Sleep(3 * fetchRetry)
	p.stop()
	l.stop()
	if ln, err := net.Listen("tcp", loopback(free)); err != nil {
		t.Errorf("the host port is still bound after the proxy and the launcher ended: %v", err)
	} else {
		ln.Close()
	}

	plain := startProxy(t, "")
	js, _ = json.Marshal(plain.get(t))
	if strings.Contains(string(js), "host_ports") {
		t.Errorf("a proxy without a launcher answers host_ports: %s", js)
	}
}

// TestPortsMessage: what the launcher sends, line and descriptors, and that
// it leaves nothing behind when it ends.
func TestPortsMessage(t *testing.T) {
	free, held := freePort(t), freePort(t)
	blocker, err := net.Listen("tcp", loopback(held))
	if err != nil {
		t.Fatal(err)
	}
	defer blocker.Close()
	ports := filepath.Join(shortDir(t), "ports.sock")
	l := startLauncher(t, ports, loopback(free), loopback(held))

	var msg PortsMessage
	var lns []net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for {
		msg, lns, err = fetchPorts(context.Background(), ports)
		if err != nil {
			t.Fatal(err)
		}
		if msg.Ports[0].FD && msg.Ports[1].Error != errNotYetBound {
			break
		}
		closeListeners(lns)
		if time.Now().After(deadline) {
			t.Fatalf("the launcher never tried both: %+v", msg)
		}
		time.Sleep(10 * time.Millisecond)
	}
	defer closeListeners(lns)
	line, _ := json.Marshal(msg)
	want := fmt.Sprintf(`{"ports":[{"addr":"%s","fd":true},{"addr":"%s","error":"listen tcp %s: bind: address already in use"}]}`,
		loopback(free), loopback(held), loopback(held))
	if string(line) != want {
		t.Errorf("message\n got %s\nwant %s", line, want)
	}
	if len(lns) != 1 || lns[0].Addr().String() != loopback(free) {
		t.Fatalf("listeners = %v, want one on %s", lns, loopback(free))
	}
	closeListeners(lns)

	l.stop()
	if _, err := os.Stat(ports); !os.IsNotExist(err) {
		t.Errorf("socket file after the launcher ended: %v", err)
	}
	ln, err := net.Listen("tcp", loopback(free))
	if err != nil {
		t.Errorf("port still bound after the launcher ended: %v", err)
	} else {
		ln.Close()
	}
}

// TestServePortsRefusesToStart: only what makes it unable to start is an
// error.
func TestServePortsRefusesToStart(t *testing.T) {
	dir := shortDir(t)
	live := filepath.Join(dir, "live.sock")
	startLauncher(t, live, loopback(freePort(t)))
	for _, tc := range []struct {
		name string
		o    PortsOptions
		want string
	}{
		{"no socket", PortsOptions{Listen: []string{":80"}}, "no socket"},
		{"no address", PortsOptions{Socket: filepath.Join(dir, "a.sock")}, "no address"},
		{"no port", PortsOptions{Socket: filepath.Join(dir, "a.sock"), Listen: []string{"80"}}, `address "80"`},
		{"port by name", PortsOptions{Socket: filepath.Join(dir, "a.sock"), Listen: []string{":http"}}, `port "http" is not a number`},
		{"port out of range", PortsOptions{Socket: filepath.Join(dir, "a.sock"), Listen: []string{":70000"}}, `port "70000" is not a number`},
		{"socket in use", PortsOptions{Socket: live, Listen: []string{":80"}}, "another launcher is listening"},
		{"socket dir missing", PortsOptions{Socket: filepath.Join(dir, "no", "a.sock"), Listen: []string{":80"}}, "no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := ServePorts(ctx, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("ServePorts = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestPortOf: a host address serves the route whose Listen is its port.
func TestPortOf(t *testing.T) {
	for addr, want := range map[string]int{":80": 80, "0.0.0.0:8080": 8080, "127.0.0.1:1": 1, "[::]:65535": 65535} {
		if got, err := portOf(addr); err != nil || got != want {
			t.Errorf("portOf(%q) = %d, %v; want %d", addr, got, err, want)
		}
	}
	for _, addr := range []string{"80", ":0", ":x", "host"} {
		if _, err := portOf(addr); err == nil {
			t.Errorf("portOf(%q) took it", addr)
		}
	}
}

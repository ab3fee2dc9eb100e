package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// httpBackend answers with its name; /slow waits delay first; /echo returns
// the request body and the forwarding headers; /stream sends one line, then a
// second one when release is closed.
type httpBackend struct {
	name     string
	addr     string
	requests atomic.Int64
	release  chan struct{}
}

func startHTTPBackend(t testing.TB, name string, delay time.Duration) *httpBackend {
	t.Helper()
	b := &httpBackend{name: name, release: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.requests.Add(1)
		switch r.URL.Path {
		case "/slow":
			time.Sleep(delay)
		case "/echo":
			body, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s|xff=%s|proto=%s|xhost=%s|host=%s", body,
				r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"),
				r.Header.Get("X-Forwarded-Host"), r.Host)
			return
		case "/sink":
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprint(w, n)
			return
		case "/big":
			w.Header().Set("Content-Length", strconv.Itoa(bigBody))
			chunk := make([]byte, 64<<10)
			for sent := 0; sent < bigBody; sent += len(chunk) {
				w.Write(chunk)
			}
			return
		case "/stream":
			io.WriteString(w, "first\n")
			w.(http.Flusher).Flush()
			<-b.release
			io.WriteString(w, "second\n")
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	b.addr = srv.Listener.Addr().String()
	return b
}

// bigBody is the size of the httpBackend's /big answer (a multiple of 64 KiB).
const bigBody = 8 << 20

func httpRoute(port int, backends ...Backend) Route {
	return Route{Listen: port, Mode: ModeHTTP, Backends: backends}
}

func httpServing(b *httpBackend) Backend  { return Backend{Addr: b.addr, State: StateServing} }
func httpDraining(b *httpBackend) Backend { return Backend{Addr: b.addr, State: StateDraining} }

func get(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return string(body), nil
}

// TestHTTPSwitchUnderLoad: 8 keep-alive clients and 8 clients with a new
// connection per request; a -> b with a draining: 0 failed requests, a gets
// no request after the drain is acknowledged, and the keep-alive clients
// reach b over their existing connections (what TCP mode cannot do).
func TestHTTPSwitchUnderLoad(t *testing.T) {
	a := startHTTPBackend(t, "a", 0)
	b := startHTTPBackend(t, "b", 0)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(httpRoute(port, httpServing(a)))})
	url := "http://" + loopback(port) + "/"

	var ok, failed atomic.Int64
	var mu sync.Mutex
	var firstErr error
	keepAliveSawB := make([]bool, 8)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := func(i int, keepAlive bool) {
		defer wg.Done()
		tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			name, err := get(c, url)
			if err != nil {
				failed.Add(1)
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
				continue
			}
			ok.Add(1)
			if keepAlive && name == "b" {
				keepAliveSawB[i] = true
			}
		}
	}
	for i := range 8 {
		wg.Add(2)
		go client(i, true)
		go client(i, false)
	}
	time.Sleep(300 * time.Millisecond)
	resp := p.apply(t, Request{Table: table(httpRoute(port, httpDraining(a), httpServing(b))), DrainTimeout: 5000})
	if len(resp.TimedOut) != 0 {
		t.Fatalf("drain timed out: %v", resp.TimedOut)
	}
	aAtAck := a.requests.Load()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	t.Logf("ok=%d failed=%d a=%d b=%d", ok.Load(), failed.Load(), a.requests.Load(), b.requests.Load())
	if n := failed.Load(); n != 0 {
		t.Errorf("%d failed requests (first: %v)", n, firstErr)
	}
	if ok.Load() < 100 || aAtAck == 0 || b.requests.Load() == 0 {
		t.Errorf("load too small or a backend unused: ok=%d a=%d b=%d", ok.Load(), aAtAck, b.requests.Load())
	}
	if got := a.requests.Load(); got != aAtAck {
		t.Errorf("a got %d requests after its drain was acknowledged", got-aAtAck)
	}
	for i, saw := range keepAliveSawB {
		if !saw {
			t.Errorf("keep-alive client %d never reached b", i)
		}
	}
}

// TestHTTPDrainWaitsForInflight: a 600 ms request in flight on a backend being
// drained holds the acknowledgement until it completes with 200.
func TestHTTPDrainWaitsForInflight(t *testing.T) {
	slow := startHTTPBackend(t, "slow", 600*time.Millisecond)
	fresh := startHTTPBackend(t, "fresh", 0)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(httpRoute(port, httpServing(slow)))})

	res := make(chan string, 1)
	start := time.Now()
	go func() {
		name, err := get(http.DefaultClient, "http://"+loopback(port)+"/slow")
		if err != nil {
			name = err.Error()
		}
		res <- name
	}()
	p.waitActive(t, slow.addr, 1)
	resp := p.apply(t, Request{Table: table(httpRoute(port, httpDraining(slow), httpServing(fresh))), DrainTimeout: 5000})
	if d := time.Since(start); d < 550*time.Millisecond || len(resp.TimedOut) != 0 {
		t.Errorf("apply acknowledged after %v (timed out %v), want after the 600ms request", d, resp.TimedOut)
	}
	if got := <-res; got != "slow" {
		t.Errorf("in-flight request: %q", got)
	}
}

// TestHTTPForwardedHeaders: X-Forwarded-For/-Proto/-Host are set from what
// the proxy saw (a client-supplied X-Forwarded-For is replaced), the Host
// header passes unchanged, and a POST body reaches the backend after a refused
// connect to a dead backend listed first.
func TestHTTPForwardedHeaders(t *testing.T) {
	live := startHTTPBackend(t, "live", 0)
	dead := Backend{Addr: loopback(freePort(t)), State: StateServing}
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(httpRoute(port, dead, httpServing(live)))})

	for i := range 4 {
		req, _ := http.NewRequest("POST", "http://"+loopback(port)+"/echo", strings.NewReader("payload"))
		req.Host = "app.example"
		req.Header.Set("X-Forwarded-For", "6.6.6.6")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := "payload|xff=127.0.0.1|proto=http|xhost=app.example|host=app.example"
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("request %d: %d %q, want %q", i, resp.StatusCode, body, want)
		}
	}
}

// TestHTTPStreamingNotBuffered: the first line of a streamed response reaches
// the client while the backend is still holding the rest.
func TestHTTPStreamingNotBuffered(t *testing.T) {
	b := startHTTPBackend(t, "b", 0)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(httpRoute(port, httpServing(b)))})

	resp, err := http.Get("http://" + loopback(port) + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	line := make(chan string, 1)
	go func() {
		s, _ := r.ReadString('\n')
		line <- s
	}()
	select {
	case got := <-line:
		if got != "first\n" {
			t.Errorf("first line %q", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("first line not delivered while the backend held the stream: buffered")
	}
	close(b.release)
	if rest, _ := io.ReadAll(r); string(rest) != "second\n" {
		t.Errorf("rest %q", rest)
	}
}

// TestHTTPDrainTimeoutEndsAGet: a GET still in flight on a draining backend
// when the drain times out ends then, with 504, and is not replayed on the
// serving backend (Go's transport replays an idempotent request whose
// connection closes before an answer, which would make the drain timeout no
// bound at all).
func TestHTTPDrainTimeoutEndsAGet(t *testing.T) {
	slow := startHTTPBackend(t, "slow", 3*time.Second)
	fresh := startHTTPBackend(t, "fresh", 0)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(httpRoute(port, httpServing(slow)))})

	type result struct {
		body string
		err  error
		took time.Duration
	}
	res := make(chan result, 1)
	start := time.Now()
	go func() {
		body, err := get(http.DefaultClient, "http://"+loopback(port)+"/slow")
		res <- result{body, err, time.Since(start)}
	}()
	p.waitActive(t, slow.addr, 1)
	resp := p.apply(t, Request{Table: table(httpRoute(port, httpDraining(slow), httpServing(fresh))), DrainTimeout: 300})
	if len(resp.TimedOut) != 1 {
		t.Errorf("timed out %v, want the slow backend", resp.TimedOut)
	}
	r := <-res
	if r.err == nil || !strings.Contains(r.err.Error(), "status 504") || r.took > 2*time.Second {
		t.Errorf("the GET ended after %v with %q, %v; want a 504 at the drain timeout", r.took, r.body, r.err)
	}
	if n := fresh.requests.Load(); n != 0 {
		t.Errorf("the GET was replayed on the serving backend (%d requests)", n)
	}
}

package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// These tests drive HTTP mode with what browsers, curl and other clients
// send besides a plain GET, and with backends that answer in every framing
// HTTP/1.x allows.

// httpProxyTo starts a proxy with one HTTP route to addr and returns the
// route's address.
func httpProxyTo(t *testing.T, addr string) string {
	t.Helper()
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(httpRoute(port, Backend{Addr: addr, State: StateServing}))})
	return loopback(port)
}

// rawBackend answers every connection with serve.
func rawBackend(t *testing.T, serve func(c net.Conn, br *bufio.Reader)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	return ln.Addr().String()
}

// rawClient sends raw and returns everything the proxy sends back until it
// closes the connection (or 3 s pass).
func rawClient(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	return string(got)
}

// TestHTTPBodiesAndExpect: a body of unknown length (chunked) and one sent
// only after 100 Continue reach the backend whole.
func TestHTTPBodiesAndExpect(t *testing.T) {
	b := startHTTPBackend(t, "b", 0)
	addr := httpProxyTo(t, b.addr)
	c := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}

	// An io.Reader that is not a *strings.Reader: no length, so chunked.
	pr, pw := io.Pipe()
	go func() {
		io.WriteString(pw, "part one, ")
		time.Sleep(50 * time.Millisecond)
		io.WriteString(pw, "part two")
		pw.Close()
	}()
	resp, err := c.Post("http://"+addr+"/echo", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.TransferEncoding != nil || !strings.HasPrefix(string(body), "part one, part two|") {
		t.Errorf("chunked POST: %q", body)
	}

	// Expect: 100-continue with a 10 s timeout: the body goes only when the
	// backend's 100 Continue came through, so a quick answer proves it did.
	req, _ := http.NewRequest("PUT", "http://"+addr+"/echo", strings.NewReader("after continue"))
	req.Header.Set("Expect", "100-continue")
	start := time.Now()
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasPrefix(string(body), "after continue|") || time.Since(start) > 5*time.Second {
		t.Errorf("Expect: 100-continue: %q after %v", body, time.Since(start))
	}
}

// countNewConn returns req counting in *fresh whether the client opened a
// new connection for it.
func countNewConn(req *http.Request, fresh *int) *http.Request {
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if !info.Reused {
			*fresh++
		}
	}}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), trace))
}

// TestHTTPPostsKeepTheConnection: requests with bodies, one after the
// other on one client connection, all keep it (the proxy does not close it
// because its copy of a body had not reported back before the answer).
func TestHTTPPostsKeepTheConnection(t *testing.T) {
	b := startHTTPBackend(t, "b", 0)
	addr := httpProxyTo(t, b.addr)
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	fresh := 0
	for i := range 50 {
		req, _ := http.NewRequest("POST", "http://"+addr+"/echo", strings.NewReader(strings.Repeat("x", 1000+i)))
		resp, err := c.Do(countNewConn(req, &fresh))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.HasPrefix(string(body), strings.Repeat("x", 1000+i)+"|") {
			t.Fatalf("POST %d: %.40q", i, body)
		}
	}
	if fresh != 1 {
		t.Errorf("50 POSTs took %d client connections, want 1", fresh)
	}
}

// earlyAnswerBackend answers 413 to every request without reading its body.
func earlyAnswerBackend(t *testing.T) string {
	return rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 413 Content Too Large\r\nContent-Length: 0\r\n\r\n")
		time.Sleep(2 * time.Second)
	})
}

// TestHTTPEarlyAnswer: a backend that answers before reading a large body
// (413) gets its answer to the client, and the client connection closes,
// since the rest of the body is still on its way.
func TestHTTPEarlyAnswer(t *testing.T) {
	srv := earlyAnswerBackend(t)
	addr := httpProxyTo(t, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go func() {
		fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 64<<20)
		c.Write(make([]byte, 64<<20))
	}()
	start := time.Now()
	got, _ := io.ReadAll(c)
	if !strings.HasPrefix(string(got), "HTTP/1.1 413 Content Too Large\r\n") || !strings.Contains(string(got), "Connection: close\r\n") || time.Since(start) > 2*time.Second {
		t.Errorf("after %v: %q", time.Since(start), got)
	}
}

// TestHTTPFramings: HEAD, 204, a chunked answer with trailers, an answer
// ended by the backend closing, and pipelined requests, all on one client
// connection where HTTP allows it.
func TestHTTPFramings(t *testing.T) {
	srv := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			io.Copy(io.Discard, req.Body)
			switch req.URL.Path {
			case "/head":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
			case "/empty":
				io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
			case "/chunked":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 3\r\n\r\n")
			case "/toclose":
				io.WriteString(c, "HTTP/1.1 200 OK\r\n\r\nuntil the end")
				return
			default:
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.Path), req.URL.Path)
			}
		}
	})
	addr := httpProxyTo(t, srv)

	// Pipelined: three requests in one write, answered in order.
	got := rawClient(t, addr, "HEAD /head HTTP/1.1\r\nHost: a\r\n\r\nGET /empty HTTP/1.1\r\nHost: a\r\n\r\nGET /chunked HTTP/1.1\r\nHost: a\r\n\r\nGET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	want := "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n" +
		"HTTP/1.1 204 No Content\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 3\r\n\r\n" +
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\n/last"
	if got != want {
		t.Errorf("pipelined:\n%q\nwant\n%q", got, want)
	}

	// An answer without length ends the client connection too.
	got = rawClient(t, addr, "GET /toclose HTTP/1.1\r\nHost: a\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n")
	if want := "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"; got != want {
		t.Errorf("close-delimited:\n%q\nwant\n%q", got, want)
	}

	// Go's client reads the trailer.
	resp, err := http.Get("http://" + addr + "/chunked")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "abc" || resp.Trailer.Get("X-Sum") != "3" {
		t.Errorf("chunked: %q, trailer %v", body, resp.Trailer)
	}
}

// TestHTTP10Clients: an HTTP/1.0 client is closed after its answer unless it
// asked for keep-alive, and then keeps its connection.
func TestHTTP10Clients(t *testing.T) {
	b := startHTTPBackend(t, "b", 0)
	addr := httpProxyTo(t, b.addr)
	got := rawClient(t, addr, "GET / HTTP/1.0\r\n\r\n")
	if !strings.Contains(got, "Connection: close\r\n") || !strings.HasSuffix(got, "\r\n\r\nb") {
		t.Errorf("HTTP/1.0 without keep-alive: %q", got)
	}
	got = rawClient(t, addr, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n")
	if n := strings.Count(got, " 200 OK\r\n"); n != 2 || !strings.Contains(got, "Connection: keep-alive\r\n") {
		t.Errorf("HTTP/1.0 with keep-alive: %d answers in %q", n, got)
	}
}

// TestHTTPUpgrade: a 101 answer turns the connection into a tunnel both
// ways, as a websocket needs.
func TestHTTPUpgrade(t *testing.T) {
	srv := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil || req.Header.Get("Upgrade") != "echo" || req.Header.Get("Connection") != "Upgrade" {
			io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
			return
		}
		io.WriteString(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello ")
		io.Copy(c, br)
	})
	addr := httpProxyTo(t, srv)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade answer: %v %v", resp, err)
	}
	for _, msg := range []string{"one ", "two"} {
		io.WriteString(c, msg)
	}
	c.(*net.TCPConn).CloseWrite()
	rest, _ := io.ReadAll(br)
	if string(rest) != "hello one two" {
		t.Errorf("through the tunnel: %q", rest)
	}
}

// TestHTTPStaleBackendConnection: a backend that closes each connection a
// moment after answering, without saying so, costs no request: a replayable
// request that finds its pooled connection closed is sent again, and one
// that is not replayable takes a fresh connection.
func TestHTTPStaleBackendConnection(t *testing.T) {
	var conns atomic.Int64
	srv := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		conns.Add(1)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%sk", len(body)+1, body)
		time.Sleep(20 * time.Millisecond)
	})
	addr := httpProxyTo(t, srv)
	c := &http.Client{}
	for i := range 10 {
		time.Sleep(50 * time.Millisecond) // the backend has closed by now
		method, body := "GET", ""
		if i%2 == 1 {
			method, body = "POST", "x"
		}
		req, _ := http.NewRequest(method, "http://"+addr+"/", strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("request %d (%s): %v", i, method, err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != body+"k" {
			t.Errorf("request %d (%s): %d %q", i, method, resp.StatusCode, got)
		}
	}
	if n := conns.Load(); n < 10 {
		t.Errorf("%d backend connections for 10 requests: the test did not make them stale", n)
	}
}

// TestHTTPBackendFailsBeforeAnswering: a backend that takes requests and
// dies without answering (killed mid-request) costs a replayable request
// nothing, another backend answers it; a POST is not sent twice: 502.
func TestHTTPBackendFailsBeforeAnswering(t *testing.T) {
	var dying atomic.Int64
	bad := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err == nil {
			dying.Add(1)
		}
	})
	good := startHTTPBackend(t, "good", 0)
	p := startProxy(t, "")
	port := freePort(t)
	p.apply(t, Request{Table: table(httpRoute(port, Backend{Addr: bad, State: StateServing}, httpServing(good)))})
	url := "http://" + loopback(port) + "/echo"
	for i := range 6 {
		if body, err := get(http.DefaultClient, url); err != nil || !strings.HasPrefix(body, "|") {
			t.Errorf("GET %d: %q %v", i, body, err)
		}
	}
	posts, failed := 0, 0
	for range 6 {
		before := dying.Load()
		resp, err := http.Post(url, "text/plain", strings.NewReader("once"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if dying.Load() > before {
			posts++
			if resp.StatusCode == http.StatusBadGateway {
				failed++
			}
		}
	}
	if dying.Load() == 0 || posts == 0 || failed != posts {
		t.Errorf("the dying backend took %d requests, %d POSTs of which %d got 502; want every POST it took to fail", dying.Load(), posts, failed)
	}
}

// TestHTTPClientGoneEndsTheRequest: a client that leaves while its request
// waits for a slow backend ends it there: the backend's request is
// cancelled and a drain does not wait for it. A request with a body too,
// once the body was sent.
func TestHTTPClientGoneEndsTheRequest(t *testing.T) {
	for _, raw := range []string{
		"GET /poll HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /poll HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nbody",
		"POST /poll HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nbody\r\n0\r\n\r\n",
	} {
		t.Run(raw[:4], func(t *testing.T) { testClientGone(t, raw) })
	}
}

func testClientGone(t *testing.T, raw string) {
	cancelled := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // net/http watches its client once the body is read
		select {
		case <-r.Context().Done():
			close(cancelled)
		case <-time.After(10 * time.Second):
		}
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	p := startProxy(t, "")
	port := freePort(t)
	backend := ln.Addr().String()
	p.apply(t, Request{Table: table(httpRoute(port, Backend{Addr: backend, State: StateServing}))})

	c, err := net.Dial("tcp", loopback(port))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, raw)
	p.waitActive(t, backend, 1)
	time.Sleep(300 * time.Millisecond)
	c.Close()
	select {
	case <-cancelled:
	case <-time.After(3 * time.Second):
		t.Fatal("the backend's request went on after the client left")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for p.get(t).Active[backend] != 0 {
		if ctx.Err() != nil {
			t.Fatalf("still counted active: %v", p.get(t).Active)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHTTPRefusedRequests: what the proxy answers itself, on the wire.
func TestHTTPRefusedRequests(t *testing.T) {
	b := startHTTPBackend(t, "b", 0)
	addr := httpProxyTo(t, b.addr)
	for _, tc := range []struct{ raw, status string }{
		{"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "HTTP/1.1 400 Bad Request"}, // TLS to a plain port
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", "HTTP/1.1 400 Bad Request"},
		{"GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("x", maxHeadBytes) + "\r\n\r\n", "HTTP/1.1 431 Request Header Fields Too Large"},
	} {
		got := rawClient(t, addr, tc.raw)
		if !strings.HasPrefix(got, tc.status+"\r\n") || !strings.Contains(got, "Connection: close\r\n") {
			t.Errorf("%.40q: got %.80q, want %s and a close", tc.raw, got, tc.status)
		}
	}
	if n := b.requests.Load(); n != 0 {
		t.Errorf("the backend got %d of the refused requests", n)
	}
}

// TestHTTPRouteRemovalClosesIdleClients: removing a route closes its idle
// keep-alive connections at once; a request in flight gets its answer,
// marked Connection: close.
func TestHTTPRouteRemovalClosesIdleClients(t *testing.T) {
	b := startHTTPBackend(t, "b", 400*time.Millisecond)
	p := startProxy(t, "")
	port, other := freePort(t), freePort(t)
	p.apply(t, Request{Table: table(httpRoute(port, httpServing(b)))})

	idle, err := net.Dial("tcp", loopback(port))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	io.WriteString(idle, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	idleBr := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(idleBr, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first answer: %v", err)
	} else {
		io.Copy(io.Discard, resp.Body)
	}
	busy, err := net.Dial("tcp", loopback(port))
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	p.waitActive(t, b.addr, 1)

	p.apply(t, Request{Table: table(httpRoute(other, httpServing(b)))})
	idle.SetReadDeadline(time.Now().Add(time.Second))
	if n, err := idleBr.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("idle connection still open after its route went: %d %v", n, err)
	}
	busy.SetReadDeadline(time.Now().Add(3 * time.Second))
	got, _ := io.ReadAll(busy)
	if !strings.HasPrefix(string(got), "HTTP/1.1 200 OK\r\n") || !strings.Contains(string(got), "Connection: close\r\n") {
		t.Errorf("in-flight request: %q", got)
	}
}

// TestHTTPNoSmugglingThroughConnection: a client that lists Content-Length
// in Connection does not get its body read by the backend as a request of
// its own (whose answer the next client on that backend connection would
// get).
func TestHTTPNoSmugglingThroughConnection(t *testing.T) {
	b := startHTTPBackend(t, "b", 0)
	addr := httpProxyTo(t, b.addr)
	smuggled := "GET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n"
	got := rawClient(t, addr, fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: a\r\nConnection: Content-Length\r\nContent-Length: %d\r\n\r\n%s", len(smuggled), smuggled)+
		"GET /last HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if n := b.requests.Load(); n != 2 || !strings.Contains(got, "\r\n\r\n"+smuggled+"|") || !strings.HasSuffix(got, "\r\n\r\nb") {
		t.Errorf("the backend took %d requests for 2; the client got %q", n, got)
	}
}

// TestHTTPLongHeaderLine: header lines about the size of the proxy's read
// buffer pass whole.
func TestHTTPLongHeaderLine(t *testing.T) {
	var got atomic.Value
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Store(r.Header.Get("X-Long"))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	addr := httpProxyTo(t, ln.Addr().String())
	for _, n := range []int{4095, 4096, 8192} {
		value := strings.Repeat("v", n-len("X-Long: "))
		resp := rawClient(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX-Long: "+value+"\r\nConnection: close\r\n\r\n")
		if !strings.HasPrefix(resp, "HTTP/1.1 200 OK\r\n") || got.Load() != value {
			t.Errorf("line of %d: %.60q", n, resp)
		}
	}
}

// TestHTTPStrayBytesEndABackendConnection: a backend that sends more than
// its answer's framing says (a body to a HEAD) does not get its extra bytes
// read as the answer to the next request on that connection.
func TestHTTPStrayBytesEndABackendConnection(t *testing.T) {
	srv := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.Method == "HEAD" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
				continue
			}
			if req.URL.Path == "/late" {
				// The same mistake, its bytes arriving after the
				// proxy took the connection back.
				io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
				time.Sleep(30 * time.Millisecond)
				io.WriteString(c, "hello")
				continue
			}
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(req.URL.Path), req.URL.Path)
		}
	})
	addr := httpProxyTo(t, srv)
	got := rawClient(t, addr, "HEAD / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") {
		t.Fatalf("HEAD: %q", got)
	}
	got = rawClient(t, addr, "GET /next HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\n/next") {
		t.Errorf("the request after: %q", got)
	}
	rawClient(t, addr, "GET /late HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	got = rawClient(t, addr, "GET /after-late HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\n/after-late") {
		t.Errorf("a GET after late stray bytes: %q", got)
	}
}

// TestHTTPErrorAnswerAfterHead: the proxy's own answer to a broken request
// has its body even when the request before it on the connection was a
// HEAD.
func TestHTTPErrorAnswerAfterHead(t *testing.T) {
	b := startHTTPBackend(t, "b", 0)
	addr := httpProxyTo(t, b.addr)
	got := rawClient(t, addr, "HEAD / HTTP/1.1\r\nHost: a\r\n\r\nHEAD /no-version\r\n\r\n")
	if !strings.HasSuffix(got, "Connection: close\r\n\r\n400 Bad Request\n") {
		t.Errorf("got %q", got)
	}
	// The proxy's own answer carries a Date, as a server's must.
	_, date, _ := strings.Cut(got[strings.LastIndex(got, "HTTP/1.1 400"):], "\r\nDate: ")
	date, _, _ = strings.Cut(date, "\r\n")
	if when, err := http.ParseTime(date); err != nil || time.Since(when) > time.Minute {
		t.Errorf("the 400 answer's Date is %q (%v): %q", date, err, got)
	}
}

// TestHTTPCloseWithUnreadBody: when the proxy closes a client connection
// whose body it did not read (an early answer), the client reads the
// answer and then the end of the connection, not a reset that could take
// the answer with it.
func TestHTTPCloseWithUnreadBody(t *testing.T) {
	srv := earlyAnswerBackend(t)
	addr := httpProxyTo(t, srv)
	for i := range 10 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", 64<<20)
			c.Write(make([]byte, 64<<20))
		}()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || !strings.HasPrefix(string(got), "HTTP/1.1 413 ") {
			t.Fatalf("attempt %d: %q, %v", i, got, err)
		}
	}
}

// TestHTTP10BackendKeepsClients: an HTTP/1.0 backend's answers reach an
// HTTP/1.1 client as HTTP/1.1, so the client keeps its connection.
func TestHTTP10BackendKeepsClients(t *testing.T) {
	srv := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err == nil {
			io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	addr := httpProxyTo(t, srv)
	tr := &http.Transport{MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	fresh := 0
	for range 5 {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		resp, err := c.Do(countNewConn(req, &fresh))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" || resp.ProtoMinor != 1 {
			t.Errorf("HTTP/1.%d %q", resp.ProtoMinor, body)
		}
	}
	if fresh != 1 {
		t.Errorf("5 GETs took %d client connections, want 1", fresh)
	}
}

// TestCutAfterTheExchange: a drain's cancel that comes after its request
// ended leaves the connection, which may be back in the pool, open.
func TestCutAfterTheExchange(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	x := &cut{conn: a}
	if x.finish() {
		t.Fatal("finish reports a cut that did not happen")
	}
	x.cancel(errDrainTimeout)
	go a.Write([]byte("x"))
	b.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := b.Read(make([]byte, 1)); err != nil {
		t.Errorf("the connection was closed by a late cancel: %v", err)
	}
	if x.err() != nil {
		t.Errorf("late cancel recorded %v", x.err())
	}
}

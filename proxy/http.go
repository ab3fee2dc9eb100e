package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP mode exists for what TCP splicing cannot do: a keep-alive client is
// tied to one backend for the life of its connection in TCP mode, so a switch
// only reaches it when the old backend closes the connection. Here each
// request picks a backend, so the next request on the same client connection
// goes to the new one, and a drain waits for in-flight requests only.
//
// Each client connection is served by one goroutine that reads a request,
// sends it on a pooled backend connection, and copies the answer back; a
// request body is copied by a second goroutine, so that a backend may answer
// before it has read all of it.

// Errors behind the proxy's own answers.
var (
	errRouteGone   = errors.New("route removed")
	errNoBackend   = errors.New("no serving backend answered")
	errHoldTimeout = errors.New("route paused or without serving backend for longer than max pause")
	errNoRule      = errors.New("no rule matches the request's host and path")
)

const (
	// idleClientTimeout closes a keep-alive client connection that sends
	// nothing; headTimeout bounds the reading of a request's head once it
	// has begun.
	idleClientTimeout = 2 * time.Minute
	headTimeout       = 30 * time.Second
	// watchAfter is how long a request waits for its answer before the
	// proxy starts watching whether the client is still there: a client
	// that leaves a long poll should not keep it, or a drain, waiting.
	watchAfter = 250 * time.Millisecond
	// maxRetries bounds how often a request is sent again after a backend
	// connection failed before answering.
	maxRetries = 3
)

// aLongTimeAgo is a deadline in the past: setting it wakes a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// dialError marks a failure to connect, the only failure that is safe to
// retry on another backend whatever the request.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// httpClient is one client connection in HTTP mode.
type httpClient struct {
	s    *server
	port int
	conn net.Conn
	in   pendingReader // conn, after a byte the watcher read
	br   *bufio.Reader
	bw   *bufio.Writer
	xff  []byte // the client's address, for X-Forwarded-For

	req     reqHead
	resp    respHead
	headBuf []byte // the request's head
	respBuf []byte // a response's head
	out     []byte // a head being written

	// busy is set while a request is being served; closeAfter asks the
	// connection to close once it is not (its route was removed).
	busy       atomic.Bool
	closeAfter atomic.Bool
	// cur is the backend connection of the request in flight, closed when
	// the proxy stops.
	cur atomic.Pointer[backendConn]
}

// pendingReader reads a byte taken by the client watcher before the
// connection's own.
type pendingReader struct {
	net.Conn
	pending []byte
}

func (r *pendingReader) Read(p []byte) (int, error) {
	if len(r.pending) > 0 && len(p) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// serveHTTP serves the requests of one client connection until it closes,
// idles out, or can no longer be kept.
func (s *server) serveHTTP(ctx context.Context, port int, conn net.Conn) {
	c := &httpClient{s: s, port: port, conn: conn, xff: clientIP(conn)}
	c.in.Conn = conn
	c.br = s.readers.get(&c.in)
	c.bw = s.writers.get(conn)
	defer func() {
		conn.Close()
		s.readers.put(c.br)
		s.writers.put(c.bw)
	}()
	if !s.addClient(c) {
		return
	}
	defer s.removeClient(c)
	stop := context.AfterFunc(ctx, func() {
		conn.Close()
		if bc := c.cur.Load(); bc != nil {
			bc.conn.Close()
		}
	})
	defer stop()
	for c.serveOne(ctx) {
	}
	lingerClose(conn)
}

// lingerFor bounds how long a closing client connection is read from.
const lingerFor = 500 * time.Millisecond

// lingerClose ends the write side of a client connection, then reads and
// drops what the client still sends, until it closes or lingerFor passed:
// closing a socket with unread bytes (a body the proxy answered without
// reading) resets the connection, and a reset can cost the client the
// answer it has not read yet. net/http's server did the same.
func lingerClose(conn net.Conn) {
	cw, ok := conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	conn.SetReadDeadline(time.Now().Add(lingerFor))
	io.Copy(io.Discard, conn)
}

// clientIP is the host part of the client's address.
func clientIP(conn net.Conn) []byte {
	if a, ok := conn.RemoteAddr().(*net.TCPAddr); ok {
		return []byte(a.IP.String())
	}
	host, _, err := net.SplitHostPort(conn.RemoteAddr().String())
	if err != nil {
		return []byte(conn.RemoteAddr().String())
	}
	return []byte(host)
}

// serveOne serves the next request and reports whether the connection stays
// open for another.
func (c *httpClient) serveOne(ctx context.Context) bool {
	c.conn.SetReadDeadline(time.Now().Add(idleClientTimeout))
	if _, err := c.br.Peek(1); err != nil {
		return false
	}
	c.busy.Store(true)
	defer func() {
		c.busy.Store(false)
	}()
	// The last request's method, still in c.req, would decide whether
	// an answer to a head that cannot be parsed has a body.
	c.req.method = nil
	c.conn.SetReadDeadline(time.Now().Add(headTimeout))
	head, err := readHead(c.br, c.headBuf)
	if err != nil {
		if errors.Is(err, errHeadTooLarge) {
			c.answer(http.StatusRequestHeaderFieldsTooLarge, false, false)
		}
		return false
	}
	c.headBuf = head
	c.conn.SetReadDeadline(time.Time{})
	r := &c.req
	if err := parseRequest(head, r); err != nil {
		var se *statusError
		if errors.As(err, &se) {
			c.s.log.Warn("http request refused", "port", c.port, "code", se.code, "err", se.msg)
			c.answer(se.code, false, false)
		}
		return false
	}
	path, err := r.path()
	if err != nil {
		c.answer(http.StatusBadRequest, false, false)
		return false
	}
	keep := c.forward(ctx, path)
	return keep && !c.closeAfter.Load()
}

// forward sends the request to a backend and its answer to the client, and
// reports whether the client connection stays open.
func (c *httpClient) forward(ctx context.Context, path string) bool {
	s, r := c.s, &c.req
	c.out = appendBackendRequest(c.out[:0], r, c.xff)
	var deadline time.Time
	var tried map[string]bool
	retries, fresh := 0, false
	for {
		addr, p, changed := s.acquire(c.port, request{host: string(r.host), path: path}, tried)
		switch p {
		case pickGone:
			return c.fail(http.StatusServiceUnavailable, errRouteGone, path)
		case pickNoRule:
			return c.fail(http.StatusServiceUnavailable, errNoRule, path)
		case pickNone:
			return c.fail(http.StatusBadGateway, errNoBackend, path)
		case pickHold:
			if deadline.IsZero() {
				deadline = s.holdDeadline()
			}
			if !waitChange(ctx, changed, deadline) {
				return c.fail(http.StatusServiceUnavailable, errHoldTimeout, path)
			}
			continue
		}
		// A replayable request may take any pooled connection, since one
		// that turns out closed is retried; another takes one that was
		// used a moment ago and is seen open, or a new one.
		maxIdle := idleTimeout
		if fresh {
			maxIdle = 0
		} else if !r.replayable() {
			maxIdle = freshFor
		}
		bc, err := s.backends.get(ctx, addr, maxIdle, !r.replayable())
		if err != nil {
			s.failed(addr)
			if tried == nil {
				tried = map[string]bool{}
			}
			tried[addr] = true
			s.log.Warn("dial backend", "port", c.port, "addr", addr, "err", err)
			continue
		}
		res := c.exchange(ctx, bc, path)
		s.release(addr)
		if res == retryStale || res == retryElsewhere {
			fresh = res == retryStale
			if retries++; retries > maxRetries {
				return c.fail(http.StatusBadGateway, errNoBackend, path)
			}
			if res == retryElsewhere {
				if tried == nil {
					tried = map[string]bool{}
				}
				tried[addr] = true
			}
			continue
		}
		return res == keepClient
	}
}

// result is how an exchange with a backend ended for the client connection.
type result int

const (
	closeClient result = iota
	keepClient
	retryStale     // a reused backend connection was closed: send again
	retryElsewhere // the backend failed before answering: another may answer
)

// cut ends one request from outside (a drain that timed out) by closing its
// backend connection; cause is what the client's answer reports. Once the
// exchange is over, a late cancel (cutRequests calls them outside the
// server's lock) must not close a connection that went back to the pool.
type cut struct {
	mu    sync.Mutex
	conn  net.Conn
	cause error
	over  bool
}

func (x *cut) cancel(cause error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.over {
		return
	}
	x.cause = cause
	x.conn.Close()
}

func (x *cut) err() error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.cause
}

// finish ends the window in which cancel acts, and reports whether it did.
func (x *cut) finish() (cut bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.over = true
	return x.cause != nil
}

// exchange sends the request on bc and copies the answer to the client. bc
// goes back to the pool, or is closed.
func (c *httpClient) exchange(ctx context.Context, bc *backendConn, path string) result {
	s, r := c.s, &c.req
	x := &cut{conn: bc.conn}
	forget := s.trackRequest(bc.addr, x.cancel)
	defer forget()
	c.cur.Store(bc)
	defer c.cur.Store(nil)
	if ctx.Err() != nil {
		bc.conn.Close()
		return closeClient
	}
	reusable := false
	defer func() {
		if !x.finish() && reusable {
			s.backends.put(bc)
		} else {
			bc.conn.Close()
		}
	}()

	bc.bw.Write(c.out)
	if err := bc.bw.Flush(); err != nil {
		if bc.reused {
			return retryStale
		}
		return c.backendFailed(x, err, path)
	}
	body := c.sendBody(bc)

	// The answer's head, after any interim (1xx) answers.
	for first := true; ; first = false {
		if err := c.awaitAnswer(bc, body); err != nil {
			body.abort(c, bc)
			switch {
			case errors.Is(err, errClientGone):
				return closeClient
			case body.clientFailed():
				return closeClient
			case first && r.replayable() && x.err() == nil:
				// Nothing of the answer came, so nothing reached the
				// client: a replayable request goes again, as nginx's
				// proxy_next_upstream does by default. A reused
				// connection most likely idled out; a fresh one
				// failing means the backend did (killed, crashed).
				if bc.reused {
					return retryStale
				}
				s.log.Warn("backend failed before answering; retrying elsewhere", "port", c.port, "addr", bc.addr, "err", err)
				return retryElsewhere
			}
			return c.backendFailed(x, err, path)
		}
		head, err := readHead(bc.br, c.respBuf)
		if err == nil {
			c.respBuf = head
			err = parseResponse(head, &c.resp)
		}
		if err != nil {
			body.abort(c, bc)
			if body.clientFailed() {
				return closeClient
			}
			if first && bc.reused && r.replayable() && x.err() == nil {
				// Bytes the backend sent after its last answer on
				// this pooled connection, read as this one's.
				return retryStale
			}
			return c.backendFailed(x, err, path)
		}
		if c.resp.status >= 200 || c.resp.status == http.StatusSwitchingProtocols {
			break
		}
		if r.minor == 0 {
			continue // an HTTP/1.0 client knows no interim answers
		}
		c.out = appendClientResponse(c.out[:0], &c.resp, false, "")
		c.bw.Write(c.out)
		if err := c.bw.Flush(); err != nil {
			body.abort(c, bc)
			return closeClient
		}
	}
	if c.resp.status == http.StatusSwitchingProtocols {
		body.wait(c, bc)
		if !r.upgrade || !body.ok() {
			return c.backendFailed(x, errors.New("101 Switching Protocols to a request that asked for no upgrade"), path)
		}
		c.tunnel(ctx, bc)
		return closeClient
	}

	kind := responseBody(r, &c.resp)
	keep := r.wantsKeepAlive() && kind != bodyToClose && body.settle() && !c.closeAfter.Load()
	connection := ""
	switch {
	case !keep:
		connection = "close"
	case r.minor == 0:
		connection = "keep-alive"
	}
	c.out = appendClientResponse(c.out[:0], &c.resp, false, connection)
	c.bw.Write(c.out)
	var err error
	if kind == bodyNone {
		if err = c.bw.Flush(); err != nil {
			err = &writeError{err}
		}
	} else {
		err = copyBody(c.bw, bc.br, kind, c.resp.contentLength)
	}
	body.wait(c, bc)
	if err != nil {
		if cause := x.err(); cause != nil {
			s.log.Warn("http proxy", "host", string(r.host), "path", path, "err", cause)
		}
		return closeClient
	}
	// Bytes after the answer are none the next request asked for: a
	// connection with some cannot be used again.
	reusable = kind != bodyToClose && c.resp.reusable() && body.ok() && x.err() == nil && bc.br.Buffered() == 0
	if !keep || !body.ok() {
		return closeClient
	}
	return keepClient
}

// errClientGone is a client that closed its connection while its request
// waited for an answer.
var errClientGone = errors.New("client closed the connection")

// awaitAnswer waits for the first byte of the backend's answer. A wait
// longer than watchAfter also watches the client once its request's body
// was sent whole (the client is read for it until then), unless a next
// request is already buffered; a client that leaves ends the wait
// (errClientGone) and the backend connection.
func (c *httpClient) awaitAnswer(bc *backendConn, body *requestBody) error {
	for {
		bc.conn.SetReadDeadline(time.Now().Add(watchAfter))
		_, err := bc.br.Peek(1)
		bc.conn.SetReadDeadline(time.Time{})
		if ne := net.Error(nil); err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		if body.done() {
			break
		}
		if body.finished {
			// The copy failed: its error ends the wait.
			_, err := bc.br.Peek(1)
			return err
		}
		// The body is still on its way: look again in a moment.
	}
	if c.br.Buffered() > 0 || len(c.in.pending) > 0 {
		_, err := bc.br.Peek(1)
		return err
	}
	var gone atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		var one [1]byte
		n, err := c.conn.Read(one[:])
		if n > 0 {
			// The next request, pipelined: the client is there.
			c.in.pending = append(c.in.pending[:0], one[0])
			return
		}
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			return // stopped below
		}
		gone.Store(true)
		bc.conn.Close()
	}()
	_, err := bc.br.Peek(1)
	c.conn.SetReadDeadline(aLongTimeAgo)
	<-done
	c.conn.SetReadDeadline(time.Time{})
	if gone.Load() {
		return errClientGone
	}
	return err
}

// backendFailed answers a request whose backend failed before the client got
// anything: 504 when a drain timed out on it, else 502.
func (c *httpClient) backendFailed(x *cut, err error, path string) result {
	code := http.StatusBadGateway
	if cause := x.err(); cause != nil {
		err, code = cause, http.StatusGatewayTimeout
	}
	if c.fail(code, err, path) {
		return keepClient
	}
	return closeClient
}

// fail answers a request the proxy could not forward, and reports whether
// the client connection stays open.
func (c *httpClient) fail(code int, err error, path string) bool {
	c.s.log.Warn("http proxy", "port", c.port, "host", string(c.req.host), "path", path, "code", code, "err", err)
	// A body the backend never read is still on its way: only closing
	// the connection gets rid of it.
	keep := c.req.wantsKeepAlive() && !c.req.hasBody() && !c.closeAfter.Load()
	return c.answer(code, keep, c.req.minor == 0) && keep
}

// answer writes the proxy's own response and reports whether it was written.
func (c *httpClient) answer(code int, keep, http10 bool) bool {
	text := strconv.Itoa(code) + " " + http.StatusText(code) + "\n"
	b := append(c.out[:0], "HTTP/1.1 "...)
	b = append(b, text[:len(text)-1]...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(text)), 10)
	// An answer made here, not by a backend, carries the date a server
	// must send (RFC 9110, 6.6.1).
	b = append(b, "\r\nDate: "...)
	b = time.Now().UTC().AppendFormat(b, http.TimeFormat)
	switch {
	case !keep:
		b = append(b, "\r\nConnection: close"...)
	case http10:
		b = append(b, "\r\nConnection: keep-alive"...)
	}
	b = append(b, "\r\n\r\n"...)
	if string(c.req.method) != "HEAD" {
		b = append(b, text...)
	}
	c.out = b
	c.bw.Write(b)
	return c.bw.Flush() == nil
}

// tunnel forwards the 101 answer, then both directions as bytes until
// either side closes (a websocket).
func (c *httpClient) tunnel(ctx context.Context, bc *backendConn) {
	c.out = appendClientResponse(c.out[:0], &c.resp, true, "Upgrade")
	c.bw.Write(c.out)
	if n := bc.br.Buffered(); n > 0 {
		p, _ := bc.br.Peek(n)
		c.bw.Write(p)
	}
	if c.bw.Flush() != nil {
		return
	}
	if n := c.br.Buffered(); n > 0 {
		p, _ := c.br.Peek(n)
		if _, err := bc.conn.Write(p); err != nil {
			return
		}
	}
	if len(c.in.pending) > 0 {
		if _, err := bc.conn.Write(c.in.pending); err != nil {
			return
		}
	}
	splice(ctx, c.conn, bc.conn)
}

// requestBody is the copy of a request body to the backend, running beside
// the wait for the answer.
type requestBody struct {
	ch       chan error
	finished bool
	err      error
}

// sendBody starts copying the request's body to bc, or returns nil when it
// has none.
func (c *httpClient) sendBody(bc *backendConn) *requestBody {
	r := &c.req
	if !r.hasBody() {
		return nil
	}
	kind, n := bodyChunked, int64(0)
	if !r.chunked {
		kind, n = bodyLength, r.contentLength
	}
	b := &requestBody{ch: make(chan error, 1)}
	go func() {
		err := copyBody(bc.bw, c.br, kind, n)
		var re *readError
		if errors.As(err, &re) {
			// The client went, or sent a broken body: the backend must
			// not take a partial one for whole, and the wait for its
			// answer must end.
			bc.conn.Close()
		}
		b.ch <- err
	}()
	return b
}

// done reports, without waiting, whether the body was sent whole.
func (b *requestBody) done() bool {
	if b == nil {
		return true
	}
	if !b.finished {
		select {
		case b.err = <-b.ch:
			b.finished = true
		default:
		}
	}
	return b.finished && b.err == nil
}

// settleFor is how long an answer waits for its request's body to be sent
// before the client connection is marked to close: a backend answers once
// the body arrived, often before the copy's goroutine has reported it.
const settleFor = 50 * time.Millisecond

// settle reports whether the body was sent whole, waiting a moment for it.
func (b *requestBody) settle() bool {
	if b == nil || b.done() || b.finished {
		return b.ok()
	}
	t := time.NewTimer(settleFor)
	defer t.Stop()
	select {
	case b.err = <-b.ch:
		b.finished = true
	case <-t.C:
	}
	return b.ok()
}

// wait ends the copy: it has finished, or the backend answered without
// reading all of it, and then it is stopped.
func (b *requestBody) wait(c *httpClient, bc *backendConn) {
	if b == nil || b.done() || b.finished {
		return
	}
	b.abort(c, bc)
}

// abort stops the copy and waits for it.
func (b *requestBody) abort(c *httpClient, bc *backendConn) {
	if b == nil || b.finished {
		return
	}
	c.conn.SetReadDeadline(aLongTimeAgo)
	bc.conn.SetWriteDeadline(aLongTimeAgo)
	b.err = <-b.ch
	b.finished = true
	c.conn.SetReadDeadline(time.Time{})
	bc.conn.SetWriteDeadline(time.Time{})
	if b.err == nil {
		return
	}
	// Stopped midway: neither connection is in a known state.
	b.err = errors.Join(b.err, errors.New("request body not sent whole"))
}

// ok reports whether the body, if any, was sent whole; call after wait.
func (b *requestBody) ok() bool { return b == nil || b.finished && b.err == nil }

// clientFailed reports whether the body copy ended because reading the
// client failed.
func (b *requestBody) clientFailed() bool {
	if b == nil || !b.finished {
		return false
	}
	var re *readError
	return errors.As(b.err, &re) && !errors.Is(b.err, os.ErrDeadlineExceeded)
}

// addClient registers c so that removing its route can close it; false when
// the proxy is stopping.
func (s *server) addClient(c *httpClient) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	s.clients[c] = struct{}{}
	return true
}

func (s *server) removeClient(c *httpClient) {
	s.mu.Lock()
	delete(s.clients, c)
	s.mu.Unlock()
}

// closeClients is what removing the route of port does to its HTTP clients:
// an idle connection closes now, a busy one after its answer, as net/http's
// Shutdown did.
func (s *server) closeClients(ports map[int]bool) {
	s.mu.Lock()
	var idle []net.Conn
	for c := range s.clients {
		if !ports[c.port] {
			continue
		}
		c.closeAfter.Store(true)
		if !c.busy.Load() {
			idle = append(idle, c.conn)
		}
	}
	s.mu.Unlock()
	for _, conn := range idle {
		// A request that began in between sees its connection closed, as
		// it could after any idle close; clients retry those.
		conn.Close()
	}
}

// readerPool and writerPool recycle the buffers of client connections: a
// load of one request per connection would otherwise allocate them for each.
type readerPool struct{ p sync.Pool }

func (p *readerPool) get(r io.Reader) *bufio.Reader {
	if br, ok := p.p.Get().(*bufio.Reader); ok {
		br.Reset(r)
		return br
	}
	return bufio.NewReaderSize(r, 4<<10)
}

func (p *readerPool) put(br *bufio.Reader) {
	br.Reset(nil)
	p.p.Put(br)
}

type writerPool struct{ p sync.Pool }

func (p *writerPool) get(w io.Writer) *bufio.Writer {
	if bw, ok := p.p.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, 4<<10)
}

func (p *writerPool) put(bw *bufio.Writer) {
	bw.Reset(nil)
	p.p.Put(bw)
}

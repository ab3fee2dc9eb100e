package proxy

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP mode exists for what TCP splicing cannot do: a keep-alive client is
// tied to one backend for the life of its connection in TCP mode, so a switch
// only reaches it when the old backend closes the connection. Here each
// request picks a backend, so the next request on the same client connection
// goes to the new one, and a drain waits for in-flight requests only.

// Errors the backend transport reports to the error handler.
var (
	errRouteGone   = errors.New("route removed")
	errNoBackend   = errors.New("no serving backend answered")
	errHoldTimeout = errors.New("route paused or without serving backend for longer than max pause")
	errNoRule      = errors.New("no rule matches the request's host and path")
)

// httpFront serves the HTTP-mode connections of one port. The port's real
// listener belongs to the accept loop (so a mode change needs no re-bind);
// the front is an in-process listener that the accept loop feeds.
type httpFront struct {
	srv    *http.Server
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func (f *httpFront) Accept() (net.Conn, error) {
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.closed:
		return nil, net.ErrClosed
	}
}

func (f *httpFront) Close() error {
	f.once.Do(func() { close(f.closed) })
	return nil
}

func (f *httpFront) Addr() net.Addr { return &net.TCPAddr{} }

// closeListener stops taking connections and closes idle keep-alive ones,
// letting requests in flight finish: what removing a route promises.
func (f *httpFront) closeListener() {
	go f.srv.Shutdown(context.Background())
}

// serveHTTPConn hands c to the port's HTTP server, starting it on first use.
func (s *server) serveHTTPConn(ctx context.Context, port int, c net.Conn) {
	f := s.front(ctx, port)
	if f == nil {
		c.Close()
		return
	}
	select {
	case f.conns <- c:
	case <-f.closed:
		c.Close()
	case <-ctx.Done():
		c.Close()
	}
}

// front returns the HTTP server of port, creating it if the route exists, or
// nil when the route is gone or the proxy is shutting down.
func (s *server) front(ctx context.Context, port int) *httpFront {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.fronts[port]; f != nil {
		return f
	}
	if _, ok := s.table.route(port); !ok || s.closing {
		return nil
	}
	f := &httpFront{conns: make(chan net.Conn), closed: make(chan struct{})}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Fresh X-Forwarded-* from what this proxy saw: it is the edge,
			// so client-supplied values are not to be trusted.
			pr.SetXForwarded()
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "backend" // chosen per attempt by the transport
			pr.Out.Host = pr.In.Host
		},
		Transport: &backendTransport{s: s, port: port},
		// 0: a response of known length is written as it comes, and one of
		// unknown length (chunked, server-sent events) is flushed after every
		// write, which ReverseProxy does by itself; buffering would stall
		// streamed responses, a complaint users of other proxies had.
		FlushInterval: 0,
		BufferPool:    &s.buffers,
		ErrorHandler:  s.httpError,
		ErrorLog:      slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	f.srv = &http.Server{
		Handler:           rp,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.fronts[port] = f
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f.srv.Serve(f)
	}()
	return f
}

// bufferPool recycles the 32 KiB buffers ReverseProxy copies response
// bodies through: without a pool it allocates one per request, which showed
// in the proxy's profile under keep-alive load.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if x, ok := b.p.Get().(*[]byte); ok {
		return *x
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(x []byte) { b.p.Put(&x) }

// httpError answers a request no backend took: 503 when the route was held
// too long, removed or has no rule for it, 502 when backends failed.
func (s *server) httpError(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadGateway
	// No rule matching is a 503 too: what haproxy answered without a
	// default backend.
	if errors.Is(err, errHoldTimeout) || errors.Is(err, errRouteGone) || errors.Is(err, errNoRule) {
		code = http.StatusServiceUnavailable
	}
	if errors.Is(err, errDrainTimeout) {
		code = http.StatusGatewayTimeout
	}
	if r.Context().Err() == nil {
		s.log.Warn("http proxy", "host", r.Host, "path", r.URL.Path, "err", err)
	}
	w.WriteHeader(code)
}

// newHTTPTransport is the client side of HTTP mode, shared by all routes and
// pooled per backend address (the request URL's host).
func newHTTPTransport(addrs *addrCache) *http.Transport {
	return &http.Transport{
		Proxy: nil, // never an environment proxy
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := addrs.dial(ctx, addr)
			if err != nil {
				return nil, &dialError{err}
			}
			return c, nil
		},
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       30 * time.Second,
		ExpectContinueTimeout: time.Second,
		// The client's Accept-Encoding goes through as sent; the transport
		// must not add gzip and decompress behind the proxy's back.
		DisableCompression: true,
	}
}

// dialError marks a failure to connect, the only failure that is safe to
// retry on another backend whatever the request.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// backendTransport picks a backend for each request the way TCP mode picks
// one per connection: hold while paused or empty, round-robin over serving
// backends, next backend on a connect error. The request counts active on its
// backend until its response body is closed, so a drain waits for it.
type backendTransport struct {
	s    *server
	port int
}

func (bt *backendTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	s := bt.s
	deadline := s.holdDeadline()
	tried := map[string]bool{}
	var body *retryBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &retryBody{rc: req.Body}
	}
	for {
		addr, p, changed := s.acquire(bt.port, request{host: req.Host, path: req.URL.Path}, tried)
		switch p {
		case pickGone:
			return nil, errRouteGone
		case pickNoRule:
			return nil, errNoRule
		case pickNone:
			return nil, errNoBackend
		case pickHold:
			if !waitChange(req.Context(), changed, deadline) {
				return nil, errHoldTimeout
			}
			continue
		}
		ctx, cancel := context.WithCancelCause(req.Context())
		forget := s.trackRequest(addr, cancel)
		out := req.WithContext(ctx)
		u := *req.URL
		u.Scheme, u.Host = "http", addr
		out.URL = &u
		if body != nil {
			out.Body = body
		}
		resp, err := s.transport.RoundTrip(out)
		if err != nil {
			forget()
			if cause := context.Cause(ctx); errors.Is(cause, errDrainTimeout) {
				err = cause
			}
			cancel(nil)
			var de *dialError
			if errors.As(err, &de) {
				s.failed(addr)
			} else {
				s.release(addr)
			}
			if de != nil && (body == nil || !body.read.Load()) {
				tried[addr] = true
				s.log.Warn("dial backend", "port", bt.port, "addr", addr, "err", err)
				continue
			}
			return nil, err
		}
		resp.Body = releasing(resp.Body, func() { forget(); cancel(nil); s.release(addr) })
		return resp, nil
	}
}

// retryBody lets a request body survive a failed dial: the transport closes
// the body it was given on error, which would leave nothing for the next
// backend. The server closes the real body when the handler returns. read
// records whether any byte was taken, after which a retry is not safe.
type retryBody struct {
	rc   io.ReadCloser
	read atomic.Bool
}

func (b *retryBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.rc.Read(p)
}

func (b *retryBody) Close() error { return nil }

// releasing wraps a response body so release runs once when it is closed.
// An upgraded connection (websocket) keeps its Write method, which the
// reverse proxy needs to splice it.
func releasing(body io.ReadCloser, release func()) io.ReadCloser {
	rb := releaseBody{ReadCloser: body, once: new(sync.Once), release: release}
	if w, ok := body.(io.ReadWriteCloser); ok {
		return releaseRWBody{releaseBody: rb, w: w}
	}
	return rb
}

type releaseBody struct {
	io.ReadCloser
	once    *sync.Once
	release func()
}

func (b releaseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.release)
	return err
}

type releaseRWBody struct {
	releaseBody
	w io.Writer
}

func (b releaseRWBody) Write(p []byte) (int, error) { return b.w.Write(p) }

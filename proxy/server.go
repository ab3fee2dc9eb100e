package proxy

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"time"
)

// ServeOptions configures Serve.
type ServeOptions struct {
	StateFile     string // where the table is persisted; empty: not persisted
	ControlSocket string // unix socket path for Ctl

	// ListenHost is the address route listeners bind to; empty means all
	// interfaces ("0.0.0.0"), which is what the proxy container wants. Tests
	// bind to 127.0.0.1.
	ListenHost string
	// Logger receives one line per apply, failed dial and listener error;
	// nil discards them.
	Logger *slog.Logger

	// PortsSocket, when set, is the launcher's socket (ServePorts): the
	// proxy fetches the listening sockets of the host's published ports
	// there and accepts on them too, each for the route whose Listen is its
	// port, besides its in-container listeners. Control answers then carry
	// HostPorts.
	PortsSocket string

	// Tests only: the route port of a host address (default: its port,
	// which tests cannot use since both listeners would share 127.0.0.1),
	// how long an apply waits for the host ports (default
	// DefaultHostPortsWait), and for new backends to answer (default
	// reachFor).
	hostRoute func(addr string) (int, error)
	hostWait  time.Duration
	reachWait time.Duration
}

// server is the state of one Serve call. Everything the data path reads
// (table, active counts) is under mu; applies are serialised by applyMu so
// that opening listeners, persisting and swapping happen as one step.
type server struct {
	o   ServeOptions
	log *slog.Logger

	applyMu sync.Mutex

	mu        sync.Mutex
	table     Table
	maxPause  time.Duration
	listeners map[int]net.Listener
	next      map[string]int           // round-robin position per port, or per port and rule
	active    map[string]int           // open (or being dialed) connections per backend addr
	down      map[string]time.Time     // backends whose last dial failed, skipped until then
	changed   chan struct{}            // closed and replaced when the table changes
	idle      chan struct{}            // closed and replaced when a backend's count drops to 0
	clients   map[*httpClient]struct{} // HTTP-mode client connections
	closing   bool                     // Serve is returning: take no HTTP client, start no host accept loop
	host      hostPorts                // the launcher's listeners, with PortsSocket

	hostRoute func(addr string) (int, error)
	hostWait  time.Duration

	// inflight cancels the HTTP requests in flight per backend addr: a
	// drain that times out ends them there, rather than letting the
	// transport replay them elsewhere when the container goes.
	inflight map[string]map[uint64]context.CancelCauseFunc
	nextReq  uint64

	backends *backendPool // HTTP mode's idle connections to backends
	readers  readerPool   // HTTP mode's client connection buffers
	writers  writerPool
	addrs    *addrCache // backend names resolved, for a moment

	wg sync.WaitGroup // accept loops, connection handlers, control handlers
}

// Serve runs the proxy until ctx is done: it restores the table from
// o.StateFile, opens one listener per route and answers control requests on
// o.ControlSocket. When ctx is done it stops listening, closes every proxied
// connection and returns nil once all its goroutines have ended; it returns an
// error only when it cannot start.
func Serve(ctx context.Context, o ServeOptions) error {
	if o.ControlSocket == "" {
		return errors.New("proxy: no control socket")
	}
	st, err := loadState(o.StateFile)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	addrs := &addrCache{}
	s := &server{
		o:         o,
		log:       o.Logger,
		listeners: map[int]net.Listener{},
		next:      map[string]int{},
		active:    map[string]int{},
		changed:   make(chan struct{}),
		idle:      make(chan struct{}),
		clients:   map[*httpClient]struct{}{},
		maxPause:  durationMS(st.MaxPauseMS, DefaultMaxPause),
		backends:  &backendPool{addrs: addrs},
		addrs:     addrs,
		host:      newHostPorts(o.PortsSocket),
		hostRoute: o.hostRoute,
		hostWait:  cmp.Or(o.hostWait, DefaultHostPortsWait),
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if s.hostRoute == nil {
		s.hostRoute = portOf
	}
	ctl, err := listenControl(o.ControlSocket)
	if err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	opened, err := s.openListeners(st.Table, nil)
	if err != nil {
		ctl.Close()
		return fmt.Errorf("proxy: restore table generation %d: %w", st.Table.Generation, err)
	}
	s.install(ctx, st.Table, s.maxPause, opened)
	s.log.Info("proxy started", "generation", st.Table.Generation, "routes", len(st.Table.Routes))

	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptControl(ctx, ctl)
	}()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.backends.sweep(ctx)
	}()
	if o.PortsSocket != "" {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.holdHostPorts(ctx)
		}()
	}
	<-ctx.Done()
	ctl.Close()
	s.mu.Lock()
	s.closing = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	// Closing these copies leaves the ports bound: the launcher holds its
	// own, so connections wait in the backlog for the next proxy.
	for _, ln := range s.host.held {
		ln.Close()
	}
	s.mu.Unlock()
	// HTTP clients close through their own context.AfterFunc.
	s.wg.Wait()
	s.backends.closeIdle(false)
	os.Remove(o.ControlSocket)
	return nil
}

// listenControl opens the control socket (see listenUnix).
func listenControl(path string) (net.Listener, error) {
	return listenUnix(path, "proxy")
}

// listenUnix opens a unix socket, replacing a stale socket file left by a
// server (who) that died, but refusing to steal one a live server still
// answers on.
func listenUnix(path, who string) (net.Listener, error) {
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("socket %s: another %s is listening", path, who)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path)
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w", path, err)
	}
	// The control socket grants full control of the proxy, and the
	// launcher's hands out its ports: owner only.
	os.Chmod(path, 0o600)
	return ln, nil
}

func (s *server) acceptControl(ctx context.Context, ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("control accept", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handleControl(ctx, c)
		}()
	}
}

// apply validates t, opens listeners for its new ports, persists it, swaps it
// in, closes listeners of ports gone, and then waits for draining backends.
// The order matters: persisting before the swap means an acknowledged table is
// always the one a restart restores, and a failure before the swap leaves the
// old table in force with nothing half-done.
func (s *server) apply(ctx context.Context, in Table, drainTimeout, maxPause time.Duration, reach bool) Response {
	t, err := in.normalized()
	if err != nil {
		return s.failure(fmt.Errorf("apply: %w", err))
	}
	var unreached []string
	if reach {
		if unreached = s.reach(ctx, t); len(unreached) > 0 {
			s.log.Warn("backends not reached before the switch", "backends", unreached)
		}
	}
	s.applyMu.Lock()
	s.mu.Lock()
	cur := s.table
	s.mu.Unlock()
	gen, err := nextGeneration(cur.Generation, t.Generation)
	if err != nil {
		s.applyMu.Unlock()
		return s.failure(fmt.Errorf("apply: %w", err))
	}
	t.Generation = gen
	opened, err := s.openListeners(t, cur.ports())
	if err == nil {
		err = saveState(s.o.StateFile, savedState{Table: t, MaxPauseMS: maxPause.Milliseconds()})
		if err != nil {
			closeAll(opened)
		}
	}
	if err != nil {
		s.applyMu.Unlock()
		return s.failure(fmt.Errorf("apply generation %d: %w", gen, err))
	}
	s.install(ctx, t, maxPause, opened)
	s.applyMu.Unlock()
	s.log.Info("applied", "generation", gen, "routes", len(t.Routes), "draining", t.draining())

	timedOut := s.waitDrained(ctx, t.draining(), drainTimeout)
	if len(t.draining()) > 0 {
		// HTTP mode: keep-alive connections to drained backends that went
		// back to the pool would otherwise linger until drover stops the
		// container. Serving backends just reconnect.
		s.backends.closeIdle(false)
	}
	if len(timedOut) > 0 {
		s.log.Warn("drain timed out", "generation", gen, "busy", timedOut, "timeout", drainTimeout)
		s.cutRequests(timedOut)
	}
	// drover's first push after creating the proxy and the launcher
	// learns here whether the host ports are served.
	s.waitHostPorts(ctx)
	s.mu.Lock()
	active := s.activeLocked()
	s.mu.Unlock()
	return Response{OK: true, Protocol: Protocol, Generation: gen, Active: active, TimedOut: timedOut, Unreached: unreached, HostPorts: s.hostPortsReport()}
}

// reachFor bounds how long an apply waits to reach a backend it is to
// serve for the first time.
const reachFor = 10 * time.Second

// reach connects once to each backend t serves that the current table does
// not, all at once and again every 100 ms, for up to reachFor, and returns
// those it never reached: a container just started may not answer yet, or
// not have its name in the engine's DNS yet (both seen on a loaded engine),
// and a backend put in before it answers fails the requests sent to it.
// The table goes in at the bound all the same: a port the app opens late,
// or never, must not stop the others.
func (s *server) reach(ctx context.Context, t Table) []string {
	s.mu.Lock()
	before := s.table.addrsIn(StateServing)
	s.mu.Unlock()
	var pending []string
	for _, addr := range t.addrsIn(StateServing) {
		if !slices.Contains(before, addr) {
			pending = append(pending, addr)
		}
	}
	wait := reachFor
	if s.o.reachWait > 0 {
		wait = s.o.reachWait
	}
	rctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for len(pending) > 0 && rctx.Err() == nil {
		reached := make([]bool, len(pending))
		var wg sync.WaitGroup
		for i, addr := range pending {
			wg.Add(1)
			go func() {
				defer wg.Done()
				dctx, cancel := context.WithTimeout(rctx, dialTimeout)
				defer cancel()
				if c, err := s.addrs.dial(dctx, addr); err == nil {
					c.Close()
					reached[i] = true
				}
			}()
		}
		wg.Wait()
		var left []string
		for i, addr := range pending {
			if !reached[i] {
				left = append(left, addr)
			}
		}
		pending = left
		if len(pending) > 0 {
			select {
			case <-rctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return pending
}

// nextGeneration returns the generation to record: 0 asks for current+1; a
// generation below the current one is refused, because it means a push
// computed from an older state is arriving after a newer one.
func nextGeneration(current, requested int64) (int64, error) {
	switch {
	case requested == 0:
		return current + 1, nil
	case requested < current:
		return 0, fmt.Errorf("stale generation %d: the proxy is at %d", requested, current)
	default:
		return requested, nil
	}
}

// openListeners binds the ports of t that are not in have. On any failure it
// closes what it opened, so a refused apply leaves no port behind.
func (s *server) openListeners(t Table, have map[int]bool) (map[int]net.Listener, error) {
	host := s.o.ListenHost
	if host == "" {
		host = "0.0.0.0"
	}
	opened := map[int]net.Listener{}
	for _, r := range t.Routes {
		if have[r.Listen] {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(r.Listen)))
		if err != nil {
			closeAll(opened)
			return nil, fmt.Errorf("listen on port %d: %w", r.Listen, err)
		}
		opened[r.Listen] = ln
	}
	return opened, nil
}

func closeAll(lns map[int]net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// install makes t the table in force, starts accept loops on the newly opened
// listeners and closes those of removed routes. Connections already accepted
// on a removed route keep running, except HTTP-mode ones between requests,
// which close.
func (s *server) install(ctx context.Context, t Table, maxPause time.Duration, opened map[int]net.Listener) {
	s.mu.Lock()
	s.table = t
	s.maxPause = maxPause
	keep := t.ports()
	var gone []net.Listener
	gonePorts := map[int]bool{}
	for port, ln := range s.listeners {
		if !keep[port] {
			gone = append(gone, ln)
			delete(s.listeners, port)
			gonePorts[port] = true
		}
	}
	// Rules may have moved: positions start over rather than point at
	// another rule's.
	clear(s.next)
	maps.Copy(s.listeners, opened)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()

	for _, ln := range gone {
		ln.Close()
	}
	s.closeClients(gonePorts)
	for port, ln := range opened {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.acceptLoop(ctx, port, ln)
		}()
	}
}

// acceptLoop hands every connection on port to its handler until ln is
// closed. Accept errors other than closing (EMFILE, say) back off rather than
// spin, and do not close the port.
func (s *server) acceptLoop(ctx context.Context, port int, ln net.Listener) {
	backoff := 5 * time.Millisecond
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept", "port", port, "err", err)
			time.Sleep(backoff)
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.dispatch(ctx, port, c)
		}()
	}
}

// dispatch sends a new connection to the TCP or HTTP path by the route's
// current mode, read per connection so a mode change needs no new listener.
func (s *server) dispatch(ctx context.Context, port int, c net.Conn) {
	s.mu.Lock()
	r, ok := s.table.route(port)
	s.mu.Unlock()
	switch {
	case !ok:
		c.Close()
	case r.Mode == ModeHTTP:
		s.serveHTTP(ctx, port, c)
	default:
		s.handleTCP(ctx, port, c)
	}
}

// pick is what acquire decided for a new connection.
type pick int

const (
	pickDial   pick = iota // dial the returned address
	pickHold               // wait for the table to change (paused, or no serving backend)
	pickGone               // the route was removed: close the client
	pickNone               // every serving backend was tried and failed
	pickNoRule             // no rule of the route matches the request
)

// request is what rules match on: the Host header and path of an HTTP
// request; empty for a TCP connection.
type request struct{ host, path string }

// acquire chooses the next serving backend of port (of the rule req matches,
// on a route with rules), round-robin, skipping those in tried, and counts it
// active before the dial starts: a drain that begins while the dial is in
// flight must wait for it, or drover could stop the container under a
// connection the proxy is about to make. With pickHold it returns the channel
// that is closed at the next table change.
func (s *server) acquire(port int, req request, tried map[string]bool) (string, pick, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.table.route(port)
	if !ok {
		return "", pickGone, nil
	}
	key, serving, held, ok := s.table.candidates(r, req.host, req.path)
	switch {
	case !ok:
		return "", pickNoRule, nil
	case held:
		return "", pickHold, s.changed
	}
	start := s.next[key]
	now := time.Now()
	allDown := true
	for _, addr := range serving {
		allDown = allDown && now.Before(s.down[addr])
	}
	for i := range serving {
		addr := serving[(start+i)%len(serving)]
		// A backend that just refused a dial (killed, crashed) is passed
		// over for a moment, so that every client does not pay for it;
		// when all are down, each is tried anyway.
		if tried[addr] || !allDown && now.Before(s.down[addr]) {
			continue
		}
		s.next[key] = (start + i + 1) % len(serving)
		s.active[addr]++
		return addr, pickDial, nil
	}
	return "", pickNone, nil
}

// downFor is how long a backend that refused a dial, or failed a connection
// before answering, is passed over.
const downFor = 2 * time.Second

// failed records a failed dial to addr and ends its count (see release).
func (s *server) failed(addr string) {
	s.markDown(addr)
	s.release(addr)
}

// markDown passes addr over for downFor.
func (s *server) markDown(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.down == nil {
		s.down = map[string]time.Time{}
	}
	s.down[addr] = time.Now().Add(downFor)
}

// release ends one connection counted by acquire. Reaching zero wakes drain
// waiters; nothing else needs to know.
func (s *server) release(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.active[addr]--
	if s.active[addr] <= 0 {
		delete(s.active, addr)
		close(s.idle)
		s.idle = make(chan struct{})
	}
}

func (s *server) activeLocked() map[string]int {
	if len(s.active) == 0 {
		return nil
	}
	return maps.Clone(s.active)
}

// holdDeadline is when a connection accepted now stops waiting for a paused
// or empty route.
func (s *server) holdDeadline() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return time.Now().Add(s.maxPause)
}

// waitChange blocks until ch is closed (the table changed), the deadline
// passes or ctx is done, and reports whether it is worth checking again.
func waitChange(ctx context.Context, ch <-chan struct{}, deadline time.Time) bool {
	d := time.Until(deadline)
	if d <= 0 {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// waitDrained waits until none of addrs has an open connection, or timeout,
// and returns those still busy then.
func (s *server) waitDrained(ctx context.Context, addrs []string, timeout time.Duration) []string {
	if len(addrs) == 0 {
		return nil
	}
	deadline := time.Now().Add(timeout)
	for {
		busy, idle := s.busy(addrs)
		if len(busy) == 0 || !time.Now().Before(deadline) || ctx.Err() != nil {
			return busy
		}
		waitChange(ctx, idle, deadline)
	}
}

// busy returns those of addrs with open connections, and the channel closed
// at the next time any count drops to zero.
func (s *server) busy(addrs []string) ([]string, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, a := range addrs {
		if s.active[a] > 0 {
			out = append(out, a)
		}
	}
	return out, s.idle
}

// errDrainTimeout ends an HTTP request still in flight on a backend whose
// drain timed out.
var errDrainTimeout = errors.New("the backend's drain timed out")

// trackRequest records the cancel of an HTTP request in flight on addr; the
// returned func forgets it.
func (s *server) trackRequest(addr string, cancel context.CancelCauseFunc) func() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.inflight == nil {
		s.inflight = map[string]map[uint64]context.CancelCauseFunc{}
	}
	if s.inflight[addr] == nil {
		s.inflight[addr] = map[uint64]context.CancelCauseFunc{}
	}
	s.nextReq++
	id := s.nextReq
	s.inflight[addr][id] = cancel
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		delete(s.inflight[addr], id)
		if len(s.inflight[addr]) == 0 {
			delete(s.inflight, addr)
		}
	}
}

// cutRequests ends the HTTP requests in flight on addrs: the client gets a
// 504, or, mid-response, a closed connection; the drain timeout is the
// bound drain_timeout_ms promises.
func (s *server) cutRequests(addrs []string) {
	s.mu.Lock()
	var cancels []context.CancelCauseFunc
	for _, a := range addrs {
		for _, c := range s.inflight[a] {
			cancels = append(cancels, c)
		}
	}
	s.mu.Unlock()
	for _, c := range cancels {
		c(errDrainTimeout)
	}
}

package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
)

// handleTCP forwards one client connection: wait while the route is paused or
// has no serving backend (up to the pause bound), dial serving backends in
// round-robin order until one answers, then splice. Nothing is written to the
// client before a backend is connected, so every failure up to that point is
// invisible to it except as latency, or as a close when all else failed.
func (s *server) handleTCP(ctx context.Context, port int, client net.Conn) {
	defer client.Close()
	backend, addr, ok := s.connect(ctx, port)
	if !ok {
		return
	}
	defer s.release(addr)
	if answered, err := splice(ctx, client, backend); answered == 0 && err != nil && !errors.Is(err, net.ErrClosed) {
		// The backend accepted and then failed without a byte of answer:
		// a container being killed still accepts for a moment. Passing it
		// over, as after a refused dial, spares the connections that
		// would follow into it.
		s.markDown(addr)
		s.log.Warn("backend failed before answering", "port", port, "addr", addr, "err", err)
	}
}

// connect returns a connection to a backend of port, counted active under addr
// (the caller releases it), or ok=false when the route went away, the hold
// bound passed, or every serving backend failed to connect.
func (s *server) connect(ctx context.Context, port int) (conn net.Conn, addr string, ok bool) {
	deadline := s.holdDeadline()
	tried := map[string]bool{}
	for {
		addr, p, changed := s.acquire(port, request{}, tried)
		switch p {
		case pickGone, pickNone, pickNoRule:
			if p == pickNone {
				s.log.Warn("no backend connected", "port", port, "tried", len(tried))
			}
			return nil, "", false
		case pickHold:
			if !waitChange(ctx, changed, deadline) {
				return nil, "", false
			}
		case pickDial:
			c, err := s.addrs.dial(ctx, addr)
			if err == nil {
				return c, addr, true
			}
			s.failed(addr)
			tried[addr] = true
			s.log.Warn("dial backend", "port", port, "addr", addr, "err", err)
		}
	}
}

// splice copies both directions until both are done. A clean end of one
// direction is passed on as a half-close (CloseWrite), since protocols such as
// a client sending a request then shutting down its write side need the other
// direction to keep going. An error in either direction, or ctx ending, closes
// both connections, because a reset on one side means the other cannot finish
// either. It returns how many bytes the backend sent and how that direction
// ended.
func splice(ctx context.Context, client, backend net.Conn) (answered int64, err error) {
	var once sync.Once
	closeBoth := func() {
		once.Do(func() {
			client.Close()
			backend.Close()
		})
	}
	stop := context.AfterFunc(ctx, closeBoth)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		pipe(backend, client, closeBoth)
	}()
	answered, err = pipe(client, backend, closeBoth)
	<-done
	closeBoth()
	return answered, err
}

// pipe copies src to dst; io.Copy between two *net.TCPConn uses splice(2) on
// Linux, so the bytes do not pass through user space. It returns what
// io.Copy did.
func pipe(dst, src net.Conn, closeBoth func()) (int64, error) {
	n, err := io.Copy(dst, src)
	if err != nil {
		closeBoth()
		return n, err
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil && !errors.Is(err, net.ErrClosed) {
			closeBoth()
		}
		return n, nil
	}
	closeBoth()
	return n, nil
}

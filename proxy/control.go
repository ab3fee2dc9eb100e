package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"syscall"
	"time"
)

// Control operations.
const (
	OpApply = "apply"
	OpGet   = "get"
)

// Request is the one JSON value a client sends on a control connection.
type Request struct {
	Op           string `json:"op"` // "apply" or "get"
	Table        *Table `json:"table,omitempty"`
	DrainTimeout int64  `json:"drain_timeout_ms,omitempty"` // apply: how long to wait for draining backends' connections (default 30000)
	MaxPause     int64  `json:"max_pause_ms,omitempty"`     // how long a paused route holds a new connection before closing it (default 10000)
	// Reach, on an apply: first wait, for up to 10 s, until the proxy can
	// connect to every backend the table serves that the current one does
	// not; the table goes in then, or at the bound with those it could not
	// reach listed in Response.Unreached. drover always asks.
	Reach bool `json:"reach,omitempty"`
}

// Response is the one JSON value the server answers with.
type Response struct {
	OK         bool           `json:"ok"`
	Error      string         `json:"error,omitempty"`
	Protocol   int            `json:"protocol,omitempty"` // Protocol; absent from a proxy that speaks 1
	Generation int64          `json:"generation"`
	Table      *Table         `json:"table,omitempty"`     // get
	Active     map[string]int `json:"active,omitempty"`    // open connections per backend addr
	TimedOut   []string       `json:"timed_out,omitempty"` // apply: draining backends still busy at the drain timeout
	Unreached  []string       `json:"unreached,omitempty"` // apply with Reach: new backends not reached within the bound
	// HostPorts, from a proxy given a launcher (ServeOptions.PortsSocket):
	// every address the launcher is configured with, "" when the proxy
	// accepts on it, else why not (the launcher's bind error, or no answer
	// from it). Before the launcher first answers, the one key is its
	// socket's path. An apply waits for every address (DefaultHostPortsWait
	// at most) before it answers.
	HostPorts map[string]string `json:"host_ports,omitempty"`
}

// controlIOTimeout bounds reading a request and writing a response, so a
// stuck client cannot pin a server goroutine. The drain wait is not covered:
// it has its own timeout.
const controlIOTimeout = 10 * time.Second

// Ctl sends one request to the proxy listening on socket and returns its
// response. It returns an error when the exchange fails or when the proxy
// answers OK=false; the response is returned in both cases where one came back,
// so a caller can still read the generation.
func Ctl(ctx context.Context, socket string, req Request) (Response, error) {
	c, err := dialControl(ctx, socket, StartWait)
	if err != nil {
		return Response{}, fmt.Errorf("proxy control %s: %w", socket, err)
	}
	defer c.Close()
	// An apply can legitimately take as long as its drain timeout, so the
	// deadline is the caller's context, not a fixed figure.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	if err := json.NewEncoder(c).Encode(req); err != nil {
		return Response{}, fmt.Errorf("proxy control %s: send %s: %w", socket, req.Op, ctxErr(ctx, err))
	}
	var resp Response
	if err := json.NewDecoder(c).Decode(&resp); err != nil {
		return Response{}, fmt.Errorf("proxy control %s: read %s response: %w", socket, req.Op, ctxErr(ctx, err))
	}
	if !resp.OK {
		return resp, fmt.Errorf("proxy control %s: %s: %s", socket, req.Op, resp.Error)
	}
	return resp, nil
}

// ctxErr prefers the context's error, which says why the connection was cut.
func ctxErr(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return errors.Join(ctx.Err(), err)
	}
	return err
}

// handleControl answers one request on c.
func (s *server) handleControl(ctx context.Context, c net.Conn) {
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(controlIOTimeout))
	var req Request
	var resp Response
	if err := json.NewDecoder(c).Decode(&req); err != nil {
		resp = s.failure(fmt.Errorf("bad request: %w", err))
	} else {
		c.SetReadDeadline(time.Time{})
		resp = s.do(ctx, req)
	}
	c.SetWriteDeadline(time.Now().Add(controlIOTimeout))
	if err := json.NewEncoder(c).Encode(resp); err != nil {
		s.log.Warn("control: write response", "op", req.Op, "err", err)
	}
}

// do dispatches one request.
func (s *server) do(ctx context.Context, req Request) Response {
	switch req.Op {
	case OpGet:
		return s.get()
	case OpApply:
		if req.Table == nil {
			return s.failure(errors.New("apply: no table"))
		}
		return s.apply(ctx, *req.Table, durationMS(req.DrainTimeout, DefaultDrainTimeout), durationMS(req.MaxPause, DefaultMaxPause), req.Reach)
	default:
		return s.failure(fmt.Errorf("unknown op %q (want apply or get)", req.Op))
	}
}

// durationMS turns a millisecond field into a duration, with def for 0 or less.
func durationMS(ms int64, def time.Duration) time.Duration {
	if ms <= 0 {
		return def
	}
	return time.Duration(ms) * time.Millisecond
}

func (s *server) failure(err error) Response {
	s.mu.Lock()
	gen := s.table.Generation
	s.mu.Unlock()
	return Response{OK: false, Protocol: Protocol, Error: err.Error(), Generation: gen}
}

func (s *server) get() Response {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.table.clone()
	var host map[string]string
	if s.o.PortsSocket != "" {
		host = s.host.report()
	}
	return Response{OK: true, Protocol: Protocol, Generation: t.Generation, Table: &t, Active: s.activeLocked(), HostPorts: host}
}

// StartWait bounds how long a control request waits for the socket of a
// proxy that is starting: drover pushes its first table right after it
// starts the container, before the server may have created the socket.
const StartWait = 10 * time.Second

// dialControl dials the control socket, trying again while it does not
// exist yet or refuses (a proxy starting, or restarting), until wait.
func dialControl(ctx context.Context, socket string, wait time.Duration) (net.Conn, error) {
	var d net.Dialer
	deadline := time.Now().Add(wait)
	for {
		c, err := d.DialContext(ctx, "unix", socket)
		starting := errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED)
		if err == nil || !starting || time.Now().After(deadline) || ctx.Err() != nil {
			return c, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Package proxy is drover's front proxy: a small TCP (and HTTP) proxy that owns
// a project's published ports and forwards each new connection to one of the
// containers behind it, so that drover can swap containers without the port
// ever closing.
//
// The proxy never talks to Docker and never discovers anything. drover pushes
// the whole routing table over a unix control socket (see Ctl), with each
// backend marked serving or draining, and every push is acknowledged with a
// generation number only after the table is in force and persisted, and after
// draining backends have finished their open connections (or the drain timeout
// expired). The table survives a restart of the proxy because it is written to
// a state file before it is acknowledged.
//
// What makes upgrades gapless, and why each rule exists:
//   - a draining backend takes no new connection but keeps its open ones, so
//     drover can stop it once the acknowledgement says it is idle;
//   - a failed connect tries the next serving backend before the client sees
//     anything, so a container that died between two pushes costs latency,
//     not an error;
//   - a paused route, or one with no serving backend, holds new connections
//     (bounded by MaxPause) instead of refusing them, so a stop-first upgrade
//     shows up as latency.
package proxy

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"
)

// Mode says how a route forwards: byte splicing or HTTP-aware.
type Mode string

const (
	// ModeTCP splices bytes between client and backend; it is the default.
	ModeTCP Mode = "tcp"
	// ModeHTTP parses requests, so a keep-alive client moves to the new
	// backend at its next request and streamed responses pass unbuffered.
	ModeHTTP Mode = "http"
)

// Backend states.
const (
	StateServing  = "serving"
	StateDraining = "draining"
)

// Defaults and limits. The dial timeout is short because a backend that does
// not answer a SYN within 2 s on a local Docker network is gone; the next
// backend is a better bet than waiting.
const (
	DefaultDrainTimeout = 30 * time.Second
	DefaultMaxPause     = 10 * time.Second
	dialTimeout         = 2 * time.Second
)

// Backend is one container's address behind a route.
type Backend struct {
	Addr  string `json:"addr"`  // host:port; the host is resolved at dial time (Docker's embedded DNS), never cached
	State string `json:"state"` // "serving" or "draining"
}

// Route is one listening port and the backends it forwards to.
type Route struct {
	Listen   int       `json:"listen"` // port the proxy listens on, all interfaces, inside its container
	Mode     Mode      `json:"mode"`
	Backends []Backend `json:"backends"`
	Paused   bool      `json:"paused"` // new connections are held, not refused, until unpaused (bounded by MaxPause)
}

// Table is the whole routing state drover pushes.
type Table struct {
	Generation int64   `json:"generation"`
	Routes     []Route `json:"routes"`
}

// normalized returns a copy of t with defaults filled in (mode tcp, state
// serving), routes sorted by port, or an error naming the first invalid entry.
// It copies so that the caller's table and the server's never share slices.
func (t Table) normalized() (Table, error) {
	out := Table{Generation: t.Generation, Routes: make([]Route, 0, len(t.Routes))}
	ports := map[int]bool{}
	for _, r := range t.Routes {
		if r.Listen < 1 || r.Listen > 65535 {
			return Table{}, fmt.Errorf("route listen port %d: out of range 1-65535", r.Listen)
		}
		if ports[r.Listen] {
			return Table{}, fmt.Errorf("route listen port %d: listed twice", r.Listen)
		}
		ports[r.Listen] = true
		switch r.Mode {
		case "":
			r.Mode = ModeTCP
		case ModeTCP, ModeHTTP:
		default:
			return Table{}, fmt.Errorf("route %d: unknown mode %q (want tcp or http)", r.Listen, r.Mode)
		}
		bs, err := normalizedBackends(r.Backends)
		if err != nil {
			return Table{}, fmt.Errorf("route %d: %w", r.Listen, err)
		}
		r.Backends = bs
		out.Routes = append(out.Routes, r)
	}
	slices.SortFunc(out.Routes, func(a, b Route) int { return a.Listen - b.Listen })
	return out, nil
}

func normalizedBackends(in []Backend) ([]Backend, error) {
	out := make([]Backend, 0, len(in))
	seen := map[string]bool{}
	for _, b := range in {
		host, port, err := net.SplitHostPort(b.Addr)
		if err != nil || host == "" {
			return nil, fmt.Errorf("backend %q: want host:port", b.Addr)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("backend %q: bad port", b.Addr)
		}
		if seen[b.Addr] {
			return nil, fmt.Errorf("backend %q: listed twice", b.Addr)
		}
		seen[b.Addr] = true
		switch b.State {
		case "":
			b.State = StateServing
		case StateServing, StateDraining:
		default:
			return nil, fmt.Errorf("backend %q: unknown state %q (want serving or draining)", b.Addr, b.State)
		}
		out = append(out, b)
	}
	return out, nil
}

// route returns the route listening on port, if any.
func (t Table) route(port int) (Route, bool) {
	for _, r := range t.Routes {
		if r.Listen == port {
			return r, true
		}
	}
	return Route{}, false
}

// ports returns the set of listening ports.
func (t Table) ports() map[int]bool {
	m := make(map[int]bool, len(t.Routes))
	for _, r := range t.Routes {
		m[r.Listen] = true
	}
	return m
}

// draining returns the addresses marked draining in any route, deduplicated
// and sorted so that TimedOut reads the same on every run.
func (t Table) draining() []string {
	var out []string
	for _, r := range t.Routes {
		for _, b := range r.Backends {
			if b.State == StateDraining && !slices.Contains(out, b.Addr) {
				out = append(out, b.Addr)
			}
		}
	}
	slices.Sort(out)
	return out
}

// serving returns the route's serving backend addresses in table order.
func (r Route) serving() []string {
	var out []string
	for _, b := range r.Backends {
		if b.State == StateServing {
			out = append(out, b.Addr)
		}
	}
	return out
}

// clone returns a deep copy, so a Table handed out in a Response cannot alias
// the server's.
func (t Table) clone() Table {
	out := Table{Generation: t.Generation, Routes: make([]Route, len(t.Routes))}
	for i, r := range t.Routes {
		r.Backends = slices.Clone(r.Backends)
		out.Routes[i] = r
	}
	return out
}

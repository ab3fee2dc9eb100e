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
// A route either has its own backends (a port that fronts one service) or
// ordered rules (a load-balancer service's port rules: host, path, priority)
// that name backend sets, one per target service and port, so that one
// switch of a service moves every rule that sends to it. Tables of the first
// form, as older proxies wrote them, load unchanged; Protocol says which form
// a running proxy understands.
//
// The published ports can be handed to the proxy rather than published by
// Docker. Docker publishes a container's port through docker-proxy, a
// userspace copy on the host; in front of this proxy, itself a userspace
// copy, that made two hops, at 0.6-0.7x the throughput of the container
// published directly. So a launcher (ServePorts, `drover proxy ports`), a
// tiny second container on the host's network, binds the host ports and
// passes copies of the listening sockets over a unix socket on a volume both
// mount (ServeOptions.PortsSocket); the proxy accepts on them besides its
// in-container listeners, which it keeps for the load balancers' internal
// ports and the names on its bridge networks, and a host connection goes
// to the route whose Listen is its port. The launcher never accepts but
// keeps its sockets for its whole life: a proxy that restarts gets the same
// ones back, and connections that arrived meanwhile wait in their backlog.
// Control answers say which host addresses are served (Response.HostPorts).
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
	"cmp"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strconv"
	"strings"
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

// Route is one listening port and where it forwards: either its own backends
// (the table's first form, still the one for a port that fronts one
// service), or ordered rules that each name backend sets (a load-balancer
// service's port rules).
type Route struct {
	Listen   int       `json:"listen"` // port the proxy listens on, all interfaces, inside its container
	Mode     Mode      `json:"mode"`
	Backends []Backend `json:"backends"`
	Paused   bool      `json:"paused"` // new connections are held, not refused, until unpaused (bounded by MaxPause)
	// Rules, when set, replace Backends and Paused: a connection (TCP) or a
	// request (HTTP) goes to the first rule that matches, in the order of
	// orderRules.
	Rules []Rule `json:"rules,omitempty"`
}

// Rule sends what matches it to the union of its sets' serving backends.
type Rule struct {
	// Host is the request's host: exact ("example.com"), a suffix
	// ("*.example.com": any host ending in ".example.com") or a prefix
	// ("example.com.*"); empty matches any. HTTP only; case does not
	// matter and the Host header's port is left out.
	Host string `json:"host,omitempty"`
	// Path is a prefix of the request's path, as haproxy's path_beg
	// ("/api" matches "/api/v1" and "/apix"); empty matches any. HTTP only.
	Path string `json:"path,omitempty"`
	// Priority orders rules, lower first; 0 is unset and comes after every
	// set one (see orderRules).
	Priority int      `json:"priority,omitempty"`
	Sets     []string `json:"sets"` // names in Table.Sets; a name not there is an empty set
}

// Set is the backends of one target (a service at one port), shared by the
// rules that name it, so that one switch moves every rule at once.
type Set struct {
	Backends []Backend `json:"backends"`
	Paused   bool      `json:"paused,omitempty"` // its rules pass it over; with no other set serving, they hold
}

// Table is the whole routing state drover pushes.
type Table struct {
	Generation int64          `json:"generation"`
	Routes     []Route        `json:"routes"`
	Sets       map[string]Set `json:"sets,omitempty"`
}

// Protocol is the version of the control protocol this proxy speaks: 2 adds
// rules and sets to the table. A proxy that does not say speaks 1.
const Protocol = 2

// normalized returns a copy of t with defaults filled in (mode tcp, state
// serving), routes sorted by port, or an error naming the first invalid entry.
// It copies so that the caller's table and the server's never share slices.
func (t Table) normalized() (Table, error) {
	out := Table{Generation: t.Generation, Routes: make([]Route, 0, len(t.Routes))}
	for name, set := range t.Sets {
		if name == "" {
			return Table{}, errors.New("a backend set has no name")
		}
		bs, err := normalizedBackends(set.Backends)
		if err != nil {
			return Table{}, fmt.Errorf("set %q: %w", name, err)
		}
		if out.Sets == nil {
			out.Sets = map[string]Set{}
		}
		out.Sets[name] = Set{Backends: bs, Paused: set.Paused}
	}
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
		if r.Rules != nil {
			if r.Rules, err = normalizedRules(r); err != nil {
				return Table{}, fmt.Errorf("route %d: %w", r.Listen, err)
			}
		}
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

// normalizedRules checks a route's rules and returns them in their order. A
// TCP route sees no host or path, so its rules may not ask for one.
func normalizedRules(r Route) ([]Rule, error) {
	if len(r.Backends) > 0 || r.Paused {
		return nil, errors.New("has both rules and its own backends (or paused): rules name sets")
	}
	out := make([]Rule, 0, len(r.Rules))
	for i, ru := range r.Rules {
		if len(ru.Sets) == 0 {
			return nil, fmt.Errorf("rule %d: no set", i+1)
		}
		if r.Mode != ModeHTTP && (ru.Host != "" || ru.Path != "") {
			return nil, fmt.Errorf("rule %d: host and path need mode http", i+1)
		}
		if ru.Path != "" && !strings.HasPrefix(ru.Path, "/") {
			return nil, fmt.Errorf("rule %d: path %q does not start with /", i+1, ru.Path)
		}
		ru.Host = strings.ToLower(ru.Host)
		ru.Sets = slices.Clone(ru.Sets)
		out = append(out, ru)
	}
	return orderRules(out), nil
}

// orderRules returns rules in the order they are tried, Rancher's: rules
// with a priority first, lowest first; then the others; among equals, the
// most specific first (1. exact host and path, 2. exact host, 3. wildcard
// host and path, 4. wildcard host, 5. path, 6. neither), a longer path
// before a shorter one, and last the order given.
func orderRules(rules []Rule) []Rule {
	out := slices.Clone(rules)
	rank := func(ru Rule) int {
		if ru.Priority > 0 {
			return ru.Priority
		}
		return math.MaxInt
	}
	slices.SortStableFunc(out, func(a, b Rule) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(specificity(a), specificity(b)), cmp.Compare(len(b.Path), len(a.Path)))
	})
	return out
}

// specificity is a rule's place in Rancher's default order, 1 to 6.
func specificity(ru Rule) int {
	wild := strings.HasPrefix(ru.Host, "*") || strings.HasSuffix(ru.Host, "*")
	switch {
	case ru.Host != "" && !wild && ru.Path != "":
		return 1
	case ru.Host != "" && !wild:
		return 2
	case wild && ru.Path != "":
		return 3
	case wild:
		return 4
	case ru.Path != "":
		return 5
	}
	return 6
}

// matches reports whether a request for host and path goes to the rule.
// host is the Host header as sent: its port is left out, case ignored.
func (ru Rule) matches(host, path string) bool {
	if ru.Path != "" && !strings.HasPrefix(path, ru.Path) {
		return false
	}
	return ru.Host == "" || hostMatches(ru.Host, host)
}

// hostMatches matches a lower-case pattern against a Host header value.
func hostMatches(pattern, host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	switch {
	case pattern == "*":
		return true
	case strings.HasPrefix(pattern, "*."):
		return strings.HasSuffix(host, pattern[1:])
	case strings.HasSuffix(pattern, ".*"):
		return strings.HasPrefix(host, pattern[:len(pattern)-1])
	}
	return host == pattern
}

// match returns the index of the first rule of r that host and path match,
// -1 when none does.
func (r Route) match(host, path string) int {
	for i, ru := range r.Rules {
		if ru.matches(host, path) {
			return i
		}
	}
	return -1
}

// candidates are the serving backends a new connection or request may go
// to: the route's own, or those of the first matching rule's sets that are
// not paused. key names the round-robin position they share. held is true
// when the connection must wait (paused, or nothing serving); ok is false
// when no rule matches.
func (t Table) candidates(r Route, host, path string) (key string, serving []string, held, ok bool) {
	if r.Rules == nil {
		serving = r.serving()
		return strconv.Itoa(r.Listen), serving, r.Paused || len(serving) == 0, true
	}
	i := r.match(host, path)
	if i < 0 {
		return "", nil, false, false
	}
	for _, name := range r.Rules[i].Sets {
		set := t.Sets[name]
		if set.Paused {
			continue
		}
		for _, b := range set.Backends {
			if b.State == StateServing && !slices.Contains(serving, b.Addr) {
				serving = append(serving, b.Addr)
			}
		}
	}
	return fmt.Sprintf("%d/%d", r.Listen, i), serving, len(serving) == 0, true
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

// draining returns the addresses marked draining in any route or set,
// deduplicated and sorted so that TimedOut reads the same on every run.
func (t Table) draining() []string { return t.addrsIn(StateDraining) }

// addrsIn returns the backend addresses in state, of routes and sets,
// sorted and each once.
func (t Table) addrsIn(state string) []string {
	var out []string
	add := func(bs []Backend) {
		for _, b := range bs {
			if b.State == state && !slices.Contains(out, b.Addr) {
				out = append(out, b.Addr)
			}
		}
	}
	for _, r := range t.Routes {
		add(r.Backends)
	}
	for _, set := range t.Sets {
		add(set.Backends)
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
		if r.Rules != nil {
			r.Rules = slices.Clone(r.Rules)
			for j := range r.Rules {
				r.Rules[j].Sets = slices.Clone(r.Rules[j].Sets)
			}
		}
		out.Routes[i] = r
	}
	if t.Sets != nil {
		out.Sets = make(map[string]Set, len(t.Sets))
		for name, set := range t.Sets {
			set.Backends = slices.Clone(set.Backends)
			out.Sets[name] = set
		}
	}
	return out
}

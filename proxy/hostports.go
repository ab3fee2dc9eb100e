package proxy

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"net"
	"time"
)

// DefaultHostPortsWait bounds how long an apply waits for the proxy to hold
// every host address, so that drover's first push after it created the proxy
// and the launcher answers with the ports ready.
const DefaultHostPortsWait = 10 * time.Second

// hostPorts is the proxy's side of the launcher (ServeOptions.PortsSocket):
// the host listeners it holds and why it does not hold the others. Under
// server.mu.
type hostPorts struct {
	answered bool                    // the launcher has answered once: addrs is its configuration
	addrs    []string                // the launcher's addresses, in its order
	held     map[string]net.Listener // per address: the copy of the launcher's socket this proxy accepts on
	why      map[string]string       // per address not held (or, before the first answer, the socket): why not
	changed  chan struct{}           // closed and replaced whenever the above change
}

func newHostPorts(socket string) hostPorts {
	return hostPorts{
		held:    map[string]net.Listener{},
		why:     map[string]string{socket: fmt.Sprintf("no answer from the launcher at %s yet", socket)},
		changed: make(chan struct{}),
	}
}

// report is Response.HostPorts: every address, "" when held, else why not;
// before the launcher first answered, the one key is the socket's path.
func (h *hostPorts) report() map[string]string {
	out := map[string]string{}
	if !h.answered {
		maps.Copy(out, h.why)
		return out
	}
	for _, a := range h.addrs {
		if h.held[a] != nil {
			out[a] = ""
		} else {
			out[a] = h.why[a]
		}
	}
	return out
}

func (h *hostPorts) complete() bool {
	if !h.answered {
		return false
	}
	for _, a := range h.addrs {
		if h.held[a] == nil {
			return false
		}
	}
	return true
}

func (h *hostPorts) signal() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// holdHostPorts fetches the listeners from the launcher until it holds every
// address the launcher is configured with: the launcher may start after the
// proxy, restart, or still be waiting for a port that another container
// holds. Each fetch is a fresh connection; copies of sockets already held are
// closed.
func (s *server) holdHostPorts(ctx context.Context) {
	socket := s.o.PortsSocket
	last := ""
	for {
		msg, lns, err := fetchPorts(ctx, socket)
		if ctx.Err() != nil {
			closeListeners(lns)
			return
		}
		var done bool
		if err != nil {
			if err.Error() != last {
				last = err.Error()
				s.log.Warn("no answer from the launcher, asking again every 250ms", "socket", socket, "err", err)
			}
			done = s.noLauncher(fmt.Errorf("no answer from the launcher at %s: %w", socket, err))
		} else {
			last = ""
			done = s.takeHostPorts(ctx, msg, lns)
		}
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(fetchRetry):
		}
	}
}

// noLauncher records why every address not held is still not held, and
// reports whether all are.
func (s *server) noLauncher(err error) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.host
	if !h.answered {
		clear(h.why)
		h.why[s.o.PortsSocket] = err.Error()
	}
	for _, a := range h.addrs {
		if h.held[a] == nil {
			h.why[a] = err.Error()
		}
	}
	h.signal()
	return h.complete()
}

// takeHostPorts starts an accept loop on each listener received for an
// address not held yet, closes those received for one already held, records
// the launcher's reason for the others, and reports whether all are held.
// The accept loops dispatch by port, exactly as the in-container listeners.
func (s *server) takeHostPorts(ctx context.Context, msg PortsMessage, lns []net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &s.host
	if !h.answered {
		h.answered = true
		clear(h.why)
	}
	h.addrs = h.addrs[:0]
	j := 0
	for _, p := range msg.Ports {
		h.addrs = append(h.addrs, p.Addr)
		var ln net.Listener
		if p.FD {
			ln, j = lns[j], j+1
		}
		switch {
		case h.held[p.Addr] != nil:
			if ln != nil {
				ln.Close()
			}
		case ln == nil:
			if h.why[p.Addr] != p.Error {
				s.log.Warn("launcher does not hold a host address", "addr", p.Addr, "err", p.Error)
			}
			h.why[p.Addr] = cmp.Or(p.Error, "the launcher sent no socket")
		case s.closing:
			ln.Close()
		default:
			port, err := s.hostRoute(p.Addr)
			if err != nil {
				ln.Close()
				h.why[p.Addr] = err.Error()
				continue
			}
			h.held[p.Addr] = ln
			delete(h.why, p.Addr)
			s.log.Info("accepting on a host address", "addr", p.Addr, "port", port)
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.acceptLoop(ctx, port, ln)
			}()
		}
	}
	h.signal()
	return h.complete()
}

// hostPortsReport is Response.HostPorts, nil without a launcher.
func (s *server) hostPortsReport() map[string]string {
	if s.o.PortsSocket == "" {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.host.report()
}

// waitHostPorts waits until every host address is held, at most
// s.hostWait and not after ctx.
func (s *server) waitHostPorts(ctx context.Context) {
	if s.o.PortsSocket == "" {
		return
	}
	deadline := time.Now().Add(s.hostWait)
	for {
		s.mu.Lock()
		done, changed := s.host.complete(), s.host.changed
		s.mu.Unlock()
		if done || !waitChange(ctx, changed, deadline) {
			return
		}
	}
}

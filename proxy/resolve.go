package proxy

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// resolveFor is how long a backend name's addresses are reused.
const resolveFor = time.Second

// addrCache remembers, for a moment, what a backend's name resolved to:
// Docker's embedded DNS costs a round trip per lookup, and a proxy under
// load dials often. A dial that fails on remembered addresses looks the
// name up again before it gives up, so a container that came back with
// another address (an engine restart) is found at once.
type addrCache struct {
	mu sync.Mutex
	m  map[string]cachedAddrs
}

type cachedAddrs struct {
	ips   []string
	until time.Time
}

func (c *addrCache) get(host string) ([]string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[host]
	return e.ips, ok && time.Now().Before(e.until)
}

func (c *addrCache) put(host string, ips []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]cachedAddrs{}
	}
	c.m[host] = cachedAddrs{ips: ips, until: time.Now().Add(resolveFor)}
}

func (c *addrCache) forget(host string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, host)
}

// dial connects to addr (host:port), resolving host through the cache.
func (c *addrCache) dial(ctx context.Context, addr string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	if net.ParseIP(host) != nil {
		return dialAny(ctx, []string{host}, port)
	}
	if ips, ok := c.get(host); ok {
		if conn, err := dialAny(ctx, ips, port); err == nil {
			return conn, nil
		}
		c.forget(host)
	}
	ips, err := net.DefaultResolver.LookupHost(ctx, host)
	if err != nil {
		return nil, err
	}
	c.put(host, ips)
	return dialAny(ctx, ips, port)
}

func dialAny(ctx context.Context, ips []string, port string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout}
	var errs []error
	for _, ip := range ips {
		conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(ip, port))
		if err == nil {
			return conn, nil
		}
		errs = append(errs, err)
	}
	if len(errs) == 0 {
		return nil, errors.New("no address")
	}
	return nil, errors.Join(errs...)
}

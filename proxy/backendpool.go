package proxy

import (
	"bufio"
	"context"
	"net"
	"sync"
	"time"
)

// HTTP mode keeps connections to backends open between requests, as a
// browser's keep-alive connection to the proxy does not map to one backend.

const (
	// maxIdlePerBackend bounds the idle connections kept per backend.
	maxIdlePerBackend = 64
	// idleTimeout closes a backend connection nobody used for this long.
	idleTimeout = 30 * time.Second
	// freshFor is how long an idle connection is trusted for a request that
	// cannot be sent twice: a backend that closes idle connections after a
	// few seconds (Node's default is 5 s) may close it while the request is
	// on its way, and then the request cannot be retried.
	freshFor = 2 * time.Second
)

// backendConn is one connection to a backend, with its buffers.
type backendConn struct {
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	addr   string
	reused bool      // served a request before: it may have gone stale
	idle   time.Time // when it went back to the pool
}

// backendPool holds idle backend connections per address.
type backendPool struct {
	addrs *addrCache
	mu    sync.Mutex
	idle  map[string][]*backendConn
}

// get returns an idle connection to addr used within maxIdle, the most
// recently used first, or dials a new one. With check, an idle connection
// the backend has closed is passed over, for a request that could not be
// sent again if it failed there. A dial error is returned as a *dialError.
func (p *backendPool) get(ctx context.Context, addr string, maxIdle time.Duration, check bool) (*backendConn, error) {
	// The list is in the order connections came back, so its end is the
	// most recently used; if that one is too old, all are.
	var bc *backendConn
	p.mu.Lock()
	if l := p.idle[addr]; len(l) > 0 && time.Since(l[len(l)-1].idle) < maxIdle {
		bc = l[len(l)-1]
		l[len(l)-1] = nil
		p.idle[addr] = l[:len(l)-1]
	}
	p.mu.Unlock()
	if bc != nil && check && closedByPeer(bc.conn) {
		bc.conn.Close()
		bc = nil
	}
	if bc != nil {
		bc.reused = true
		return bc, nil
	}
	conn, err := p.addrs.dial(ctx, addr)
	if err != nil {
		return nil, &dialError{err}
	}
	return &backendConn{
		conn: conn,
		br:   bufio.NewReaderSize(conn, 16<<10),
		bw:   bufio.NewWriterSize(conn, 4<<10),
		addr: addr,
	}, nil
}

// put returns a connection after a complete exchange.
func (p *backendPool) put(bc *backendConn) {
	bc.idle = time.Now()
	p.mu.Lock()
	if p.idle == nil {
		p.idle = map[string][]*backendConn{}
	}
	if l := p.idle[bc.addr]; len(l) < maxIdlePerBackend {
		p.idle[bc.addr] = append(l, bc)
		bc = nil
	}
	p.mu.Unlock()
	if bc != nil {
		bc.conn.Close()
	}
}

// closeIdle closes every idle connection, or only those idle for longer than
// idleTimeout when expired is true.
func (p *backendPool) closeIdle(expired bool) {
	now := time.Now()
	var gone []*backendConn
	p.mu.Lock()
	for addr, l := range p.idle {
		keep := l[:0]
		for _, c := range l {
			if expired && now.Sub(c.idle) < idleTimeout {
				keep = append(keep, c)
			} else {
				gone = append(gone, c)
			}
		}
		if len(keep) == 0 {
			delete(p.idle, addr)
		} else {
			clear(l[len(keep):])
			p.idle[addr] = keep
		}
	}
	p.mu.Unlock()
	for _, c := range gone {
		c.conn.Close()
	}
}

// sweep closes expired idle connections until ctx is done.
func (p *backendPool) sweep(ctx context.Context) {
	t := time.NewTicker(idleTimeout / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.closeIdle(true)
		}
	}
}

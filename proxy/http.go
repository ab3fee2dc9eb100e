package proxy

import (
	"context"
	"net"
)

// httpFront will serve an HTTP-mode route; not implemented yet.
type httpFront struct{}

func (f *httpFront) closeListener() {}

// serveHTTPConn is a placeholder until HTTP mode lands: apply refuses
// http routes, so it is reached only through a restored state file.
func (s *server) serveHTTPConn(ctx context.Context, port int, c net.Conn) {
	s.handleTCP(ctx, port, c)
}

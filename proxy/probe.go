package proxy

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// Probe runs one Rancher-style health check against addr (host:port, the
// host resolved now): with an empty request line, a TCP connect; otherwise
// the request line (GET /healthz HTTP/1.0) is sent and the answer must be
// 2xx or 3xx, as Rancher's haproxy check took it. It runs inside the
// proxy's container, which is on the backends' networks: drover, on the
// host, cannot reach them.
func Probe(ctx context.Context, addr, requestLine string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	defer conn.Close()
	if requestLine == "" {
		return nil
	}
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	host, _, _ := net.SplitHostPort(addr)
	if _, err := fmt.Fprintf(conn, "%s\r\nHost: %s\r\nConnection: close\r\n\r\n", strings.TrimSpace(requestLine), host); err != nil {
		return fmt.Errorf("send to %s: %w", addr, err)
	}
	status, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("answer from %s: %w", addr, err)
	}
	fields := strings.Fields(status)
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "HTTP/") {
		return fmt.Errorf("answer from %s is not HTTP: %q", addr, strings.TrimSpace(status))
	}
	if c := fields[1]; len(c) != 3 || (c[0] != '2' && c[0] != '3') {
		return fmt.Errorf("%s answered %s", addr, strings.TrimSpace(strings.Join(fields[1:], " ")))
	}
	return nil
}

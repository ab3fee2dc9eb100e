package proxy

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// BenchmarkProxyTCP compares the same backend reached directly and through
// the proxy: "bulk" reads 1 MiB per connection (throughput, MB/s), "connect"
// is one short request per new connection (connection rate, ns/op).
func BenchmarkProxyTCP(b *testing.B) {
	small := startBackend(b, "small", 0)
	bulk := startBulkBackend(b, 1<<20)
	p := startProxy(b, "")
	smallPort, bulkPort := freePort(b), freePort(b)
	p.apply(b, Request{Table: table(
		route(smallPort, Backend{Addr: small.addr}),
		route(bulkPort, Backend{Addr: bulk}),
	)})

	for _, tc := range []struct{ name, addr string }{
		{"bulk/direct", bulk},
		{"bulk/proxy", loopback(bulkPort)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(1 << 20)
			for b.Loop() {
				if n, err := readAll(tc.addr); err != nil || n != 1<<20 {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
		})
	}
	for _, tc := range []struct{ name, addr string }{
		{"connect/direct", small.addr},
		{"connect/proxy", loopback(smallPort)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := roundTrip(tc.addr, 5*time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkProxyTCPHostPort is BenchmarkProxyTCP through a socket handed
// over by the launcher (ServePorts) instead of the proxy's own listener: on
// loopback the two should not differ, since the same process accepts; what
// the launcher saves in production is docker-proxy's hop, which loopback
// does not have.
func BenchmarkProxyTCPHostPort(b *testing.B) {
	small := startBackend(b, "small", 0)
	bulk := startBulkBackend(b, 1<<20)
	smallHost, smallPort, bulkHost, bulkPort := freePort(b), freePort(b), freePort(b), freePort(b)
	dir := shortDir(b)
	ports := filepath.Join(dir, "ports.sock")
	startLauncher(b, ports, loopback(smallHost), loopback(bulkHost))
	p := startProxyWith(b, hostOpts(dir, "ctl.sock", ports, "", map[int]int{smallHost: smallPort, bulkHost: bulkPort}))
	resp := p.apply(b, Request{Table: table(
		route(smallPort, Backend{Addr: small.addr}),
		route(bulkPort, Backend{Addr: bulk}),
	)})
	for addr, why := range resp.HostPorts {
		if why != "" {
			b.Fatalf("host address %s not held: %s", addr, why)
		}
	}
	b.Run("bulk/hostport", func(b *testing.B) {
		b.SetBytes(1 << 20)
		for b.Loop() {
			if n, err := readAll(loopback(bulkHost)); err != nil || n != 1<<20 {
				b.Fatalf("read %d bytes: %v", n, err)
			}
		}
	})
	b.Run("connect/hostport", func(b *testing.B) {
		for b.Loop() {
			if _, err := roundTrip(loopback(smallHost), 5*time.Second); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// startBulkBackend writes n bytes to every connection and closes it.
func startBulkBackend(b testing.TB, n int) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	buf := make([]byte, n)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write(buf)
			}()
		}
	}()
	return ln.Addr().String()
}

func readAll(addr string) (int64, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	return io.Copy(io.Discard, c)
}

// BenchmarkProxyHTTP is HTTP mode under keep-alive load: each op is one GET
// on a reused client connection, directly and through the proxy, with
// allocations, since the proxy's per-request cost is what HTTP mode adds.
func BenchmarkProxyHTTP(b *testing.B) {
	backend := startHTTPBackend(b, "b", 0)
	p := startProxy(b, "")
	port := freePort(b)
	p.apply(b, Request{Table: table(httpRoute(port, httpServing(backend)))})
	for _, tc := range []struct{ name, url string }{
		{"keepalive/direct", "http://" + backend.addr + "/"},
		{"keepalive/proxy", "http://" + loopback(port) + "/"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
			defer c.CloseIdleConnections()
			b.ReportAllocs()
			for b.Loop() {
				if body, err := get(c, tc.url); err != nil || body != "b" {
					b.Fatalf("GET %s: %q %v", tc.url, body, err)
				}
			}
		})
	}
}

// BenchmarkProxyHTTPBodies moves 8 MiB bodies through HTTP mode and
// directly, on keep-alive connections: an upload (a POST the backend reads
// and discards) and a download (a GET of /big). MB/s is the figure.
func BenchmarkProxyHTTPBodies(b *testing.B) {
	backend := startHTTPBackend(b, "b", 0)
	p := startProxy(b, "")
	port := freePort(b)
	p.apply(b, Request{Table: table(httpRoute(port, httpServing(backend)))})
	upload := bytes.Repeat([]byte("x"), bigBody)
	for _, via := range []struct{ name, addr string }{{"direct", backend.addr}, {"proxy", loopback(port)}} {
		c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		b.Run("upload/"+via.name, func(b *testing.B) {
			b.SetBytes(bigBody)
			for b.Loop() {
				resp, err := c.Post("http://"+via.addr+"/sink", "application/octet-stream", bytes.NewReader(upload))
				if err != nil {
					b.Fatal(err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != strconv.Itoa(bigBody) {
					b.Fatalf("the backend read %s bytes", got)
				}
			}
		})
		b.Run("download/"+via.name, func(b *testing.B) {
			b.SetBytes(bigBody)
			for b.Loop() {
				resp, err := c.Get("http://" + via.addr + "/big")
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || n != bigBody {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
		})
		c.CloseIdleConnections()
	}
}

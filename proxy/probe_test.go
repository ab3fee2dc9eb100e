package proxy

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(http.StatusOK)
			return
		}
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	ctx := context.Background()
	if err := Probe(ctx, addr, "GET /healthz HTTP/1.0", time.Second); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := Probe(ctx, addr, "", time.Second); err != nil {
		t.Errorf("tcp: %v", err)
	}
	if err := Probe(ctx, addr, "GET /other HTTP/1.0", time.Second); err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("a 500 passed: %v", err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	if err := Probe(ctx, dead, "", time.Second); err == nil {
		t.Errorf("a closed port passed")
	}
	// A server that accepts and never answers: the timeout decides.
	silent, _ := net.Listen("tcp", "127.0.0.1:0")
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start := time.Now()
	if err := Probe(ctx, silent.Addr().String(), "GET / HTTP/1.0", 300*time.Millisecond); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("a silent server: %v after %s", err, time.Since(start))
	}
}

package engine

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

// fakeEngine answers a call after failing the first fails tries with err,
// or, with hang, never answers until the call's context ends.
type fakeEngine struct {
	fails int
	err   error
	hang  bool
	calls atomic.Int32
}

func (f *fakeEngine) RoundTrip(req *http.Request) (*http.Response, error) {
	n := int(f.calls.Add(1))
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		if string(b) != `{"x":1}` {
			return nil, errors.New("body not sent again: " + string(b))
		}
	}
	if f.hang {
		<-req.Context().Done()
		return nil, req.Context().Err()
	}
	if n <= f.fails {
		return nil, f.err
	}
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("ok")), Request: req}, nil
}

func call(t *testing.T, tr *transport, method, path string) error {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"x":1}`)
	}
	req, err := http.NewRequest(method, "http://docker/v1.41"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

var broken = errors.New("read unix ->/var/run/docker.sock: read: connection reset by peer")

func TestTransportRepeatsWhatIsSafe(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		fails        int
		err          error
		wantCalls    int
		wantErr      string
	}{
		{"GET", "/containers/json", 2, broken, 3, ""},
		{"GET", "/containers/json", 9, broken, 4, "GET /containers/json: the connection to the engine broke before it answered (read unix ->/var/run/docker.sock: read: connection reset by peer), 4 times"},
		{"POST", "/containers/abc/start", 1, broken, 2, ""},
		{"POST", "/containers/abc/stop", 1, broken, 2, ""},
		{"POST", "/containers/abc/update", 1, broken, 2, ""},
		{"POST", "/containers/abc/rename", 1, broken, 1, "POST /containers/abc/rename: the connection to the engine broke before it answered (read unix ->/var/run/docker.sock: read: connection reset by peer); not repeated, since the engine may have carried it out"},
		{"POST", "/containers/create", 1, broken, 1, "not repeated"},
		{"DELETE", "/containers/abc", 1, broken, 1, "not repeated"},
		// The engine never saw a call whose connection could not open.
		{"POST", "/containers/create", 2, &net.OpError{Op: "dial", Net: "unix", Err: errors.New("connection refused")}, 3, ""},
	} {
		f := &fakeEngine{fails: tc.fails, err: tc.err}
		tr := &transport{base: f, timeout: time.Second, retries: 3, backoff: time.Millisecond}
		err := call(t, tr, tc.method, tc.path)
		if got := int(f.calls.Load()); got != tc.wantCalls {
			t.Errorf("%s %s: %d calls, want %d", tc.method, tc.path, got, tc.wantCalls)
		}
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s %s: %v", tc.method, tc.path, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%s %s: error %v, want %q", tc.method, tc.path, err, tc.wantErr)
		}
	}
}

func TestTransportTimeout(t *testing.T) {
	f := &fakeEngine{hang: true}
	tr := &transport{base: f, timeout: 50 * time.Millisecond, retries: 2, backoff: time.Millisecond}
	err := call(t, tr, "GET", "/containers/abc/json")
	want := "GET /containers/abc/json: the engine did not answer within 50ms (DROVER_ENGINE_TIMEOUT), 3 times"
	if err == nil || err.Error() != want || f.calls.Load() != 3 {
		t.Errorf("a GET that never answers: %v after %d calls, want %q after 3", err, f.calls.Load(), want)
	}
	f = &fakeEngine{hang: true}
	tr.base = f
	err = call(t, tr, "POST", "/containers/abc/rename")
	if err == nil || !strings.Contains(err.Error(), "not repeated") || f.calls.Load() != 1 {
		t.Errorf("a rename that never answers: %v after %d calls", err, f.calls.Load())
	}
	// The caller's own cancellation is not the engine's fault, and ends
	// the retries.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://docker/v1.41/containers/json", nil)
	f = &fakeEngine{hang: true}
	tr.base = f
	if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) || f.calls.Load() != 1 {
		t.Errorf("a cancelled call: %v after %d calls", err, f.calls.Load())
	}
}

func TestTransportLimits(t *testing.T) {
	tr := &transport{timeout: time.Minute}
	for _, tc := range []struct {
		method, url string
		want        time.Duration
	}{
		{"GET", "/v1.41/containers/json?all=1", time.Minute},
		{"POST", "/v1.41/containers/abc/stop?t=30", time.Minute + 30*time.Second},
		{"POST", "/v1.41/containers/abc/stop", time.Minute + stopGrace},
		{"POST", "/v1.41/images/create?fromImage=x", 0},
		{"POST", "/v1.41/build?t=x", 0},
		{"POST", "/v1.41/images/load", 0},
		{"POST", "/v1.41/containers/abc/wait", 0},
		{"GET", "/v1.41/containers/abc/logs?follow=1&stdout=1", 0},
		{"GET", "/v1.41/containers/abc/logs?tail=10", time.Minute},
		{"GET", "/v1.41/events", 0},
		{"GET", "/_ping", time.Minute},
	} {
		req, _ := http.NewRequest(tc.method, "http://docker"+tc.url, nil)
		if got := tr.limit(req); got != tc.want {
			t.Errorf("%s %s: limit %s, want %s", tc.method, tc.url, got, tc.want)
		}
	}
	if (&transport{}).limit(&http.Request{Method: "GET", URL: mustURL("http://docker/v1.41/containers/json")}) != 0 {
		t.Errorf("DROVER_ENGINE_TIMEOUT=0 still limits calls")
	}
}

func mustURL(s string) *url.URL {
	req, _ := http.NewRequest("GET", s, nil)
	return req.URL
}

func TestEngineTimeoutFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want time.Duration
		err  bool
	}{{"", DefaultEngineTimeout, false}, {"5s", 5 * time.Second, false}, {"0", 0, false}, {"soon", 0, true}, {"-1s", 0, true}} {
		t.Setenv("DROVER_ENGINE_TIMEOUT", tc.env)
		got, err := EngineTimeout()
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("DROVER_ENGINE_TIMEOUT=%q: %v, %v", tc.env, got, err)
		}
	}
}

// TestClientKeepsTheMessage: through the Docker client, the error still
// says which call failed and why (the client replaces some errors with its
// generic "Cannot connect to the Docker daemon").
func TestClientKeepsTheMessage(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "engine.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hang := make(chan struct{})
	defer close(hang)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1.41/containers/abc/rename" {
			// Carried out, never answered.
			if hj, ok := w.(http.Hijacker); ok {
				if c, _, err := hj.Hijack(); err == nil {
					c.Close()
				}
			}
			return
		}
		<-hang
	})}
	go func() { _ = srv.Serve(ln) }()
	c, err := client.NewClientWithOpts(client.WithHost("unix://"+sock), client.WithVersion("1.41"), withFaultTolerance(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, err = c.ContainerInspect(context.Background(), "abc")
	if err == nil || !strings.Contains(err.Error(), "GET /containers/abc/json: the engine did not answer within 100ms (DROVER_ENGINE_TIMEOUT), 4 times") {
		t.Errorf("inspect of a stalled engine: %v", err)
	}
	err = c.ContainerRename(context.Background(), "abc", "web-1")
	if err == nil || !strings.Contains(err.Error(), "POST /containers/abc/rename: the connection to the engine broke before it answered") || !strings.Contains(err.Error(), "not repeated") {
		t.Errorf("rename on a dropped connection: %v", err)
	}
}

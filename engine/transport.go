package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/client"
)

// DefaultEngineTimeout bounds one engine call that is not a stream, unless
// DROVER_ENGINE_TIMEOUT says otherwise.
const DefaultEngineTimeout = 60 * time.Second

// Retries of a call that is safe to repeat, and the first pause before one
// (doubled each time).
const (
	engineRetries = 3
	engineBackoff = 200 * time.Millisecond
	// stopGrace is what a stop without ?t= may take beyond the timeout:
	// the container's own stop timeout, which the call does not say.
	stopGrace = 2 * time.Minute
)

// EngineTimeout reads DROVER_ENGINE_TIMEOUT: empty means
// DefaultEngineTimeout; otherwise a Go duration ("30s"), or 0 for none.
func EngineTimeout() (time.Duration, error) {
	s := os.Getenv("DROVER_ENGINE_TIMEOUT")
	if s == "" {
		return DefaultEngineTimeout, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("DROVER_ENGINE_TIMEOUT=%q: expected a duration such as 60s, or 0 for no limit", s)
	}
	return d, nil
}

// withFaultTolerance wraps the client's transport (it must come after the
// options that set the host) in a transport that bounds each call in time
// and repeats the calls that are safe to repeat.
func withFaultTolerance(timeout time.Duration) client.Opt {
	return func(c *client.Client) error {
		hc := c.HTTPClient() // a copy
		hc.Transport = &transport{base: hc.Transport, timeout: timeout, retries: engineRetries, backoff: engineBackoff}
		return client.WithHTTPClient(hc)(c)
	}
}

// transport is an http.RoundTripper in front of the engine's socket.
//
//   - Time: a call that is not a stream gets timeout (DROVER_ENGINE_TIMEOUT)
//     to answer and deliver its body; a stop gets its stop timeout on top.
//     Streams and calls whose length the work decides get no limit: image
//     pull, build, load and save, container wait, attach, logs that follow,
//     events.
//   - Retries: a call that failed because the connection broke or the
//     engine did not answer in time is repeated (up to retries times, with
//     a backoff) when repeating it is harmless: reads (GET, HEAD), and the
//     calls whose repetition the engine answers as a no-op (start: 304 when
//     running; stop: 304 when stopped; update: the same settings again).
//     Any call whose connection could not even be opened is repeated too:
//     the engine never saw it. Anything else (create, rename, remove,
//     network and volume calls) is not: the engine may have carried it out,
//     and the error says so; the next run plans from what the engine shows.
type transport struct {
	base    http.RoundTripper
	timeout time.Duration
	retries int
	backoff time.Duration
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	limit := t.limit(req)
	for try := 1; ; try++ {
		ctx, cancel := req.Context(), context.CancelFunc(func() {})
		if limit > 0 {
			ctx, cancel = context.WithTimeout(ctx, limit)
		}
		r := req.WithContext(ctx) // a copy: the caller's request is left alone
		if try > 1 && req.Body != nil && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				cancel()
				return nil, err
			}
			r.Body = body
		}
		resp, err := t.base.RoundTrip(r)
		if err == nil {
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
			return resp, nil
		}
		timedOut := r.Context().Err() != nil && req.Context().Err() == nil
		cancel()
		if req.Context().Err() != nil {
			return nil, err // the caller gave up: not the engine's fault
		}
		unsent := neverSent(err)
		repeat := unsent || safeToRepeat(req)
		if !repeat || try > t.retries || (req.Body != nil && req.GetBody == nil && !unsent) {
			return nil, &CallError{Method: req.Method, Path: callPath(req), Err: err, TimedOut: timedOut, Limit: limit, Tries: try, Repeatable: repeat}
		}
		pause := t.backoff << (try - 1)
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(pause):
		}
	}
}

// CallError is an engine call that failed for want of an answer. It has no
// Timeout method on purpose: the Docker client would replace the error of a
// timeout with its generic "Cannot connect to the Docker daemon".
type CallError struct {
	Method, Path string
	Err          error
	TimedOut     bool
	Limit        time.Duration
	Tries        int
	Repeatable   bool
}

func (e *CallError) Error() string {
	what := "the connection to the engine broke before it answered (" + e.Err.Error() + ")"
	if e.TimedOut {
		what = fmt.Sprintf("the engine did not answer within %s (DROVER_ENGINE_TIMEOUT)", e.Limit)
	}
	if e.Repeatable {
		return fmt.Sprintf("%s %s: %s, %d times", e.Method, e.Path, what, e.Tries)
	}
	return fmt.Sprintf("%s %s: %s; not repeated, since the engine may have carried it out", e.Method, e.Path, what)
}

func (e *CallError) Unwrap() error { return e.Err }

// limit is how long one call may take: 0 for none.
func (t *transport) limit(req *http.Request) time.Duration {
	if t.timeout <= 0 {
		return 0
	}
	path := callPath(req)
	q := req.URL.Query()
	switch {
	case path == "/build", path == "/images/create", path == "/images/load", path == "/events",
		strings.HasPrefix(path, "/images/") && strings.HasSuffix(path, "/get"), path == "/images/get",
		strings.HasPrefix(path, "/containers/") && (strings.HasSuffix(path, "/wait") || strings.HasSuffix(path, "/attach") || strings.HasSuffix(path, "/export")),
		strings.HasPrefix(path, "/exec/") && strings.HasSuffix(path, "/start"):
		return 0
	case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/logs"):
		if f := q.Get("follow"); f == "1" || f == "true" {
			return 0
		}
	case strings.HasPrefix(path, "/containers/") && (strings.HasSuffix(path, "/stop") || strings.HasSuffix(path, "/restart")):
		if s, err := strconv.Atoi(q.Get("t")); err == nil && s >= 0 {
			return t.timeout + time.Duration(s)*time.Second
		}
		return t.timeout + stopGrace
	}
	return t.timeout
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+/`)

// callPath is the request's path without the API version: /containers/x/stop.
func callPath(req *http.Request) string {
	return "/" + strings.TrimPrefix(versionPrefix.ReplaceAllString(req.URL.Path, ""), "/")
}

// safeToRepeat: a read, or a call the engine answers as a no-op when it is
// already done.
func safeToRepeat(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		return true
	case http.MethodPost:
		path := callPath(req)
		if path == "/_ping" {
			return true
		}
		if strings.HasPrefix(path, "/containers/") {
			for _, s := range []string{"/start", "/stop", "/update"} {
				if strings.HasSuffix(path, s) {
					return true
				}
			}
		}
	}
	return false
}

// neverSent: the connection could not be opened, so the engine saw nothing.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// cancelOnClose ends a call's time limit once its body is read and closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

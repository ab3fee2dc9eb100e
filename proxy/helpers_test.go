package proxy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxyUnderTest is one Serve call on loopback.
type proxyUnderTest struct {
	sock   string
	cancel context.CancelFunc
	done   chan error
}

// startProxy runs Serve with a control socket in a short temp dir (unix socket
// paths are limited to ~108 bytes) and waits until it answers.
func startProxy(t testing.TB, stateFile string) *proxyUnderTest {
	t.Helper()
	dir, err := os.MkdirTemp("", "px")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return startProxyAt(t, filepath.Join(dir, "ctl.sock"), stateFile)
}

func startProxyAt(t testing.TB, sock, stateFile string) *proxyUnderTest {
	t.Helper()
	return startProxyWith(t, ServeOptions{StateFile: stateFile, ControlSocket: sock, ListenHost: "127.0.0.1"})
}

func startProxyWith(t testing.TB, o ServeOptions) *proxyUnderTest {
	t.Helper()
	sock := o.ControlSocket
	ctx, cancel := context.WithCancel(context.Background())
	p := &proxyUnderTest{sock: sock, cancel: cancel, done: make(chan error, 1)}
	go func() {
		p.done <- Serve(ctx, o)
	}()
	t.Cleanup(p.stop)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := Ctl(ctx, sock, Request{Op: OpGet}); err == nil {
			return p
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("Serve returned early: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("proxy did not answer on its control socket")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// stop cancels Serve and waits for it; idempotent so tests can stop early.
// A Serve that does not return (a goroutine it waits for never ends) panics
// rather than hanging the whole run.
func (p *proxyUnderTest) stop() {
	p.cancel()
	select {
	case err, ok := <-p.done:
		if !ok {
			return
		}
		close(p.done)
		if err != nil {
			panic("Serve: " + err.Error())
		}
	case <-time.After(10 * time.Second):
		panic("Serve did not return within 10s of its context's end")
	}
}

func (p *proxyUnderTest) apply(t testing.TB, req Request) Response {
	t.Helper()
	req.Op = OpApply
	resp, err := Ctl(context.Background(), p.sock, req)
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	return resp
}

func (p *proxyUnderTest) get(t *testing.T) Response {
	t.Helper()
	resp, err := Ctl(context.Background(), p.sock, Request{Op: OpGet})
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	return resp
}

// waitActive polls until addr has n open connections through the proxy.
func (p *proxyUnderTest) waitActive(t *testing.T, addr string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.get(t).Active[addr] != n {
		if time.Now().After(deadline) {
			t.Fatalf("active[%s] never reached %d: %v", addr, n, p.get(t).Active)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// backend is a tiny server: per connection it reads one line, waits delay,
// answers its name and closes.
type backend struct {
	name     string
	addr     string
	accepted atomic.Int64
	ln       net.Listener
	wg       sync.WaitGroup
}

func startBackend(t testing.TB, name string, delay time.Duration) *backend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &backend{name: name, addr: ln.Addr().String(), ln: ln}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				defer c.Close()
				if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
					return
				}
				time.Sleep(delay)
				io.WriteString(c, name+"\n")
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

// roundTrip sends one line to addr and returns the trimmed answer; a
// connection closed without an answer is an error.
func roundTrip(addr string, timeout time.Duration) (string, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(c, "ping\n"); err != nil {
		return "", err
	}
	c.(*net.TCPConn).CloseWrite()
	b, err := io.ReadAll(c)
	if err != nil {
		return "", err
	}
	if len(b) == 0 {
		return "", errors.New("closed without an answer")
	}
	return strings.TrimSpace(string(b)), nil
}

func route(port int, backends ...Backend) Route {
	return Route{Listen: port, Backends: backends}
}

func serving(b *backend) Backend  { return Backend{Addr: b.addr, State: StateServing} }
func draining(b *backend) Backend { return Backend{Addr: b.addr, State: StateDraining} }

func table(routes ...Route) *Table { return &Table{Routes: routes} }

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

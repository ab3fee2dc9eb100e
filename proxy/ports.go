package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// The launcher (ServePorts) runs on the host's network and holds the
// published ports; the proxy, on its bridge networks, takes copies of those
// listening sockets over a unix socket and accepts on them (see the package
// doc). This file is the launcher and the wire format both sides share.

// PortsOptions configures ServePorts.
type PortsOptions struct {
	Socket string   // unix socket the proxy fetches the listeners from
	Listen []string // "host:port" per published port; host "" is all interfaces
	// Logger receives each bind error once, and the binds; nil discards them.
	Logger *slog.Logger
}

// PortsMessage is the one JSON line the launcher writes on every connection
// to its socket, with the listening sockets of the addresses that have FD
// set attached to the same message (SCM_RIGHTS), in the same order.
type PortsMessage struct {
	Ports []PortState `json:"ports"` // every configured address, in the launcher's order
}

// PortState is one configured address: either FD (its socket is attached)
// or Error (why the launcher does not hold it yet).
type PortState struct {
	Addr  string `json:"addr"` // as configured, e.g. ":80" or "127.0.0.1:8080"
	FD    bool   `json:"fd,omitempty"`
	Error string `json:"error,omitempty"`
}

// Launcher timings: how often a bind that failed is tried again, and how
// often the proxy asks again for addresses it does not hold. A port is busy
// for a moment during a move (the old container still holds it) or while a
// proxy that just lost its launcher still holds the only copy.
const (
	bindRetry  = 250 * time.Millisecond
	fetchRetry = 250 * time.Millisecond
	// maxPortFDs is the kernel's limit on descriptors in one SCM_RIGHTS
	// message (SCM_MAX_FD).
	maxPortFDs = 253
)

// errNotYetBound is what an address reports before its first bind attempt.
const errNotYetBound = "not yet bound"

// launcher is the state of one ServePorts call.
type launcher struct {
	o   PortsOptions
	log *slog.Logger

	mu  sync.Mutex
	lns []*net.TCPListener // per address in o.Listen; nil until bound
	why []string           // per address: the last bind error, while not bound
}

// ServePorts runs the launcher until ctx is done: it binds one TCP listener
// per address of o.Listen (trying a failed bind again every 250 ms) and keeps
// them open, never accepting on them, for its whole life, so that a proxy
// that restarts gets the same sockets again with their accept backlog. Every
// connection to o.Socket gets one PortsMessage and the bound sockets. It
// returns nil when ctx is done, after closing everything and removing the
// socket file, and an error only when it cannot start (an address that does
// not parse, or the socket cannot be created).
func ServePorts(ctx context.Context, o PortsOptions) error {
	if o.Socket == "" {
		return errors.New("ports: no socket")
	}
	if len(o.Listen) == 0 {
		return errors.New("ports: no address to listen on")
	}
	if len(o.Listen) > maxPortFDs {
		return fmt.Errorf("ports: %d addresses, at most %d fit in one message", len(o.Listen), maxPortFDs)
	}
	for _, addr := range o.Listen {
		if _, err := portOf(addr); err != nil {
			return fmt.Errorf("ports: %w", err)
		}
	}
	l := &launcher{o: o, log: o.Logger, lns: make([]*net.TCPListener, len(o.Listen)), why: make([]string, len(o.Listen))}
	if l.log == nil {
		l.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	for i := range l.why {
		l.why[i] = errNotYetBound
	}
	sock, err := listenUnix(o.Socket, "launcher")
	if err != nil {
		return fmt.Errorf("ports: %w", err)
	}
	var wg sync.WaitGroup
	for i := range o.Listen {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.bind(ctx, i)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		l.acceptFetches(ctx, sock)
	}()
	<-ctx.Done()
	sock.Close()
	wg.Wait()
	l.mu.Lock()
	for _, ln := range l.lns {
		if ln != nil {
			ln.Close()
		}
	}
	l.mu.Unlock()
	os.Remove(o.Socket)
	return nil
}

// portOf returns the port of a "host:port" address.
func portOf(addr string) (int, error) {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 1 || port > 65535 {
		return 0, fmt.Errorf("address %q: port %q is not a number from 1 to 65535", addr, p)
	}
	return port, nil
}

// bind binds address i, trying again every bindRetry until it succeeds or
// ctx is done. Plain net.Listen, not SO_REUSEPORT: a second socket on the
// port would take a share of the connections and never accept them.
func (l *launcher) bind(ctx context.Context, i int) {
	addr := l.o.Listen[i]
	last := ""
	for {
		ln, err := net.Listen("tcp", addr)
		l.mu.Lock()
		if err == nil {
			l.lns[i], l.why[i] = ln.(*net.TCPListener), ""
		} else {
			l.why[i] = err.Error()
		}
		l.mu.Unlock()
		if err == nil {
			l.log.Info("bound", "addr", addr)
			return
		}
		if err.Error() != last {
			last = err.Error()
			l.log.Warn("bind, trying again every 250ms", "addr", addr, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(bindRetry):
		}
	}
}

func (l *launcher) acceptFetches(ctx context.Context, sock net.Listener) {
	for {
		c, err := sock.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			l.log.Warn("accept on the socket", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err := l.send(c.(*net.UnixConn)); err != nil {
			l.log.Warn("send the listeners", "err", err)
		}
		c.Close()
	}
}

// send writes one PortsMessage with the bound sockets attached. The copies
// (File dups them) are closed once sent: the receiver has its own by then.
func (l *launcher) send(c *net.UnixConn) error {
	msg, files := l.snapshot()
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	line, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	line = append(line, '\n')
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = syscall.UnixRights(fds...)
	}
	c.SetWriteDeadline(time.Now().Add(controlIOTimeout))
	n, oobn, err := c.WriteMsgUnix(line, oob, nil)
	if err == nil && (n != len(line) || oobn != len(oob)) {
		err = fmt.Errorf("short write: %d of %d bytes, %d of %d control bytes", n, len(line), oobn, len(oob))
	}
	return err
}

// snapshot describes every address and dups the bound sockets, in order.
func (l *launcher) snapshot() (PortsMessage, []*os.File) {
	l.mu.Lock()
	defer l.mu.Unlock()
	msg := PortsMessage{Ports: make([]PortState, len(l.o.Listen))}
	var files []*os.File
	for i, addr := range l.o.Listen {
		msg.Ports[i] = PortState{Addr: addr, Error: l.why[i]}
		if l.lns[i] == nil {
			continue
		}
		f, err := l.lns[i].File()
		if err != nil {
			msg.Ports[i].Error = fmt.Sprintf("dup the listener: %v", err)
			continue
		}
		msg.Ports[i] = PortState{Addr: addr, FD: true}
		files = append(files, f)
	}
	return msg, files
}

// fetchPorts asks the launcher at socket for its listeners: the message, and
// one listener per address with FD set, in order. On error nothing is left
// open.
func fetchPorts(ctx context.Context, socket string) (PortsMessage, []net.Listener, error) {
	var d net.Dialer
	dctx, cancel := context.WithTimeout(ctx, controlIOTimeout)
	defer cancel()
	c, err := d.DialContext(dctx, "unix", socket)
	if err != nil {
		return PortsMessage{}, nil, err
	}
	defer c.Close()
	stop := context.AfterFunc(dctx, func() { c.Close() })
	defer stop()
	msg, files, err := readPorts(c.(*net.UnixConn))
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if err != nil {
		return PortsMessage{}, nil, err
	}
	var lns []net.Listener
	for _, f := range files {
		ln, err := net.FileListener(f)
		if err != nil {
			closeListeners(lns)
			return PortsMessage{}, nil, fmt.Errorf("listener from a received descriptor: %w", err)
		}
		lns = append(lns, ln)
	}
	return msg, lns, nil
}

func closeListeners(lns []net.Listener) {
	for _, ln := range lns {
		ln.Close()
	}
}

// readPorts reads the message's line and the descriptors attached to its
// first bytes. The descriptors are returned as files (to close) even with an
// error, so none leaks.
func readPorts(c *net.UnixConn) (PortsMessage, []*os.File, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, syscall.CmsgSpace(4*maxPortFDs))
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		return PortsMessage{}, nil, fmt.Errorf("read: %w", err)
	}
	files, err := parseRights(oob[:oobn])
	if err == nil && flags&syscall.MSG_CTRUNC != 0 {
		err = errors.New("descriptors truncated")
	}
	if err != nil {
		return PortsMessage{}, files, err
	}
	// A stream socket may split the line; the descriptors came with its
	// first byte.
	line := append([]byte(nil), buf[:n]...)
	for !bytes.Contains(line, []byte("\n")) {
		m, err := c.Read(buf)
		if err != nil {
			return PortsMessage{}, files, fmt.Errorf("read: %w", err)
		}
		line = append(line, buf[:m]...)
	}
	var msg PortsMessage
	if err := json.Unmarshal(line, &msg); err != nil {
		return PortsMessage{}, files, fmt.Errorf("decode: %w", err)
	}
	want := 0
	for _, p := range msg.Ports {
		if p.FD {
			want++
		}
	}
	if want != len(files) {
		return PortsMessage{}, files, fmt.Errorf("%d addresses with a descriptor, %d descriptors", want, len(files))
	}
	return msg, files, nil
}

func parseRights(oob []byte) ([]*os.File, error) {
	cmsgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return nil, fmt.Errorf("control message: %w", err)
	}
	var files []*os.File
	for _, m := range cmsgs {
		fds, err := syscall.ParseUnixRights(&m)
		if err != nil {
			continue // not SCM_RIGHTS
		}
		for _, fd := range fds {
			files = append(files, os.NewFile(uintptr(fd), "listener"))
		}
	}
	return files, nil
}

package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/drover/drover/engine"
	"github.com/drover/drover/lease"
)

// takeLease takes the project's lease on the engine, so that two runs never
// interleave their changes to one project, from one machine or from two. A
// stale lease, or one whose holder exited on this machine (localLock), is
// broken with a warning; a held one refuses the run. The lease is renewed
// until release is called; a run that finds its lease gone stops at once
// (exit 1), as if killed, which every command survives.
func (a *app) takeLease(ctx context.Context, d *engine.Docker, project string) (release func(), err error) {
	ttl, err := lease.ParseTTL(os.Getenv("DROVER_LEASE_TTL"))
	if err != nil {
		return nil, err
	}
	st := d.Leases()
	local := lockLocal(d.Host(), project)
	exitedID, exitedPID := local.recorded()
	// Written before asking: a run killed after its create reached the
	// engine, but before it heard back, is known by its pid.
	local.record("-")
	taken, err := lease.Acquire(ctx, st, lease.Request{Project: project, Holder: holder(), TTL: ttl, ExitedHere: exitedID, ExitedPID: exitedPID})
	if err != nil {
		local.close()
		var he *lease.HeldError
		if errors.As(err, &he) {
			return nil, held{err}
		}
		return nil, err
	}
	local.record(taken.ID)
	for _, b := range taken.Broken {
		fmt.Fprintf(a.stderr, "warning: %s\n", lease.BrokeMessage(b.Lease, b.Now, b.Why))
	}
	warned := false
	k := lease.Keep(context.WithoutCancel(ctx), st, taken,
		func() {
			fmt.Fprintf(a.stderr, "\ndrover: %s\n", lease.LostMessage(project))
			os.Exit(1)
		},
		func(err error) {
			if !warned {
				warned = true
				fmt.Fprintf(a.stderr, "warning: %v (trying again every %s)\n", err, lease.RenewEvery(ttl))
			}
		})
	return func() {
		// Ctrl-C has cancelled ctx by now, maybe: the release must happen
		// anyway.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := k.Release(rctx); err != nil {
			fmt.Fprintf(a.stderr, "warning: %v; it expires by itself %s after its last renewal\n", err, ttl)
		}
		local.close() // after the release: see localLock
	}, nil
}

// localLock is the fast local path beside the engine lease: a flock on a
// file under the user's runtime directory, keyed by engine and project. The
// run holding it writes there the ID of the engine lease it took, and holds
// the flock as long as it lives (the kernel drops it even on kill -9). So a
// run that gets the flock and finds the ID of the lease still on the engine
// knows that the run which took it, on this machine, has exited: it breaks
// that lease at once instead of waiting for it to expire. Best effort: a
// run that cannot get the flock (another run here holds it, or no runtime
// directory) goes by the engine lease alone, which decides either way. A
// nil *localLock is a lock not taken.
type localLock struct{ f *os.File }

func lockLocal(engineHost, project string) *localLock {
	dir := os.Getenv("XDG_RUNTIME_DIR")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), fmt.Sprintf("drover-%d", os.Getuid()))
	} else {
		dir = filepath.Join(dir, "drover")
	}
	if os.MkdirAll(dir, 0o700) != nil {
		return nil
	}
	sum := sha256.Sum256([]byte(engineHost + "\x00" + project))
	f, err := os.OpenFile(filepath.Join(dir, hex.EncodeToString(sum[:8])+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		f.Close()
		return nil
	}
	return &localLock{f: f}
}

// recorded is what the previous holder of the flock wrote: the engine
// lease ID it held ("" when it had not learnt one) and its pid. Holding the
// flock proves that holder has exited.
func (l *localLock) recorded() (id string, pid int) {
	if l == nil {
		return "", 0
	}
	b := make([]byte, 256)
	n, _ := l.f.ReadAt(b, 0)
	fields := strings.Fields(string(b[:n]))
	if len(fields) > 0 && fields[0] != "-" {
		id = fields[0]
	}
	if len(fields) > 1 {
		pid, _ = strconv.Atoi(fields[1])
	}
	return id, pid
}

// record writes the engine lease ID this run holds, and its pid.
func (l *localLock) record(id string) {
	if l == nil {
		return
	}
	_ = l.f.Truncate(0)
	_, _ = l.f.WriteAt([]byte(fmt.Sprintf("%s %d\n", id, os.Getpid())), 0)
}

func (l *localLock) close() {
	if l != nil {
		l.f.Close()
	}
}

// holder is this run, as the lease names it.
func holder() lease.Holder {
	h := lease.Holder{PID: os.Getpid(), Command: commandLine()}
	h.Host, _ = os.Hostname()
	if u, err := user.Current(); err == nil {
		h.User = u.Username
	} else {
		h.User = os.Getenv("USER")
	}
	return h
}

// commandLine is drover's command line, shortened to fit a label readably.
func commandLine() string {
	s := strings.Join(append([]string{"drover"}, os.Args[1:]...), " ")
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}

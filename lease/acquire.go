package lease

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrTaken is what Store.Create returns when the name is held; ErrGone is
// what the other methods return when no lease object (of that ID, or of
// that project) exists.
var (
	ErrTaken = errors.New("lease taken")
	ErrGone  = errors.New("lease gone")
)

// Store is the engine side of the lease, implemented in engine/lease.go.
// Create must be atomic on the name: of two creates at once, one gets
// ErrTaken.
type Store interface {
	// Create makes the project's lease object; ErrTaken when one exists.
	Create(ctx context.Context, project string, labels map[string]string) (id string, err error)
	// Inspect reads the project's lease object; ErrGone when there is none.
	Inspect(ctx context.Context, project string) (Lease, error)
	// Now is the engine's clock.
	Now(ctx context.Context) (time.Time, error)
	// Renew records the heartbeat on the object of that ID; ErrGone when
	// it no longer exists.
	Renew(ctx context.Context, id string, renewed time.Duration) error
	// Remove removes the object of that ID; ErrGone when it no longer
	// exists.
	Remove(ctx context.Context, id string) error
}

// Taken is a lease this run holds.
type Taken struct {
	ID      string
	Project string
	TTL     time.Duration
	// Base is when this run asked for the lease, on its monotonic clock:
	// the heartbeat is the time since.
	Base time.Time
	// Broken are the stale leases this run broke to get it.
	Broken []Broken
}

// Broken is a lease a run removed, why, and the engine's clock when it was
// judged breakable.
type Broken struct {
	Lease Lease
	Now   time.Time
	Why   Reason
}

// Request is what a run asks Acquire for.
type Request struct {
	Project string
	Holder  Holder
	TTL     time.Duration
	// ExitedHere is the ID of a lease whose holder, on this machine, is
	// known to have exited, or "" (see Breakable).
	ExitedHere string
	// ExitedPID is the pid of a run on this machine (Holder.Host) that
	// asked for the lease and has exited, or 0: it may have died after its
	// create reached the engine but before it learnt the lease's ID.
	ExitedPID int
}

// maxAttempts bounds Acquire's loop: each turn either takes the lease, is
// refused, or saw the lease in transit between two calls: released, broken
// by another run, or still being created (the engine reserves the name
// before the container can be read by it, so a create can be refused on a
// name that an inspect does not find yet). After a turn that saw it in
// transit, the next one waits a little: 20ms, doubling, at most a second,
// about four seconds in all.
const maxAttempts = 10

func backoff(turn int) time.Duration { return min(20*time.Millisecond<<turn, time.Second) }

// Acquire takes the project's lease for the request's holder. A lease held
// and not breakable is a *HeldError; a breakable one is removed (by its ID,
// so that of two runs breaking it at once, only one does) and the run tries
// again.
func Acquire(ctx context.Context, st Store, r Request) (Taken, error) {
	t := Taken{Project: r.Project, TTL: r.TTL}
	for turn := range maxAttempts {
		if turn > 0 {
			select {
			case <-ctx.Done():
				return Taken{}, ctx.Err()
			case <-time.After(backoff(turn - 1)):
			}
		}
		t.Base = time.Now()
		id, err := st.Create(ctx, r.Project, Labels(r.Project, r.Holder, r.TTL, t.Base))
		if err == nil {
			t.ID = id
			return t, nil
		}
		if !errors.Is(err, ErrTaken) {
			return Taken{}, fmt.Errorf("taking the lease of project %q: %w", r.Project, err)
		}
		cur, err := st.Inspect(ctx, r.Project)
		if errors.Is(err, ErrGone) {
			continue // released, or not yet readable: in transit
		}
		if err != nil {
			return Taken{}, fmt.Errorf("reading the lease of project %q: %w", r.Project, err)
		}
		now, err := st.Now(ctx)
		if err != nil {
			return Taken{}, fmt.Errorf("reading the engine's clock: %w", err)
		}
		why := Breakable(cur, now, r.ExitedHere)
		if why == NotBreakable && r.ExitedPID != 0 && cur.Holder.PID == r.ExitedPID && cur.Holder.Host == r.Holder.Host {
			why = Exited
		}
		if why == NotBreakable {
			return Taken{}, &HeldError{Lease: cur, Now: now}
		}
		switch err := st.Remove(ctx, cur.ID); {
		case err == nil:
			t.Broken = append(t.Broken, Broken{Lease: cur, Now: now, Why: why})
		case errors.Is(err, ErrGone):
			// Released, or broken by another run: try again.
		default:
			return Taken{}, fmt.Errorf("breaking the lease of project %q: %w", r.Project, err)
		}
	}
	return Taken{}, fmt.Errorf("the lease of project %q was being taken, released or broken by other runs all the while this run asked for it (%d tries); run the command again", r.Project, maxAttempts)
}

// Keeper renews a lease while its run works.
type Keeper struct {
	ctx    context.Context
	st     Store
	t      Taken
	stop   chan struct{}
	done   chan struct{}
	once   sync.Once
	onLost func()
	onFail func(error)
}

// Keep renews t every RenewEvery(t.TTL) until Release, with calls made in
// ctx (pass one that Ctrl-C does not cancel: the lease must outlive the
// steps that finish after it). When a renewal finds
// the lease gone (drover unlock, or broken as stale while this run could
// not renew it), it stops renewing and calls onLost: the run must stop
// changing the project. A renewal that fails otherwise (the engine did not
// answer) calls onFail and is tried again at the next period; the lease
// survives two such failures in a row.
func Keep(ctx context.Context, st Store, t Taken, onLost func(), onFail func(error)) *Keeper {
	k := &Keeper{ctx: ctx, st: st, t: t, stop: make(chan struct{}), done: make(chan struct{}), onLost: onLost, onFail: onFail}
	go k.loop()
	return k
}

func (k *Keeper) loop() {
	defer close(k.done)
	every := RenewEvery(k.t.TTL)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(k.ctx, every)
		err := k.st.Renew(ctx, k.t.ID, time.Since(k.t.Base))
		cancel()
		select {
		case <-k.stop:
			return // released meanwhile: whatever the renewal found is moot
		default:
		}
		switch {
		case errors.Is(err, ErrGone):
			k.onLost()
			return
		case err != nil:
			k.onFail(err)
		}
	}
}

// Release stops the renewals and removes the lease. A lease already gone
// is no error: it is released either way.
func (k *Keeper) Release(ctx context.Context) error {
	k.once.Do(func() { close(k.stop) })
	<-k.done
	err := k.st.Remove(ctx, k.t.ID)
	if err != nil && !errors.Is(err, ErrGone) {
		return fmt.Errorf("releasing the lease of project %q: %w", k.t.Project, err)
	}
	return nil
}

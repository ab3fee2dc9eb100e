// Package lease decides about the per-project lease that keeps two drover
// runs from changing one project at once, from one machine or from two: who
// holds it, whether it has expired, and what to say about it. The lease
// itself lives on the engine (see engine/lease.go); this package makes no
// engine calls except through the Store that Acquire and Keep are given.
package lease

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Labels of the lease object. None of them is a Compose label, so the
// object is never part of the project: ps, orphans, down and docker compose
// ps do not see it.
const (
	LabelProject = "io.drover.lease"         // the project the lease is for
	LabelHost    = "io.drover.lease.host"    // the holder's host name
	LabelUser    = "io.drover.lease.user"    // the holder's user
	LabelPID     = "io.drover.lease.pid"     // the holder's process ID
	LabelCommand = "io.drover.lease.command" // the holder's command line
	LabelStarted = "io.drover.lease.started" // when the holder asked, by its own clock (RFC 3339)
	LabelTTL     = "io.drover.lease.ttl"     // how long the lease lasts after each renewal
)

// DefaultTTL is how long a lease lasts after its last renewal unless
// DROVER_LEASE_TTL says otherwise; MinTTL is the shortest accepted.
const (
	DefaultTTL = 30 * time.Second
	MinTTL     = time.Second
)

// Name is the lease object's name for a project. The engine refuses a
// second object of that name, which is what makes taking the lease atomic.
// Compose names containers project-service-N, so a Compose container never
// has this name (short of an explicit container_name).
func Name(project string) string { return "drover-lease-" + project }

// Holder is the run that takes a lease.
type Holder struct {
	Host    string
	User    string
	PID     int
	Command string
}

// Lease is a lease as found on the engine.
type Lease struct {
	// ID is the object's ID. A lease is renewed and removed by ID, never by
	// name, so that a run can only ever renew or break the very lease it
	// looked at, not one taken since under the same name.
	ID      string
	Project string
	Holder  Holder
	Started time.Time     // when the holder asked, by the holder's clock
	TTL     time.Duration // how long the lease lasts after its last renewal
	// Created is when the engine created the object, by the engine's clock.
	Created time.Time
	// Renewed is the heartbeat: at its last renewal, how long the holder
	// had held the lease (measured from just before it asked, on its own
	// monotonic clock). Created+Renewed is thus the last renewal on the
	// engine's clock, and no two machines' clocks are ever compared.
	Renewed time.Duration
}

// RenewedAt is the lease's last renewal, on the engine's clock.
func (l Lease) RenewedAt() time.Time { return l.Created.Add(l.Renewed) }

// ExpiresAt is when the lease expires unless renewed, on the engine's clock.
func (l Lease) ExpiresAt() time.Time { return l.RenewedAt().Add(l.TTL) }

// Expired says whether the lease is stale at now (the engine's clock): its
// holder has not renewed it for a whole TTL, that is for three renewal
// periods in a row. A lease still being renewed never expires.
func (l Lease) Expired(now time.Time) bool { return now.After(l.ExpiresAt()) }

// Reason says why a lease may be broken.
type Reason int

const (
	NotBreakable Reason = iota // held, and renewed: never broken
	Stale                      // not renewed for a whole TTL
	Exited                     // its holder ran on this machine and has exited
)

// Breakable says whether a run may break lease l at now (the engine's
// clock), and why. exitedHere is the ID of a lease that a run on this
// machine took and that that run can no longer hold (it has exited: see
// cmd/drover/lock.go), or "". The ID comparison is what makes this safe: a
// lease taken since by anyone else has another ID.
func Breakable(l Lease, now time.Time, exitedHere string) Reason {
	switch {
	case exitedHere != "" && l.ID == exitedHere:
		return Exited
	case l.Expired(now):
		return Stale
	}
	return NotBreakable
}

// RenewEvery is the renewal period for a TTL: three renewals can be missed
// (a slow engine, a pause) before the lease expires.
func RenewEvery(ttl time.Duration) time.Duration { return ttl / 3 }

// ParseTTL reads DROVER_LEASE_TTL: empty means DefaultTTL; otherwise a Go
// duration ("30s", "2m") of at least MinTTL.
func ParseTTL(s string) (time.Duration, error) {
	if s == "" {
		return DefaultTTL, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("DROVER_LEASE_TTL=%q: expected a duration such as 30s or 2m", s)
	}
	if d < MinTTL {
		return 0, fmt.Errorf("DROVER_LEASE_TTL=%q: the lease must last at least %s", s, MinTTL)
	}
	return d, nil
}

// Labels are the labels of the lease object a holder creates.
func Labels(project string, h Holder, ttl time.Duration, started time.Time) map[string]string {
	return map[string]string{
		LabelProject: project,
		LabelHost:    h.Host,
		LabelUser:    h.User,
		LabelPID:     strconv.Itoa(h.PID),
		LabelCommand: h.Command,
		LabelStarted: started.UTC().Format(time.RFC3339),
		LabelTTL:     ttl.String(),
	}
}

// FromLabels reads a lease object's labels back. An object without the
// lease label, or for another project, is not a lease: something else took
// the name, and drover must not remove it.
func FromLabels(project string, labels map[string]string) (Lease, error) {
	if labels[LabelProject] != project {
		return Lease{}, fmt.Errorf("a container named %s exists but is not drover's lease for project %q (no %s=%s label); rename or remove it", Name(project), project, LabelProject, project)
	}
	l := Lease{Project: project, Holder: Holder{
		Host: labels[LabelHost], User: labels[LabelUser], Command: labels[LabelCommand],
	}}
	l.Holder.PID, _ = strconv.Atoi(labels[LabelPID])
	l.Started, _ = time.Parse(time.RFC3339, labels[LabelStarted])
	ttl, err := time.ParseDuration(labels[LabelTTL])
	if err != nil || ttl <= 0 {
		// A lease whose expiry cannot be read still expires, after the
		// default: never for ever.
		ttl = DefaultTTL
	}
	l.TTL = ttl
	return l, nil
}

// Who names a lease's holder: host, user, pid and command.
func (h Holder) Who() string {
	return fmt.Sprintf("host %s, user %s, pid %d, command %q", orUnknown(h.Host), orUnknown(h.User), h.PID, h.Command)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// Describe is a lease in one sentence, as of now (the engine's clock).
func Describe(l Lease, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "held by %s, since %s (%s ago)", l.Holder.Who(),
		l.Created.UTC().Format("2006-01-02 15:04:05 UTC"), ago(now.Sub(l.Created)))
	if l.Renewed == 0 {
		b.WriteString("; never renewed")
	} else {
		fmt.Fprintf(&b, "; last renewed %s ago", ago(now.Sub(l.RenewedAt())))
	}
	if l.Expired(now) {
		fmt.Fprintf(&b, ", so it expired %s ago (it lasts %s after each renewal)", ago(now.Sub(l.ExpiresAt())), l.TTL)
	} else {
		fmt.Fprintf(&b, ", it expires in %s unless renewed", ago(l.ExpiresAt().Sub(now)))
	}
	return b.String()
}

// ago rounds a duration for a person: tenths of a second under ten
// seconds, whole seconds above.
func ago(d time.Duration) time.Duration {
	if d < 0 {
		d = 0
	}
	if d < 10*time.Second {
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(time.Second)
}

// HeldError is the refusal of a run that finds the project's lease held and
// not expired.
type HeldError struct {
	Lease Lease
	Now   time.Time // the engine's clock when the lease was read
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("project %q is being changed by another drover run: the lease is %s.\n"+
		"Wait for that run to finish and run this command again. If that run is gone (its machine or runner vanished), "+
		"the lease expires by itself %s after its last renewal; if you know it is gone, remove the lease now with: drover unlock -p %s",
		e.Lease.Project, Describe(e.Lease, e.Now), e.Lease.TTL, e.Lease.Project)
}

// BrokeMessage says that a run broke a lease, whose, and why.
func BrokeMessage(l Lease, now time.Time, why Reason) string {
	if why == Exited {
		return fmt.Sprintf("broke the lease on project %q left by a run on this machine that has exited without releasing it (killed?): it was %s",
			l.Project, Describe(l, now))
	}
	return fmt.Sprintf("broke a stale lease on project %q: it was %s; that run stopped renewing it (killed, or cut off from the engine)",
		l.Project, Describe(l, now))
}

// LostMessage is what a run says when it finds, while it works, that its
// lease was removed (drover unlock, or broken as stale by another run).
func LostMessage(project string) string {
	return fmt.Sprintf("this run lost its lease on project %q (removed with drover unlock, or broken as stale by another run while this one could not renew it); "+
		"it stops at once so that two runs never interleave. The project is left as after a kill: run the command again to finish, or drover up --rollback to go back", project)
}

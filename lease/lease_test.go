package lease

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func someLease() Lease {
	return Lease{
		ID: "abc", Project: "web",
		Holder:  Holder{Host: "ci-2", User: "deploy", PID: 4242, Command: "drover up --upgrade"},
		TTL:     30 * time.Second,
		Created: t0,
		Renewed: 20 * time.Second,
	}
}

func TestExpired(t *testing.T) {
	l := someLease() // renewed at t0+20s, expires at t0+50s
	for _, tc := range []struct {
		name    string
		now     time.Time
		expired bool
	}{
		{"just taken", t0, false},
		{"renewed a moment ago", t0.Add(21 * time.Second), false},
		{"at the expiry itself", t0.Add(50 * time.Second), false},
		{"a millisecond after", t0.Add(50*time.Second + time.Millisecond), true},
		{"long after", t0.Add(time.Hour), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := l.Expired(tc.now); got != tc.expired {
				t.Errorf("Expired(%s) = %v, want %v", tc.now.Sub(t0), got, tc.expired)
			}
		})
	}
}

func TestBreakable(t *testing.T) {
	l := someLease() // expires at t0+50s
	for _, tc := range []struct {
		name       string
		now        time.Time
		exitedHere string
		want       Reason
	}{
		{"renewed, holder elsewhere", t0.Add(30 * time.Second), "", NotBreakable},
		{"renewed, another lease's holder exited here", t0.Add(30 * time.Second), "older", NotBreakable},
		{"renewed, but its holder exited here", t0.Add(30 * time.Second), "abc", Exited},
		{"expired", t0.Add(time.Minute), "", Stale},
		{"expired and exited here", t0.Add(time.Minute), "abc", Exited},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Breakable(l, tc.now, tc.exitedHere); got != tc.want {
				t.Errorf("Breakable = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestParseTTL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"", DefaultTTL, ""},
		{"3s", 3 * time.Second, ""},
		{"2m", 2 * time.Minute, ""},
		{"500ms", 0, "at least 1s"},
		{"30", 0, "expected a duration"},
	} {
		t.Run(fmt.Sprintf("%q", tc.in), func(t *testing.T) {
			got, err := ParseTTL(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseTTL(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseTTL(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestLabelsRoundTrip(t *testing.T) {
	h := Holder{Host: "ci-2", User: "deploy", PID: 4242, Command: "drover up --upgrade"}
	labels := Labels("web", h, 7*time.Second, t0)
	for k := range labels {
		if strings.HasPrefix(k, "com.docker.compose") {
			t.Errorf("lease label %s is a Compose label: the lease would be part of the project", k)
		}
	}
	got, err := FromLabels("web", labels)
	if err != nil {
		t.Fatal(err)
	}
	if got.Holder != h || got.TTL != 7*time.Second || !got.Started.Equal(t0) || got.Project != "web" {
		t.Errorf("FromLabels(Labels(...)) = %+v", got)
	}
}

func TestFromLabelsRefusesOtherContainers(t *testing.T) {
	for _, tc := range []struct {
		name   string
		labels map[string]string
	}{
		{"no labels", nil},
		{"another project's lease", map[string]string{LabelProject: "api"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := FromLabels("web", tc.labels); err == nil || !strings.Contains(err.Error(), "not drover's lease") {
				t.Errorf("FromLabels = %v, want a refusal", err)
			}
		})
	}
}

func TestFromLabelsUnreadableTTLStillExpires(t *testing.T) {
	l, err := FromLabels("web", map[string]string{LabelProject: "web", LabelTTL: "forever"})
	if err != nil {
		t.Fatal(err)
	}
	if l.TTL != DefaultTTL {
		t.Errorf("TTL = %v, want the default %v", l.TTL, DefaultTTL)
	}
}

func TestMessages(t *testing.T) {
	l := someLease()
	held := (&HeldError{Lease: l, Now: t0.Add(23 * time.Second)}).Error()
	for _, want := range []string{
		`project "web"`, "host ci-2", "user deploy", "pid 4242", `"drover up --upgrade"`,
		"since 2026-11-25 10:00:00 UTC (23s ago)", "last renewed 3s ago", "expires in 27s",
		"drover unlock -p web",
	} {
		if !strings.Contains(held, want) {
			t.Errorf("held message lacks %q:\n%s", want, held)
		}
	}
	broke := BrokeMessage(l, t0.Add(65*time.Second), Stale)
	for _, want := range []string{"broke a stale lease", "pid 4242", "last renewed 45s ago", "expired 15s ago"} {
		if !strings.Contains(broke, want) {
			t.Errorf("broke message lacks %q:\n%s", want, broke)
		}
	}
}

// fakeStore is a Store in memory, with the engine's clock set by the test
// and hooks to play another run between two calls.
type fakeStore struct {
	mu        sync.Mutex
	now       time.Time
	byName    map[string]Lease
	nextID    int
	renewals  []time.Duration
	onInspect func() // runs after Inspect read the lease, before it returns
	hideFor   *int   // when set, that many Inspects more find nothing
	removed   []string
}

func newFakeStore() *fakeStore { return &fakeStore{now: t0, byName: map[string]Lease{}} }

func (f *fakeStore) Create(_ context.Context, project string, labels map[string]string) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.byName[project]; ok {
		return "", ErrTaken
	}
	l, err := FromLabels(project, labels)
	if err != nil {
		return "", err
	}
	f.nextID++
	l.ID, l.Created = fmt.Sprintf("id%d", f.nextID), f.now
	f.byName[project] = l
	return l.ID, nil
}

func (f *fakeStore) Inspect(_ context.Context, project string) (Lease, error) {
	f.mu.Lock()
	l, ok := f.byName[project]
	if f.hideFor != nil && *f.hideFor > 0 {
		*f.hideFor--
		ok = false
	}
	f.mu.Unlock()
	if !ok {
		return Lease{}, ErrGone
	}
	if f.onInspect != nil {
		f.onInspect()
	}
	return l, nil
}

func (f *fakeStore) Now(context.Context) (time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now, nil
}

func (f *fakeStore) find(id string) (string, bool) {
	for name, l := range f.byName {
		if l.ID == id {
			return name, true
		}
	}
	return "", false
}

func (f *fakeStore) Renew(_ context.Context, id string, renewed time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, ok := f.find(id)
	if !ok {
		return ErrGone
	}
	l := f.byName[name]
	l.Renewed = renewed
	f.byName[name] = l
	f.renewals = append(f.renewals, renewed)
	return nil
}

func (f *fakeStore) Remove(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	name, ok := f.find(id)
	if !ok {
		return ErrGone
	}
	delete(f.byName, name)
	f.removed = append(f.removed, id)
	return nil
}

var (
	alice = Holder{Host: "ci-1", User: "deploy", PID: 11, Command: "drover up --upgrade"}
	bob   = Holder{Host: "ci-2", User: "deploy", PID: 22, Command: "drover up --upgrade"}
)

func TestAcquire(t *testing.T) {
	ctx := context.Background()
	ttl := 30 * time.Second
	t.Run("free: taken, nothing broken", func(t *testing.T) {
		st := newFakeStore()
		got, err := Acquire(ctx, st, Request{Project: "web", Holder: alice, TTL: ttl})
		if err != nil || got.ID != "id1" || len(got.Broken) != 0 {
			t.Fatalf("Acquire = %+v, %v", got, err)
		}
	})
	t.Run("held and renewed: refused, naming the holder", func(t *testing.T) {
		st := newFakeStore()
		mustAcquire(t, st, alice, ttl)
		st.now = t0.Add(29 * time.Second)
		_, err := Acquire(ctx, st, Request{Project: "web", Holder: bob, TTL: ttl})
		var held *HeldError
		if !errors.As(err, &held) || held.Lease.Holder != alice {
			t.Fatalf("Acquire = %v, want a HeldError naming alice", err)
		}
		if len(st.removed) != 0 {
			t.Errorf("removed %v: a lease being renewed was broken", st.removed)
		}
	})
	t.Run("stale: broken, taken, reported", func(t *testing.T) {
		st := newFakeStore()
		mustAcquire(t, st, alice, ttl)
		st.now = t0.Add(31 * time.Second)
		got, err := Acquire(ctx, st, Request{Project: "web", Holder: bob, TTL: ttl})
		if err != nil || got.ID != "id2" || len(got.Broken) != 1 || got.Broken[0].Lease.Holder != alice {
			t.Fatalf("Acquire = %+v, %v; want id2 with alice's lease broken", got, err)
		}
	})
	t.Run("holder exited on this machine: broken at once, said so", func(t *testing.T) {
		st := newFakeStore()
		first := mustAcquire(t, st, alice, ttl)
		st.now = t0.Add(time.Second)
		got, err := Acquire(ctx, st, Request{Project: "web", Holder: bob, TTL: ttl, ExitedHere: first.ID})
		if err != nil || len(got.Broken) != 1 || got.Broken[0].Why != Exited {
			t.Fatalf("Acquire = %+v, %v; want alice's lease broken as exited", got, err)
		}
		if msg := BrokeMessage(got.Broken[0].Lease, got.Broken[0].Now, Exited); !strings.Contains(msg, "has exited") || !strings.Contains(msg, "pid 11") {
			t.Errorf("message: %s", msg)
		}
	})
	t.Run("holder on this machine died before it learnt the lease's ID: known by its pid", func(t *testing.T) {
		st := newFakeStore()
		mustAcquire(t, st, alice, ttl)
		st.now = t0.Add(time.Second)
		same := bob
		same.Host = alice.Host
		got, err := Acquire(ctx, st, Request{Project: "web", Holder: same, TTL: ttl, ExitedPID: alice.PID})
		if err != nil || len(got.Broken) != 1 || got.Broken[0].Why != Exited {
			t.Fatalf("Acquire = %+v, %v; want alice's lease broken as exited", got, err)
		}
		// The same pid on another machine is another run: refused.
		st2 := newFakeStore()
		mustAcquire(t, st2, alice, ttl)
		other := bob
		other.Host = "elsewhere"
		if _, err := Acquire(ctx, st2, Request{Project: "web", Holder: other, TTL: ttl, ExitedPID: alice.PID}); err == nil {
			t.Fatalf("a pid from another machine broke a live lease")
		}
	})
	t.Run("still being created: its name is taken before it can be read; refused once it can", func(t *testing.T) {
		st := newFakeStore()
		mustAcquire(t, st, alice, ttl)
		hidden := 3 // the engine has reserved the name, the container is not registered yet
		st.hideFor = &hidden
		_, err := Acquire(ctx, st, Request{Project: "web", Holder: bob, TTL: ttl})
		var held *HeldError
		if !errors.As(err, &held) || held.Lease.Holder != alice {
			t.Fatalf("Acquire = %v, want a HeldError naming alice", err)
		}
	})
	t.Run("in transit for ever: gives up, says so", func(t *testing.T) {
		st := newFakeStore()
		mustAcquire(t, st, alice, ttl)
		hidden := 1 << 30
		st.hideFor = &hidden
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := Acquire(ctx, st, Request{Project: "web", Holder: bob, TTL: ttl}); err == nil || !strings.Contains(err.Error(), "run the command again") {
			t.Fatalf("Acquire = %v, want a give-up", err)
		}
	})
	t.Run("released between create and inspect: taken on the next turn", func(t *testing.T) {
		st := newFakeStore()
		first := mustAcquire(t, st, alice, ttl)
		st.onInspect = func() { _ = st.Remove(ctx, first.ID); st.onInspect = nil }
		// The first Inspect still returns alice's lease (read before the
		// release), not expired: bob is refused. That is right: he saw it
		// held.
		if _, err := Acquire(ctx, st, Request{Project: "web", Holder: bob, TTL: ttl}); !errors.As(err, new(*HeldError)) {
			t.Fatalf("Acquire = %v, want held", err)
		}
		if got, err := Acquire(ctx, st, Request{Project: "web", Holder: bob, TTL: ttl}); err != nil || len(got.Broken) != 0 {
			t.Fatalf("Acquire after the release = %+v, %v", got, err)
		}
	})
	t.Run("two runs break one stale lease at once: one breaks it, the other is refused by the winner", func(t *testing.T) {
		st := newFakeStore()
		mustAcquire(t, st, alice, ttl)
		st.now = t0.Add(time.Minute)
		// carol reads alice's stale lease; before she removes it, bob
		// breaks it and takes the project.
		st.onInspect = func() {
			st.onInspect = nil
			if _, err := Acquire(ctx, st, Request{Project: "web", Holder: bob, TTL: ttl}); err != nil {
				t.Errorf("bob: %v", err)
			}
		}
		carol := Holder{Host: "ci-3", PID: 33}
		_, err := Acquire(ctx, st, Request{Project: "web", Holder: carol, TTL: ttl})
		var held *HeldError
		if !errors.As(err, &held) || held.Lease.Holder != bob {
			t.Fatalf("carol: %v, want refused by bob's fresh lease", err)
		}
		if len(st.removed) != 1 {
			t.Errorf("removed %v: only alice's stale lease should go", st.removed)
		}
	})
}

func mustAcquire(t *testing.T, st Store, h Holder, ttl time.Duration) Taken {
	t.Helper()
	got, err := Acquire(context.Background(), st, Request{Project: "web", Holder: h, TTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestKeepRenewsThenReleases(t *testing.T) {
	st := newFakeStore()
	taken := mustAcquire(t, st, alice, 30*time.Millisecond*3) // renewed every 30ms
	k := Keep(context.Background(), st, taken, func() { t.Error("lost a lease nobody removed") }, func(err error) { t.Error(err) })
	time.Sleep(200 * time.Millisecond)
	if err := k.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.renewals) < 3 {
		t.Errorf("%d renewals in 200ms at one per 30ms, want at least 3", len(st.renewals))
	}
	for i := 1; i < len(st.renewals); i++ {
		if st.renewals[i] <= st.renewals[i-1] {
			t.Errorf("heartbeat went back: %v", st.renewals)
		}
	}
	if len(st.byName) != 0 {
		t.Errorf("lease still there after Release: %v", st.byName)
	}
}

func TestKeepReportsALostLease(t *testing.T) {
	st := newFakeStore()
	taken := mustAcquire(t, st, alice, 90*time.Millisecond)
	lost := make(chan struct{})
	k := Keep(context.Background(), st, taken, func() { close(lost) }, func(err error) { t.Error(err) })
	_ = st.Remove(context.Background(), taken.ID) // drover unlock
	select {
	case <-lost:
	case <-time.After(2 * time.Second):
		t.Fatal("the keeper did not notice that its lease was removed")
	}
	if err := k.Release(context.Background()); err != nil {
		t.Errorf("Release of a lost lease: %v, want nil", err)
	}
}

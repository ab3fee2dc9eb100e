package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"
)

// Event is one step's progress, as Apply reports it.
type Event struct {
	Time     time.Time     `json:"time"`
	Service  string        `json:"service,omitempty"`
	Target   string        `json:"target"`
	Action   string        `json:"action"`
	Phase    Phase         `json:"phase"`
	Reason   string        `json:"reason,omitempty"`
	Duration time.Duration `json:"duration_ns,omitempty"`
	Error    string        `json:"error,omitempty"`
	// Progress is set on the progress events of a pull or push.
	Progress *Progress `json:"progress,omitempty"`
	// Note, on a step's done event, is what the user should know of how it
	// went: a proxy switch whose drain timed out says on which backends.
	Note string `json:"note,omitempty"`
}

// Phase is where a step is.
type Phase string

const (
	Begun Phase = "begun"
	// Underway is a progress report of a long step (a pull, a push).
	Underway Phase = "progress"
	Done     Phase = "done"
	Failed   Phase = "failed"
)

// PollInterval is how often a Wait looks at its containers.
const PollInterval = 200 * time.Millisecond

// Apply carries out a plan: setup in order, then the services, each once
// the services it comes after are done, independent ones in parallel, then
// teardown. It decides nothing. When ctx is cancelled (Ctrl-C) it finishes
// the engine call under way and starts no further step, so the engine is
// left in a state the next run plans from.
func Apply(ctx context.Context, e Engine, plan Plan, emit func(Event)) error {
	r := &runner{engine: e, emit: emit}
	for _, s := range plan.Setup {
		if err := r.run(ctx, "", s); err != nil {
			return err
		}
	}
	if err := r.services(ctx, plan.Services); err != nil {
		return err
	}
	for _, s := range plan.Teardown {
		if err := r.run(ctx, "", s); err != nil {
			return err
		}
	}
	return nil
}

type runner struct {
	engine Engine
	// proxy serialises the proxy switches of services that run side by
	// side: each reads the table, changes its own routes and writes it.
	proxy sync.Mutex
	mu    sync.Mutex // serialises emit
	emit  func(Event)
}

func (r *runner) services(ctx context.Context, plans []ServicePlan) error {
	done := map[string]chan struct{}{}
	for _, sp := range plans {
		done[sp.Service] = make(chan struct{})
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []error
		failed = map[string]bool{}
	)
	for _, sp := range plans {
		wg.Add(1)
		go func(sp ServicePlan) {
			defer wg.Done()
			defer close(done[sp.Service])
			for _, dep := range sp.After {
				if ch, ok := done[dep]; ok {
					<-ch
				}
			}
			mu.Lock()
			var blocked []string
			for _, dep := range sp.After {
				if failed[dep] {
					blocked = append(blocked, dep)
				}
			}
			mu.Unlock()
			var err error
			if len(blocked) > 0 {
				err = fmt.Errorf("service %q: not started: %s failed", sp.Service, strings.Join(blocked, ", "))
			} else {
				for _, s := range sp.Steps {
					if err = r.run(ctx, sp.Service, s); err != nil {
						break
					}
				}
			}
			if err != nil {
				mu.Lock()
				failed[sp.Service] = true
				errs = append(errs, &ServiceError{Service: sp.Service, Err: err})
				mu.Unlock()
			}
		}(sp)
	}
	wg.Wait()
	return errors.Join(errs...)
}

// run carries out one step and reports it.
func (r *runner) run(ctx context.Context, service string, s Step) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("interrupted before %s %s: %w", s.Action.Kind(), s.Target, err)
	}
	if l, ok := s.Action.(Lanes); ok {
		return r.lanes(ctx, service, l)
	}
	ev := Event{Service: service, Target: s.Target, Action: s.Action.Kind(), Reason: s.Reason}
	start := time.Now()
	r.report(ev, Begun, start, 0, nil)
	err := r.do(ctx, s.Action, func(p Progress) {
		pe := ev
		pe.Progress = &p
		r.report(pe, Underway, time.Now(), time.Since(start), nil)
	}, func(note string) { ev.Note = note })
	r.report(ev, Done, time.Now(), time.Since(start), err)
	if err != nil {
		return fmt.Errorf("%s %s: %w", s.Action.Kind(), s.Target, err)
	}
	return nil
}

// lanes runs each lane in its own goroutine and returns every lane's error.
func (r *runner) lanes(ctx context.Context, service string, l Lanes) error {
	errs := make([]error, len(l.Lanes))
	var wg sync.WaitGroup
	bound := len(l.Lanes)
	if l.Max > 0 {
		bound = min(bound, l.Max)
	}
	slots := make(chan struct{}, bound)
	for i, lane := range l.Lanes {
		wg.Add(1)
		go func(i int, lane []Step) {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			for _, s := range lane {
				if errs[i] = r.run(ctx, service, s); errs[i] != nil {
					return
				}
			}
		}(i, lane)
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (r *runner) report(ev Event, phase Phase, at time.Time, d time.Duration, err error) {
	if r.emit == nil {
		return
	}
	ev.Time, ev.Phase, ev.Duration = at, phase, d
	if err != nil {
		ev.Phase, ev.Error = Failed, err.Error()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emit(ev)
}

// do makes the one engine call of an action. Engine calls do not see the
// cancellation of ctx, so that Ctrl-C never cuts a call in half; waits do.
func (r *runner) do(ctx context.Context, a Action, progress func(Progress), note func(string)) error {
	call := context.WithoutCancel(ctx)
	e := r.engine
	switch a := a.(type) {
	case CreateNetwork:
		return e.CreateNetwork(call, a.Spec)
	case CreateVolume:
		return e.CreateVolume(call, a.Spec)
	case BuildImage:
		return e.BuildImage(call, a.Spec)
	case PullImage:
		return e.PullImage(call, a.Ref, progress)
	case PushImage:
		return e.PushImage(call, a.Ref, progress)
	case CreateContainer:
		_, err := e.CreateContainer(call, a.Request)
		return err
	case StartContainer:
		return e.StartContainer(call, a.Ref)
	case StopContainer:
		return e.StopContainer(call, a.Ref, a.Timeout)
	case RemoveContainer:
		return e.RemoveContainer(call, a.Ref, a.Volumes)
	case RenameContainer:
		return e.RenameContainer(call, a.Ref, a.Name)
	case SetRestartPolicy:
		return e.SetRestartPolicy(call, a.Ref, a.Policy)
	case Batch:
		return nil
	case BuildProxyImage:
		return e.BuildProxyImage(call, a.Tag)
	case ProxyApply:
		r.proxy.Lock()
		defer r.proxy.Unlock()
		answer, err := proxyApply(call, e, a)
		var notes []string
		if len(answer.Unreached) > 0 {
			notes = append(notes, fmt.Sprintf("the proxy could not connect to %s within 10s and serves it all the same (the app does not listen on that port yet, or the engine's DNS does not know the name)", strings.Join(answer.Unreached, ", ")))
		}
		if len(answer.TimedOut) > 0 {
			notes = append(notes, drainNote(a, answer.TimedOut))
		}
		if len(notes) > 0 {
			note(strings.Join(notes, "; "))
		}
		return err
	case Sleep:
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(a.Duration):
			return nil
		}
	case RemoveNetwork:
		return e.RemoveNetwork(call, a.Name)
	case RemoveVolume:
		return e.RemoveVolume(call, a.Name)
	case Wait:
		return wait(ctx, e, a)
	case RunHooks:
		return runHooks(ctx, e, a)
	}
	return fmt.Errorf("unknown action %T", a)
}

// runHooks runs a container's hooks in order. Like a wait, a hook sees
// Ctrl-C: it may run for as long as its command takes (docker compose sets
// no limit either), and a hook cut short is run again by the next run.
func runHooks(ctx context.Context, e Engine, a RunHooks) error {
	for _, h := range a.Hooks {
		code, out, err := e.RunHook(ctx, a.Ref, h)
		switch {
		case a.Event == PreStop && errors.Is(err, ErrNotRunning):
			return nil // stopped already: nothing to run before the stop
		case err != nil:
			return fmt.Errorf("%s hook %q: %w", a.Event, strings.Join(h.Command, " "), err)
		case code != 0:
			cmd := make([]string, len(h.Command))
			for i, arg := range h.Command {
				cmd[i] = Masked(arg, a.Mask)
			}
			return &HookError{Event: a.Event, Ref: a.Ref, Command: cmd, ExitCode: code, Output: Masked(out, a.Mask)}
		}
	}
	return nil
}

// wait polls until every container meets the condition. It fails at once
// when one cannot meet it any more (exited, unhealthy), rather than waiting
// out the timeout.
func wait(ctx context.Context, e Engine, w Wait) error {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout+w.Monitor)
	defer cancel()
	pending := w.Refs
	restarts := map[string]int{}
	for {
		still, err := unmet(ctx, e, pending, w.Until, restarts)
		switch {
		case err != nil && ctx.Err() == nil:
			return err
		case err == nil && len(still) == 0 && w.Probe != nil:
			return probeUntilPassed(ctx, e, w, restarts)
		case err == nil && len(still) == 0:
			return monitor(ctx, e, w, restarts)
		case err == nil:
			pending = still
		}
		if err := pause(ctx, PollInterval); err != nil {
			return waitError(err, w, pending)
		}
	}
}

// monitor checks, through the monitor period, that the containers without a
// health check keep running: for them, running is all "healthy" can mean,
// and a process that crashes a second after its start must not pass.
func monitor(ctx context.Context, e Engine, w Wait, restarts map[string]int) error {
	if w.Monitor <= 0 {
		return nil
	}
	var watched []string
	for _, ref := range w.Refs {
		st, err := e.InspectContainer(ctx, ref)
		if err != nil {
			return &ContainerError{Ref: ref, Err: err}
		}
		if st.Health == "" && st.State == "running" {
			watched = append(watched, ref)
		}
	}
	end := time.Now().Add(w.Monitor)
	for len(watched) > 0 && time.Now().Before(end) {
		if err := pause(ctx, PollInterval); err != nil {
			return waitError(err, w, watched)
		}
		if _, err := unmet(ctx, e, watched, w.Until, restarts); err != nil {
			return err
		}
	}
	return nil
}

// probeUntilPassed runs the service's health_check through the proxy until
// every container has passed it Healthy times in a row. As under Rancher,
// failures before the first success are a container still initializing
// (the wait's timeout, initializing_timeout, bounds them); after one,
// Unhealthy failures in a row fail it. The containers must keep running
// meanwhile.
func probeUntilPassed(ctx context.Context, e Engine, w Wait, restarts map[string]int) error {
	pr := w.Probe
	passes, fails, seen := map[string]int{}, map[string]int{}, map[string]bool{}
	last := map[string]error{}
	for {
		if _, err := unmet(ctx, e, w.Refs, w.Until, restarts); err != nil {
			return err
		}
		var pending []string
		for _, ref := range w.Refs {
			if passes[ref] >= pr.Healthy {
				continue
			}
			addr := fmt.Sprintf("%s:%d", pr.Hosts[ref], pr.Port)
			_, err := e.Exec(ctx, pr.Proxy, []string{"/drover", "proxy", "probe", "--addr", addr, "--request", pr.Request, "--timeout", pr.Timeout.String()}, nil)
			switch {
			case err == nil:
				passes[ref]++
				fails[ref], seen[ref] = 0, true
			case ctx.Err() != nil:
				if errors.Is(ctx.Err(), context.DeadlineExceeded) && last[ref] != nil {
					return &ContainerError{Ref: ref, Err: fmt.Errorf("health_check did not pass within %s: %v", w.Timeout, last[ref])}
				}
				return waitError(ctx.Err(), w, []string{ref})
			default:
				passes[ref], last[ref] = 0, err
				if fails[ref]++; seen[ref] && fails[ref] >= pr.Unhealthy {
					return &ContainerError{Ref: ref, Err: fmt.Errorf("health_check failed %d times in a row: %v", fails[ref], err)}
				}
			}
			if passes[ref] < pr.Healthy {
				pending = append(pending, ref)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if err := pause(ctx, pr.Interval); err != nil {
			if errors.Is(err, context.DeadlineExceeded) && last[pending[0]] != nil {
				return &ContainerError{Ref: pending[0], Err: fmt.Errorf("health_check did not pass within %s: %v", w.Timeout, last[pending[0]])}
			}
			return waitError(err, w, pending)
		}
	}
}

func pause(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

func waitError(err error, w Wait, pending []string) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &ContainerError{Ref: pending[0], Err: fmt.Errorf("timed out after %s waiting for %s to be %s", w.Timeout, strings.Join(pending, ", "), w.Until)}
	}
	return err
}

// unmet returns the containers that do not meet the condition yet.
// restarts holds each container's restart count when first seen: a
// container that the engine restarted since (its restart policy brought it
// back after it exited) has failed, although it may be running now.
func unmet(ctx context.Context, e Engine, refs []string, c Condition, restarts map[string]int) ([]string, error) {
	var still []string
	for _, ref := range refs {
		st, err := e.InspectContainer(ctx, ref)
		if err != nil {
			return nil, &ContainerError{Ref: ref, Err: err}
		}
		if first, seen := restarts[ref]; !seen {
			restarts[ref] = st.RestartCount
		} else if st.RestartCount > first {
			return nil, &ContainerError{Ref: ref, Name: st.Name, Err: fmt.Errorf("exited and was restarted by its restart policy (%d times)", st.RestartCount-first)}
		}
		met, err := meets(st, c)
		if err != nil {
			return nil, &ContainerError{Ref: ref, Name: st.Name, Err: err}
		}
		if !met {
			still = append(still, ref)
		}
	}
	return still, nil
}

// ServiceError is the failure of one service's steps.
type ServiceError struct {
	Service string
	Err     error
}

func (e *ServiceError) Error() string { return fmt.Sprintf("service %q: %v", e.Service, e.Err) }
func (e *ServiceError) Unwrap() error { return e.Err }

// ContainerError is a container that failed a wait: it exited, turned
// unhealthy or was not ready in time.
type ContainerError struct {
	Ref  string
	Name string
	Err  error
}

func (e *ContainerError) Error() string {
	name := e.Name
	if name == "" {
		name = e.Ref
	}
	return fmt.Sprintf("container %s: %v", name, e.Err)
}
func (e *ContainerError) Unwrap() error { return e.Err }

// FailedServices lists the service failures in an error from Apply.
func FailedServices(err error) []*ServiceError {
	var out []*ServiceError
	var walk func(error)
	walk = func(err error) {
		if se, ok := err.(*ServiceError); ok {
			out = append(out, se)
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
		}
	}
	walk(err)
	return out
}

// meets says whether a container meets a condition now; an error says it
// never will.
func meets(st ContainerStatus, c Condition) (bool, error) {
	switch st.State {
	case "exited", "dead":
		if c == Completed || c == Ready {
			if st.ExitCode == 0 {
				return true, nil
			}
		}
		return false, fmt.Errorf("exited with status %d", st.ExitCode)
	case "running":
		if c == Completed {
			return false, nil
		}
		switch st.Health {
		case "", "healthy":
			return true, nil
		case "unhealthy":
			if st.HealthLog != "" {
				return false, fmt.Errorf("unhealthy: %s", st.HealthLog)
			}
			return false, errors.New("unhealthy")
		}
		return false, nil
	}
	return false, nil // created, restarting, paused: not yet
}

// mergeTable is table with a's routes (by port) and sets (by name) put in
// place of the ones it had; the rest is left as it was.
func mergeTable(table ProxyTable, a ProxyApply) ProxyTable {
	mine := map[int]bool{}
	for _, r := range a.Routes {
		mine[r.Listen] = true
	}
	next := ProxyTable{Generation: table.Generation}
	for _, r := range table.Routes {
		if !mine[r.Listen] {
			next.Routes = append(next.Routes, r)
		}
	}
	next.Routes = append(next.Routes, a.Routes...)
	if len(table.Sets) > 0 || len(a.Sets) > 0 {
		next.Sets = maps.Clone(table.Sets)
		if next.Sets == nil {
			next.Sets = map[string]ProxySet{}
		}
		maps.Copy(next.Sets, a.Sets)
	}
	return next
}

// proxyAnswer is what a switch's answer says beyond success: the draining
// backends still busy when the drain timed out, and the new backends the
// proxy could not reach before it switched.
type proxyAnswer struct {
	TimedOut  []string `json:"timed_out"`
	Unreached []string `json:"unreached"`
}

// drainNote says which backends a switch's drain gave up on and, for a TCP
// route, why that is usual: the proxy cannot tell an idle keep-alive
// connection from a busy one, so it waits for the client to close it.
func drainNote(a ProxyApply, busy []string) string {
	timeout := a.DrainTimeout
	if timeout == 0 {
		timeout = DefaultDrainTimeout
	}
	switch {
	case len(a.Routes) == 0:
		// Only load-balancer sets, whose rules' modes the switch does
		// not carry.
		return fmt.Sprintf("drain timed out after %s with connections or requests still open on %s (drain_timeout_ms sets the wait)", timeout, strings.Join(busy, ", "))
	case !slices.ContainsFunc(a.Routes, func(r ProxyTableRoute) bool { return r.Mode != "http" }):
		return fmt.Sprintf("drain timed out after %s: requests still in flight on %s were ended with 504, or cut if their answer had begun (a stream, a websocket) (drain_timeout_ms sets the wait)", timeout, strings.Join(busy, ", "))
	}
	return fmt.Sprintf("drain timed out after %s with connections still open on %s, which end as it stops; in TCP mode the proxy waits for clients to close theirs (app_protocol: http closes idle keep-alive connections at once; drain_timeout_ms sets the wait)", timeout, strings.Join(busy, ", "))
}

// proxyApply replaces the routes of one service in the proxy's table and
// waits for the proxy's answer, which comes once the new backends answer
// (10 s at most) and the draining ones are done.
func proxyApply(ctx context.Context, e Engine, a ProxyApply) (proxyAnswer, error) {
	table, protocol, err := readProxyTable(ctx, e, a.Container)
	if err != nil {
		return proxyAnswer{}, err
	}
	if protocol < ProxyRulesProtocol && (len(a.Sets) > 0 || slices.ContainsFunc(a.Routes, func(r ProxyTableRoute) bool { return r.Rules != nil })) {
		// Its ctl would drop what it does not know: refuse rather than
		// leave the balancer's ports without rules.
		return proxyAnswer{}, fmt.Errorf("the proxy speaks control protocol %d and cannot route by load-balancer rules; run drover up --recreate-proxy", protocol)
	}
	next := mergeTable(table, a)
	next.Generation = max(table.Generation+1, time.Now().UnixNano())
	// reach: the proxy waits until it can connect to the backends it is to
	// serve, 10 s at most, before it switches.
	req, err := json.Marshal(map[string]any{"op": "apply", "table": next, "drain_timeout_ms": a.DrainTimeout.Milliseconds(), "max_pause_ms": ProxyMaxPause.Milliseconds(), "reach": true})
	if err != nil {
		return proxyAnswer{}, err
	}
	out, err := e.Exec(ctx, a.Container, proxyCtl(), req)
	if err != nil {
		return proxyAnswer{}, fmt.Errorf("the proxy: %w", err)
	}
	var resp struct {
		proxyAnswer
		OK        bool              `json:"ok"`
		Error     string            `json:"error"`
		HostPorts map[string]string `json:"host_ports"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return proxyAnswer{}, fmt.Errorf("the proxy answered %q: %w", out, err)
	}
	if !resp.OK {
		return proxyAnswer{}, fmt.Errorf("the proxy refused the table: %s", resp.Error)
	}
	// The table is in force, but a port its launcher could not open is
	// served to no one: say which, and why.
	var missing []string
	for _, addr := range slices.Sorted(maps.Keys(resp.HostPorts)) {
		if why := resp.HostPorts[addr]; why != "" {
			missing = append(missing, addr+": "+why)
		}
	}
	if len(missing) > 0 {
		return resp.proxyAnswer, fmt.Errorf("the front proxy cannot serve its published ports (%s); something else holds them, or the proxy's launcher (the -proxy-ports container) does not run", strings.Join(missing, "; "))
	}
	return resp.proxyAnswer, nil
}

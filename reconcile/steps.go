package reconcile

import (
	"fmt"
	"strings"
	"time"
)

// Action is one engine operation; each kind maps to one engine call (or, for
// a wait, one polling loop) and carries only what that call needs.
type Action interface {
	Kind() string
}

// Step is an action with what it acts on and why, so that a dry run, a
// progress line and a golden test read the same text.
type Step struct {
	Target string // web#2, a network, volume or image name
	Reason string
	Action Action
}

func (s Step) String() string {
	if s.Reason == "" {
		return fmt.Sprintf("%s %s", s.Action.Kind(), s.Target)
	}
	return fmt.Sprintf("%s %s (%s)", s.Action.Kind(), s.Target, s.Reason)
}

// NetworkSpec is a network to create.
type NetworkSpec struct {
	Name       string
	Driver     string
	Options    map[string]string
	Labels     map[string]string
	Internal   bool
	Attachable bool
	EnableIPv6 bool
}

// VolumeSpec is a volume to create.
type VolumeSpec struct {
	Name    string
	Driver  string
	Options map[string]string
	Labels  map[string]string
}

// BuildSpec is an image to build through the engine's build API.
type BuildSpec struct {
	Tag        string
	Context    string
	Dockerfile string
	Args       map[string]*string
	Target     string
	Labels     map[string]string
	// NoCache builds every step again; Pull asks the engine to pull a
	// newer base image (drover build --no-cache, --pull).
	NoCache, Pull bool
}

// Actions, one per engine operation.
type (
	CreateNetwork   struct{ Spec NetworkSpec }
	CreateVolume    struct{ Spec VolumeSpec }
	BuildImage      struct{ Spec BuildSpec }
	PullImage       struct{ Ref string }
	PushImage       struct{ Ref string }
	CreateContainer struct{ Request CreateRequest }
	StartContainer  struct{ Ref string }
	StopContainer   struct {
		Ref     string
		Timeout *time.Duration
	}
	RemoveContainer struct {
		Ref     string
		Volumes bool // its anonymous volumes too
	}
	// Wait polls containers until each meets the condition, fails when one
	// cannot meet it any more, or times out. With a Monitor period, the
	// containers that have no health check must then keep running that long.
	Wait struct {
		Refs    []string
		Until   Condition
		Timeout time.Duration
		Monitor time.Duration
		// Probe, when set, is the service's rancher-compose health_check,
		// run through the front proxy: a container passes once it has
		// answered it Healthy times in a row.
		Probe *Probe
	}
)

// Probe is a Rancher health_check as the front proxy runs it, from inside
// its container (the backends' networks are out of the host's reach).
type Probe struct {
	Proxy     string            // the proxy container
	Hosts     map[string]string // wait ref → the backend's network alias
	Port      int
	Request   string // request line; empty: a TCP connect
	Timeout   time.Duration
	Interval  time.Duration
	Healthy   int
	Unhealthy int
}

// Lanes runs sequences of steps side by side: each lane in order, the lanes
// at once (at most Max at once when Max > 0). Per-container work (create
// then start, rename then start, stop then remove) goes in lanes, so that
// ten containers cost about what one does; so do pulls, bounded.
type Lanes struct {
	Lanes [][]Step
	Max   int
}

func (Lanes) Kind() string { return "lanes" }

// inLanes returns the steps that run the non-empty lanes side by side: one
// Lanes step, or the lane itself when there is only one.
func inLanes(target string, lanes ...[]Step) []Step {
	var kept [][]Step
	for _, l := range lanes {
		if len(l) > 0 {
			kept = append(kept, l)
		}
	}
	switch len(kept) {
	case 0:
		return nil
	case 1:
		return kept[0]
	}
	return []Step{{Target: target, Action: Lanes{Lanes: kept}}}
}

// flatten lists the steps with the lanes' steps in line, lane by lane.
func flatten(steps []Step) []Step {
	var out []Step
	for _, s := range steps {
		if l, ok := s.Action.(Lanes); ok {
			for _, lane := range l.Lanes {
				out = append(out, flatten(lane)...)
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

func (CreateNetwork) Kind() string   { return "create-network" }
func (CreateVolume) Kind() string    { return "create-volume" }
func (BuildImage) Kind() string      { return "build" }
func (PullImage) Kind() string       { return "pull" }
func (PushImage) Kind() string       { return "push" }
func (CreateContainer) Kind() string { return "create" }
func (StartContainer) Kind() string  { return "start" }
func (StopContainer) Kind() string   { return "stop" }
func (RemoveContainer) Kind() string { return "remove" }
func (w Wait) Kind() string          { return "wait-" + w.Until.String() }

// Condition is what a Wait waits for.
type Condition int

const (
	// Ready: running, and healthy where the container has a health check;
	// a container that already exited with status 0 (a one-shot job) counts.
	Ready Condition = iota
	// Healthy: running, and healthy where the container has a health check.
	Healthy
	// Completed: exited with status 0.
	Completed
)

func (c Condition) String() string {
	switch c {
	case Ready:
		return "ready"
	case Healthy:
		return "healthy"
	case Completed:
		return "completed"
	}
	return fmt.Sprintf("condition(%d)", int(c))
}

// Plan is what it takes to bring the engine in step with the project.
type Plan struct {
	Project string
	// Setup runs first, in order: images, networks, volumes.
	Setup []Step
	// Services run concurrently, each once the services it lists in After
	// are done; a service's steps run in order.
	Services []ServicePlan
	// Teardown runs last: orphans.
	Teardown []Step
	// Notes are what the user must hear about although nothing is done:
	// services out of sync, orphans kept.
	Notes    []string
	Warnings []string
}

// ServicePlan is the steps of one service, and what to tell the user of it.
type ServicePlan struct {
	Service string
	After   []string
	Steps   []Step
	Notes   []string
	// Left says why a plain up leaves the service as it is ("out of sync",
	// "upgrading", "upgrade-failed"); empty when it brings it in step.
	Left string
}

// Targets lists the target of every step, in plan order.
func (p Plan) Targets() []string {
	var out []string
	add := func(steps []Step) {
		for _, st := range steps {
			out = append(out, st.Target)
		}
	}
	add(p.Setup)
	for _, sp := range p.Services {
		add(sp.Steps)
	}
	add(p.Teardown)
	return out
}

// Left lists the services the plan leaves out of step, with the reason.
func (p Plan) Left() []string {
	var out []string
	for _, sp := range p.Services {
		if sp.Left != "" {
			out = append(out, sp.Service+": "+sp.Left)
		}
	}
	return out
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	if len(p.Setup) > 0 || len(p.Teardown) > 0 {
		return false
	}
	for _, s := range p.Services {
		if len(s.Steps) > 0 {
			return false
		}
	}
	return true
}

// AllNotes is the notes of the services, in order, then the plan's own.
func (p Plan) AllNotes() []string {
	var out []string
	for _, sp := range p.Services {
		out = append(out, sp.Notes...)
	}
	return append(out, p.Notes...)
}

// String renders the plan a line a step, the form of dry runs and golden
// tests.
func (p Plan) String() string {
	var b strings.Builder
	for _, s := range flatten(p.Setup) {
		fmt.Fprintf(&b, "setup: %s\n", s)
	}
	for _, sp := range p.Services {
		for _, s := range flatten(sp.Steps) {
			fmt.Fprintf(&b, "%s: %s\n", sp.Service, s)
		}
	}
	for _, s := range flatten(p.Teardown) {
		fmt.Fprintf(&b, "teardown: %s\n", s)
	}
	for _, n := range p.AllNotes() {
		fmt.Fprintf(&b, "note: %s\n", n)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

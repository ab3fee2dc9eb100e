package reconcile

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Hook is one lifecycle hook of a service (post_start, pre_stop): a command
// run in the container through the engine's exec API, as docker compose
// runs it.
type Hook struct {
	Command    []string
	User       string
	Privileged bool
	WorkingDir string
	Env        []string // KEY=value
}

// HookEvent is when a hook runs.
type HookEvent int

const (
	// PostStart runs right after the container started; a failure fails
	// the container's start (in an upgrade: its health gate).
	PostStart HookEvent = iota
	// PreStop runs right before the container is stopped (behind the
	// front proxy: after it was drained); a failure fails the stop.
	PreStop
)

func (e HookEvent) String() string {
	if e == PreStop {
		return "pre_stop"
	}
	return "post_start"
}

// RunHooks runs a container's hooks of one event, in order; the first that
// exits non-zero fails the step.
type RunHooks struct {
	Ref   string
	Event HookEvent
	Hooks []Hook
	// Mask is the values (the service's and the hooks' environment) that
	// a failing hook's output is printed without.
	Mask []string
}

func (h RunHooks) Kind() string {
	if h.Event == PreStop {
		return "pre-stop"
	}
	return "post-start"
}

// ErrNotRunning is what the engine returns for an exec in a container that
// does not run: for a pre_stop hook, the container it was to run before
// stopping has stopped already.
var ErrNotRunning = errors.New("the container is not running")

// HookError is a hook that exited non-zero.
type HookError struct {
	Event    HookEvent
	Ref      string
	Command  []string
	ExitCode int
	Output   string // its last lines, the environment's values masked
}

func (e *HookError) Error() string {
	msg := fmt.Sprintf("%s hook %q in %s exited with status %d", e.Event, strings.Join(e.Command, " "), e.Ref, e.ExitCode)
	if e.Output != "" {
		msg += ": " + e.Output
	}
	return msg
}

// specHooks reads the hooks of an event from a container's canonical spec
// (its io.drover.spec label, or the one it is about to be created with), so
// that commands run without the files (rollback, down, stop) run the hooks
// the container was made with. It also returns the values to mask.
func specHooks(spec string, event HookEvent) (hooks []Hook, mask []string) {
	var s struct {
		Environment types.MappingWithEquals `json:"environment"`
		PostStart   []types.ServiceHook     `json:"post_start"`
		PreStop     []types.ServiceHook     `json:"pre_stop"`
	}
	if spec == "" || json.Unmarshal([]byte(spec), &s) != nil {
		return nil, nil
	}
	src := s.PostStart
	if event == PreStop {
		src = s.PreStop
	}
	if len(src) == 0 {
		return nil, nil
	}
	mask = maskValues(s.Environment)
	for _, h := range src {
		hooks = append(hooks, Hook{Command: h.Command, User: h.User, Privileged: h.Privileged, WorkingDir: h.WorkingDir, Env: environment(h.Environment)})
		mask = append(mask, maskValues(h.Environment)...)
	}
	return hooks, mask
}

func maskValues(env types.MappingWithEquals) []string {
	var out []string
	for _, v := range env {
		if v != nil && *v != "" {
			out = append(out, *v)
		}
	}
	return out
}

// hookStep is the step that runs a container's hooks of one event, nil when
// it has none. spec is the container's canonical spec.
func hookStep(target, ref, spec string, event HookEvent, reason string) []Step {
	hooks, mask := specHooks(spec, event)
	if len(hooks) == 0 {
		return nil
	}
	return []Step{{Target: target, Reason: reason, Action: RunHooks{Ref: ref, Event: event, Hooks: hooks, Mask: mask}}}
}

// preStop is the pre_stop step of a running container, nil when it has no
// such hook or does not run.
func preStop(c Container, target, reason string) []Step {
	if !c.Running() {
		return nil
	}
	return hookStep(target, c.ID, c.Labels[LabelSpec], PreStop, reason)
}

// postStart is the post_start step of a container just started.
func postStart(c Container, target string) []Step {
	return hookStep(target, c.ID, c.Labels[LabelSpec], PostStart, "")
}

// Masked returns s with each of the values replaced by ***, longest first
// so that a value inside another is not left half-shown.
func Masked(s string, values []string) string {
	vs := append([]string(nil), values...)
	sort.Slice(vs, func(i, j int) bool { return len(vs[i]) > len(vs[j]) })
	for _, v := range vs {
		if v != "" {
			s = strings.ReplaceAll(s, v, "***")
		}
	}
	return s
}

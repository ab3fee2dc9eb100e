package reconcile

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const hooked = `services:
  web:
    image: drover-hello:%s
    environment: {DB_PASSWORD: hunter22}
    post_start:
      - command: [/hello, -append, /hooks/started]
        user: "1000"
        working_dir: /tmp
    pre_stop:
      - command: [/hello, -append, /hooks/stopping]
        environment: {TOKEN: s3cret}
        privileged: true
`

// Where each planner runs the hooks: pre_stop right before every stop of a
// running container (upgrade, rollback, scale-down, stop, down, restart),
// post_start right after every start, in an upgrade before the gate.
func TestHookSteps(t *testing.T) {
	p1 := load(t, fmt.Sprintf(hooked, "v1"), "")
	p2 := load(t, fmt.Sprintf(hooked, "v2"), "web:\n  scale: 1\n  upgrade_strategy: {start_first: false}\n")
	running := newWorld(p1).ctr("web", 1, 1, "running").ctr("web", 2, 1, "running").obs
	cases := []struct {
		name string
		plan func() (Plan, error)
		want string
	}{
		{"up creates", func() (Plan, error) { return Up(p1, newWorld(p1).obs, Options{Scale: map[string]int{"web": 1}}) }, `web: create web#1 (missing: scale 1)
web: start web#1
web: post-start web#1
web: wait-ready web
`},
		{"up scales down", func() (Plan, error) { return Up(p1, running, Options{Scale: map[string]int{"web": 1}}) }, `web: pre-stop web#2 (surplus: scale 1)
web: stop web#2 (surplus: scale 1)
web: remove web#2 (surplus: scale 1)
`},
		{"stop-first upgrade, the surplus kept", func() (Plan, error) { return Upgrade(p2, running, UpgradeOptions{}) }, `web: batch web (1/1: web#1)
web: create web#1 (revision 2)
web: set-restart web#1 (keep for rollback)
web: pre-stop web#1 (keep for rollback)
web: stop web#1 (keep for rollback)
web: rename web#1 (keep for rollback)
web: start web#1
web: post-start web#1 (part of its health gate)
web: wait-healthy web (batch 1)
web: rename web#1 (passed its health gate)
web: set-restart web#2 (keep for rollback)
web: pre-stop web#2 (keep for rollback)
web: stop web#2 (keep for rollback)
web: rename web#2 (keep for rollback)
`},
		{"stop", func() (Plan, error) { return Stop(running, []string{"web"}, nil), nil }, `setup: pre-stop web#1
setup: stop web#1
setup: pre-stop web#2
setup: stop web#2
`},
		{"down", func() (Plan, error) { return Down(running, nil, DownOptions{}), nil }, `web: pre-stop web#1 (down)
web: stop web#1 (down)
web: remove web#1 (down)
web: pre-stop web#2 (down)
web: stop web#2 (down)
web: remove web#2 (down)
`},
		{"restart", func() (Plan, error) { return Restart(running, []string{"web"}, nil, time.Minute, nil), nil }, `setup: pre-stop web#1
setup: stop web#1
setup: start web#1
setup: post-start web#1
setup: wait-ready web#1
setup: pre-stop web#2
setup: stop web#2
setup: start web#2
setup: post-start web#2
setup: wait-ready web#2
`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := tc.plan()
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.String(); got != tc.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// The hooks of a rollback are those of the containers it stops and starts,
// read from their labels: it needs no files.
func TestHooksOfARollback(t *testing.T) {
	p1 := load(t, fmt.Sprintf(hooked, "v1"), "")
	p2 := load(t, fmt.Sprintf(hooked, "v2"), "web:\n  scale: 1\n")
	start := simulate(t, newWorld(p1).obs, mustPlan(Up(p1, newWorld(p1).obs, Options{Scale: map[string]int{"web": 1}})))
	upgraded := simulate(t, start, mustPlan(Upgrade(p2, start, UpgradeOptions{})))
	rb, err := Rollback(upgraded, RollbackOptions{Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var hooks []string
	for _, s := range flatten(rb.Services[0].Steps) {
		if h, ok := s.Action.(RunHooks); ok {
			hooks = append(hooks, fmt.Sprintf("%s %s %s", h.Kind(), h.Ref, h.Hooks[0].Command[2]))
		}
	}
	want := "post-start demo-web-1@1 /hooks/started, pre-stop demo-web-1-r2@2 /hooks/stopping"
	if got := strings.Join(hooks, ", "); got != want {
		t.Errorf("rollback hooks: %s; want %s", got, want)
	}
}

func mustPlan(p Plan, err error) Plan {
	if err != nil {
		panic(err)
	}
	return p
}

// A hook carries what docker compose passes to the exec: user, privileged,
// working directory and its own environment; the values to mask are the
// service's and the hook's environment.
func TestSpecHooks(t *testing.T) {
	p := load(t, fmt.Sprintf(hooked, "v1"), "")
	svc, _ := p.Service("web")
	post, mask := specHooks(string(svc.Spec), PostStart)
	if len(post) != 1 || post[0].User != "1000" || post[0].WorkingDir != "/tmp" || strings.Join(post[0].Command, " ") != "/hello -append /hooks/started" {
		t.Errorf("post_start: %+v", post)
	}
	if strings.Join(mask, ",") != "hunter22" {
		t.Errorf("post_start mask: %v", mask)
	}
	pre, mask := specHooks(string(svc.Spec), PreStop)
	if len(pre) != 1 || !pre[0].Privileged || strings.Join(pre[0].Env, ",") != "TOKEN=s3cret" {
		t.Errorf("pre_stop: %+v", pre)
	}
	if got := Masked("token s3cret for hunter22", mask); got != "token *** for ***" {
		t.Errorf("masked: %q", got)
	}
	if hooks, _ := specHooks(`{"image":"x"}`, PreStop); hooks != nil {
		t.Errorf("a spec without hooks: %v", hooks)
	}
}

// hookEngine answers RunHook with a fixed result; nothing else is called.
type hookEngine struct {
	Engine
	code int
	out  string
	err  error
	ran  []string
}

func (e *hookEngine) RunHook(_ context.Context, ref string, h Hook) (int, string, error) {
	e.ran = append(e.ran, ref+" "+strings.Join(h.Command, " "))
	return e.code, e.out, e.err
}

// A failing hook is reported with its event, container and exit code, its
// output and command without the environment's values; a pre_stop hook of
// a container that stopped meanwhile is no failure.
func TestRunHooks(t *testing.T) {
	hooks := []Hook{{Command: []string{"/hello", "-exit", "3"}}, {Command: []string{"/never"}}}
	step := func(ev HookEvent) Plan {
		return Plan{Services: []ServicePlan{{Service: "web", Steps: []Step{{Target: "web#1", Action: RunHooks{Ref: "demo-web-1", Event: ev, Hooks: hooks, Mask: []string{"s3cret"}}}}}}}
	}
	e := &hookEngine{code: 3, out: "login with s3cret refused"}
	err := Apply(context.Background(), e, step(PostStart), nil)
	var he *HookError
	if !errors.As(err, &he) || he.ExitCode != 3 || he.Ref != "demo-web-1" || len(e.ran) != 1 {
		t.Fatalf("failing hook: %v (ran %v)", err, e.ran)
	}
	want := `service "web": post-start web#1: post_start hook "/hello -exit 3" in demo-web-1 exited with status 3: login with *** refused`
	if err.Error() != want {
		t.Errorf("error:\n%s\nwant:\n%s", err, want)
	}
	e = &hookEngine{err: fmt.Errorf("exec: %w", ErrNotRunning)}
	if err := Apply(context.Background(), e, step(PreStop), nil); err != nil {
		t.Errorf("pre_stop in a stopped container: %v", err)
	}
	if err := Apply(context.Background(), e, step(PostStart), nil); !errors.Is(err, ErrNotRunning) {
		t.Errorf("post_start in a stopped container: %v", err)
	}
	e = &hookEngine{}
	if err := Apply(context.Background(), e, step(PreStop), nil); err != nil || len(e.ran) != 2 {
		t.Errorf("passing hooks: %v, ran %v", err, e.ran)
	}
}

// A changed hook is a change of the config hash (as in docker compose), and
// diff shows it with the values of its environment masked.
func TestHookChangeIsAnUpgrade(t *testing.T) {
	p1 := load(t, fmt.Sprintf(hooked, "v1"), "")
	p2 := load(t, strings.Replace(fmt.Sprintf(hooked, "v1"), "TOKEN: s3cret", "TOKEN: other", 1), "")
	a, _ := p1.Service("web")
	b, _ := p2.Service("web")
	if a.Hash == b.Hash {
		t.Fatal("a changed pre_stop hook leaves the config hash as it was")
	}
	changes := DiffSpecs(a.Spec, b.Spec)
	if len(changes) != 1 || changes[0].Key != "pre_stop" {
		t.Fatalf("changes: %+v", changes)
	}
	if c := changes[0]; strings.Contains(c.Old+c.New, "s3cret") || strings.Contains(c.Old+c.New, "other") || !strings.Contains(c.New, `"TOKEN":"***"`) {
		t.Errorf("the diff shows the hook's environment: %+v", c)
	}
}

package reconcile

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/compose"
)

// TestMoveBehindProxyIsATransaction walks the move of a service whose
// containers publish their port themselves to the front proxy (up --upgrade
// after the files stopped saying x-drover: {proxy: false}) one step at a
// time, and after every step checks that the next run finishes it (up
// --upgrade) or undoes it (up --rollback), and that a plain up never
// starts the proxy while a container holds its port. The simulation fails
// on a start whose host port a running container holds, and on a switch
// pushed to a proxy that does not run.
func TestMoveBehindProxyIsATransaction(t *testing.T) {
	const direct = "services:\n  web:\n    image: drover-hello:%s\n    restart: always\n    scale: %d\n    ports: ['127.0.0.1:8991:80']\n    x-drover: {proxy: false}\n"
	const proxied = "services:\n  web:\n    image: drover-hello:%s\n    restart: always\n    scale: %d\n    ports: ['127.0.0.1:8991:80']\n"
	for _, scale := range []int{1, 3} {
		for _, image := range []string{"v1", "v2"} {
			t.Run(fmt.Sprintf("scale %d, %s", scale, image), func(t *testing.T) {
				// Scale 1: a fixed host port on the containers allows no more.
				p1 := load(t, fmt.Sprintf(direct, "v1", 1), "")
				start := upFromNothing(t, p1)
				original := map[string]string{}
				for _, c := range start.Containers {
					original[c.ID] = c.Name
				}
				p2 := load(t, fmt.Sprintf(proxied, image, scale), "")
				plain, err := Up(p2, start, Options{})
				if err != nil {
					t.Fatal(err)
				}
				if !plain.Empty() || !slices.ContainsFunc(plain.Notes, func(n string) bool {
					return strings.HasPrefix(n, "web: its containers publish port 8991 themselves; drover up --upgrade moves it behind the front proxy")
				}) {
					t.Fatalf("plain up of a service to move: notes %q\n%s", plain.Notes, plain)
				}
				plan, err := Upgrade(p2, start, UpgradeOptions{})
				if err != nil {
					t.Fatal(err)
				}
				all := flatten(append(append(append([]Step(nil), plan.Setup...), plan.Services[0].Steps...), plan.Teardown...))
				for k := 0; k <= len(all); k++ {
					where := fmt.Sprintf("after step %d of %d", k, len(all))
					left, _ := simulateSteps(t, start, plan, k, "")
					if _, err := Up(p2, left, Options{}); err != nil {
						t.Errorf("%s: plain up: %v", where, err)
					}
					moved := checkMoved(t, where, p2, left, scale, original)
					if k == len(all) && !moved {
						t.Errorf("%s: the move's own plan did not finish it:\n%s", where, plan)
					}
					rb, err := Rollback(left, RollbackOptions{Timeout: time.Minute})
					changed := false
					for _, s := range all[:k] {
						_, build := s.Action.(BuildProxyImage)
						changed = changed || changes(s) && !build
					}
					if !changed {
						if !errors.Is(err, ErrNothingKept) {
							t.Errorf("%s: rollback before any change: %v", where, err)
						}
						continue
					}
					if err != nil {
						t.Errorf("%s: rollback: %v", where, err)
						continue
					}
					after := simulate(t, left, rb)
					checkOriginal(t, where+", rolled back", after, original)
					if after.Proxy != nil {
						t.Errorf("%s: rolled back, the proxy is left: it holds the port the original containers publish", where)
					}
				}
			})
		}
	}
}

// checkMoved runs up --upgrade from left and checks the service ends behind
// the proxy: new containers without ports, passed and running, the originals
// kept, the proxy running with the port and serving exactly the new ones;
// a second run has nothing to do. It reports whether left was already so.
func checkMoved(t *testing.T, where string, p *compose.Project, left Observed, scale int, original map[string]string) bool {
	t.Helper()
	plan, err := Upgrade(p, left, UpgradeOptions{})
	if err != nil {
		t.Errorf("%s: up --upgrade: %v", where, err)
		return false
	}
	after := simulate(t, left, plan)
	view := viewOf(byService(after.Containers)["web"], scale)
	if view.State != Upgraded || len(view.Current) != scale {
		t.Errorf("%s: up --upgrade left web %s with %d new containers", where, view.State, len(view.Current))
	}
	var want []string
	for _, c := range view.Current {
		if !c.Running() || !Passed(c) || c.Labels[LabelProxied] != "true" || len(c.Ports) != 0 {
			t.Errorf("%s: new %s is %s, passed %v, proxied %q, ports %v", where, c.Name, c.State, Passed(c), c.Labels[LabelProxied], c.Ports)
		}
		want = append(want, fmt.Sprintf("%s:80", BackendHost(c)))
	}
	for _, c := range view.Kept {
		if _, ok := original[c.ID]; !ok || c.Running() {
			t.Errorf("%s: kept %s is %s", where, c.Name, c.State)
		}
	}
	if after.Proxy == nil || !after.Proxy.Running() {
		t.Errorf("%s: no running proxy after the move", where)
	} else if len(after.ProxyTable.Routes) != 1 || after.ProxyTable.Routes[0].Listen != 8991 || fmt.Sprint(backendAddrs(after.ProxyTable.Routes[0])) != fmt.Sprint(want) {
		t.Errorf("%s: proxy table %+v, want 8991 serving %v", where, after.ProxyTable.Routes, want)
	}
	if again, err := Upgrade(p, after, UpgradeOptions{}); err != nil || !again.Empty() {
		t.Errorf("%s: up --upgrade again after the move: %v\n%s", where, err, again)
	}
	return plan.Empty()
}

func backendAddrs(r ProxyTableRoute) []string {
	var out []string
	for _, b := range r.Backends {
		if b.State == "serving" {
			out = append(out, b.Addr)
		}
	}
	return out
}

// TestRollbackOfAMoveRefusedWhenTheProxyServesOthers: the rollback of a
// moved service must remove the proxy; when the proxy also serves another
// service it is refused before any change, naming that service.
func TestRollbackOfAMoveRefusedWhenTheProxyServesOthers(t *testing.T) {
	const direct = "services:\n  web:\n    image: drover-hello:v1\n    ports: ['127.0.0.1:8991:80']\n    x-drover: {proxy: false}\n  api:\n    image: drover-hello:v1\n    ports: ['127.0.0.1:8992:80']\n"
	const moved = "services:\n  web:\n    image: drover-hello:v2\n    ports: ['127.0.0.1:8991:80']\n  api:\n    image: drover-hello:v1\n    ports: ['127.0.0.1:8992:80']\n"
	p1 := load(t, direct, "")
	start := upFromNothing(t, p1)
	p2 := load(t, moved, "")
	plan, err := Upgrade(p2, start, UpgradeOptions{Options: Options{RecreateProxy: true}})
	if err != nil {
		t.Fatal(err)
	}
	after := simulate(t, start, plan)
	_, err = Rollback(after, RollbackOptions{Services: []string{"web"}, Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), `service "web": the upgrade moved it behind the front proxy`) || !strings.Contains(err.Error(), "the proxy also serves api") {
		t.Errorf("rollback of web while the proxy serves api too: %v", err)
	}
}

// TestLeaveProxyIsATransaction: a service behind the proxy whose files now
// say x-drover: {proxy: false} leaves it. A plain up leaves it where it is
// and says how to take it out (exit 3: Left). Alone behind the proxy, up
// --upgrade removes the proxy; with another service behind it, only with
// --recreate-proxy, which replaces the proxy without its port. After every
// prefix of that plan, up --upgrade finishes the leave (the new container
// publishes the port itself, the originals are kept, the proxy serves only
// the others), and a rollback either has nothing to do, or is refused
// before any change: the proxy no longer has the port the kept containers
// were served on.
func TestLeaveProxyIsATransaction(t *testing.T) {
	const web = "  web:\n    image: drover-hello:%s\n    restart: always\n    ports: ['127.0.0.1:8991:80']\n%s"
	const api = "  api:\n    image: drover-hello:v1\n    ports: ['127.0.0.1:8992:80']\n"
	for _, others := range []bool{false, true} {
		for _, image := range []string{"v1", "v2"} {
			t.Run(fmt.Sprintf("others %v, %s", others, image), func(t *testing.T) {
				files := func(img, extra string) string {
					s := "services:\n" + fmt.Sprintf(web, img, extra)
					if others {
						s += api
					}
					return s
				}
				p1 := load(t, files("v1", ""), "")
				start := upFromNothing(t, p1)
				original := map[string]string{}
				for _, c := range start.Containers {
					if c.Service == "web" {
						original[c.ID] = c.Name
					}
				}
				p2 := load(t, files(image, "    x-drover: {proxy: false}\n"), "")
				plain, err := Up(p2, start, Options{})
				if err != nil {
					t.Fatal(err)
				}
				note := "web: the front proxy serves its port 8991, but the files say x-drover: {proxy: false}; drover up --upgrade takes it out"
				if others {
					note = "web: the front proxy serves its port 8991, but the files say x-drover: {proxy: false}; drover up --upgrade --recreate-proxy takes it out"
				}
				if !plain.Empty() || len(plain.Left()) == 0 || !slices.ContainsFunc(plain.Notes, func(n string) bool { return strings.HasPrefix(n, note) }) {
					t.Fatalf("plain up of a service leaving the proxy: left %q, notes %q\n%s", plain.Left(), plain.Notes, plain)
				}
				opts := UpgradeOptions{Options: Options{RecreateProxy: others}}
				if others {
					// Without --recreate-proxy it stays behind the proxy.
					stay, err := Upgrade(p2, start, UpgradeOptions{})
					if err != nil {
						t.Fatal(err)
					}
					after := simulate(t, start, stay)
					if len(leavingProxy(p2, after)) == 0 {
						t.Errorf("up --upgrade without --recreate-proxy took web out while the proxy serves api:\n%s", stay)
					}
				}
				plan, err := Upgrade(p2, start, opts)
				if err != nil {
					t.Fatal(err)
				}
				all := flatten(append(append(append([]Step(nil), plan.Setup...), plan.Services[0].Steps...), plan.Teardown...))
				for _, sp := range plan.Services[1:] {
					all = append(all, flatten(sp.Steps)...)
				}
				for k := 0; k <= len(all); k++ {
					where := fmt.Sprintf("after step %d of %d", k, len(all))
					left, _ := simulateSteps(t, start, plan, k, "")
					if _, err := Up(p2, left, Options{}); err != nil {
						t.Errorf("%s: plain up: %v", where, err)
					}
					if done := checkLeft(t, where, p2, left, opts, others, original); k == len(all) && !done {
						t.Errorf("%s: the leave's own plan did not finish it:\n%s", where, plan)
					}
					rb, err := Rollback(left, RollbackOptions{Services: []string{"web"}, Timeout: time.Minute})
					switch {
					case errors.Is(err, ErrNothingKept):
					case err != nil && strings.Contains(err.Error(), `service "web": its kept containers were served by the front proxy, which no longer has its ports`):
						// Going forward replaces a proxy that serves api.
						if forward := "run drover up --upgrade --recreate-proxy"; (left.Proxy != nil) != strings.HasSuffix(err.Error(), forward) {
							t.Errorf("%s: the refusal says %q; with a proxy left, going forward needs --recreate-proxy", where, err)
						}
					case err != nil:
						t.Errorf("%s: rollback: %v", where, err)
					default:
						// Allowed only while the proxy still routes web.
						if !fronted(RoutesOf(left.Proxy), "web") {
							t.Errorf("%s: a rollback was planned though the proxy no longer routes web:\n%s", where, rb)
						}
						simulate(t, left, rb)
					}
				}
			})
		}
	}
}

// checkLeft runs up --upgrade from left and checks web ends out from behind
// the proxy: a new container that publishes 8991 itself, passed and
// running, the original kept, and the proxy gone, or serving only api; a
// second run has nothing to do. It reports whether left was already so.
func checkLeft(t *testing.T, where string, p *compose.Project, left Observed, opts UpgradeOptions, others bool, original map[string]string) bool {
	t.Helper()
	plan, err := Upgrade(p, left, opts)
	if err != nil {
		t.Errorf("%s: up --upgrade: %v", where, err)
		return false
	}
	after := simulate(t, left, plan)
	view := viewOf(byService(after.Containers)["web"], 1)
	if view.State != Upgraded || len(view.Current) != 1 {
		t.Errorf("%s: up --upgrade left web %s with %d new containers", where, view.State, len(view.Current))
	}
	for _, c := range view.Current {
		if !c.Running() || !Passed(c) || c.Labels[LabelProxied] != "" || len(c.Ports) != 1 || c.Ports[0].HostPort != 8991 {
			t.Errorf("%s: new %s is %s, passed %v, proxied %q, ports %v", where, c.Name, c.State, Passed(c), c.Labels[LabelProxied], c.Ports)
		}
	}
	for _, c := range view.Kept {
		if _, ok := original[c.ID]; !ok || c.Running() {
			t.Errorf("%s: kept %s is %s", where, c.Name, c.State)
		}
	}
	switch {
	case !others && after.Proxy != nil:
		t.Errorf("%s: the proxy, which served only web, is left", where)
	case others && (after.Proxy == nil || !after.Proxy.Running()):
		t.Errorf("%s: no running proxy for api", where)
	case others:
		if fronted(RoutesOf(after.Proxy), "web") || !fronted(RoutesOf(after.Proxy), "api") || len(after.ProxyTable.Routes) != 1 || after.ProxyTable.Routes[0].Listen != 8992 {
			t.Errorf("%s: the proxy routes %s, table %+v; want api's 8992 only", where, routeList(RoutesOf(after.Proxy)), after.ProxyTable.Routes)
		}
	}
	if again, err := Upgrade(p, after, opts); err != nil || !again.Empty() {
		t.Errorf("%s: up --upgrade again after the leave: %v\n%s", where, err, again)
	}
	return plan.Empty()
}

// upFromNothing is the engine after a plain up of p on an empty one.
func upFromNothing(t *testing.T, p *compose.Project) Observed {
	t.Helper()
	w := newWorld(p)
	up, err := Up(p, w.obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return simulate(t, w.obs, up)
}

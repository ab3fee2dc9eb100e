package reconcile

import (
	"fmt"
	"testing"
	"time"
)

func TestDown(t *testing.T) {
	p := load(t, "services:\n  db: {image: drover-hello:v1}\n  web: {image: drover-hello:v1, depends_on: [db]}\n", "")
	w := newWorld(p).ctr("db", 1, 1, "running").ctr("web", 1, 1, "running").ctr("web", 1, 2, "exited")
	w.obs.Containers = append(w.obs.Containers, Container{ID: "x", Name: "demo-old-1", Service: "old", State: "exited", Labels: map[string]string{}})
	plan := Down(w.obs, map[string][]string{"db": {"web"}}, DownOptions{Networks: []string{"demo_default"}, Volumes: []string{"demo_data"}})
	want := `db: stop db#1 (down)
db: remove db#1 (down)
web: stop web#1 (down)
web: remove web#1 (down)
web: remove web#1 (down)
old: remove old#0 (down)
teardown: remove-network demo_default (down)
`
	if got := plan.String(); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	var after []string
	for _, sp := range plan.Services {
		after = append(after, fmt.Sprintf("%s after %v", sp.Service, sp.After))
	}
	if got := fmt.Sprint(after); got != "[db after [web] web after [] old after []]" {
		t.Errorf("order: %s; want db to go after web, the rest at once", got)
	}
	if got := Down(w.obs, nil, DownOptions{Volumes: []string{"demo_data"}, RemoveVolumes: true}).Teardown; len(got) != 1 || got[0].Target != "demo_data" {
		t.Errorf("down -v teardown: %v", got)
	}
}

func TestStopStartRestart(t *testing.T) {
	p := load(t, twoWeb, "")
	w := newWorld(p).ctr("web", 1, 1, "exited").ctr("web", 1, 2, "running").ctr("web", 2, 2, "exited")
	if got, want := Stop(w.obs, nil, nil).String(), "setup: stop web#1\n"; got != want {
		t.Errorf("stop:\n%s\nwant:\n%s", got, want)
	}
	// Start leaves the kept revision 1 alone: starting it is a rollback's job.
	if got, want := Start(w.obs, []string{"web"}, time.Minute).String(), "setup: start web#2\nsetup: wait-ready demo\n"; got != want {
		t.Errorf("start:\n%s\nwant:\n%s", got, want)
	}
	// The stopped one first: starting it only adds to what serves.
	want := `setup: start web#2
setup: wait-ready web#2
setup: stop web#1
setup: start web#1
setup: wait-ready web#1
`
	if got := Restart(w.obs, nil, nil, time.Minute, nil).String(); got != want {
		t.Errorf("restart:\n%s\nwant:\n%s", got, want)
	}
}

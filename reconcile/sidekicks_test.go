package reconcile

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// A sidekick runs at its primary's scale, slot by slot: the primary's
// container n takes its volumes from the sidekick's container n.
func TestSidekickUp(t *testing.T) {
	p := load(t, fmt.Sprintf(sidekickFile, "v1"), "web:\n  scale: 2\n")
	plan, err := Up(p, newWorld(p).obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var froms []string
	for _, s := range flatten(append(plan.Services[0].Steps, plan.Services[1].Steps...)) {
		if c, ok := s.Action.(CreateContainer); ok {
			froms = append(froms, fmt.Sprintf("%s%v", c.Request.Name, c.Request.HostConfig.VolumesFrom))
		}
	}
	if got, want := strings.Join(froms, " "), "demo-data-1[] demo-data-2[] demo-web-1[demo-data-1] demo-web-2[demo-data-2]"; got != want {
		t.Errorf("creates %s\nwant %s", got, want)
	}
	if plan.Services[1].Service != "web" || strings.Join(plan.Services[1].After, ",") != "data" {
		t.Errorf("web's plan comes after %v; want after its sidekick data", plan.Services[1].After)
	}

	// Scaling the primary scales its sidekick; a sidekick alone cannot be.
	w := newWorld(p).ctr("data", 1, 1, "running").ctr("data", 2, 1, "running").ctr("web", 1, 1, "running").ctr("web", 2, 1, "running")
	plan, err = Up(p, w.obs, Options{Scale: map[string]int{"web": 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := `data: stop data#2 (surplus: scale 1)
data: remove data#2 (surplus: scale 1)
web: stop web#2 (surplus: scale 1)
web: remove web#2 (surplus: scale 1)
`
	if got := plan.String(); got != want {
		t.Errorf("scale web=1:\n%s\nwant:\n%s", got, want)
	}
	if _, err := Up(p, w.obs, Options{Scale: map[string]int{"data": 3}}); err == nil || !strings.Contains(err.Error(), `service "data" is a sidekick of "web" and runs at its scale: scale web instead`) {
		t.Errorf("scale data=3: %v", err)
	}
	// Naming one member of a unit names the unit.
	plan, _ = Up(p, newWorld(p).obs, Options{Services: []string{"web"}})
	if len(plan.Services) != 2 {
		t.Errorf("up web plans %d services, want web and its sidekick", len(plan.Services))
	}
}

// A primary and its sidekick are upgraded in the same batches, each slot's
// pair in one lane: the new sidekick is created first, and the new primary
// takes its volumes from it (not from the old one, which still holds the
// slot's name); the old primary stops before the old sidekick. A sidekick
// in sync is upgraded with its primary all the same.
func TestSidekickUpgrade(t *testing.T) {
	file := strings.Replace(sidekickFile, "image: drover-hello:%[1]s\n    restart: unless-stopped", "image: drover-hello:v1\n    restart: unless-stopped", 1)
	p1 := load(t, fmt.Sprintf(file, "v1"), "web:\n  scale: 2\n  upgrade_strategy: {start_first: false, batch_size: 1, interval_millis: 0}\n")
	p2 := load(t, fmt.Sprintf(file, "v2"), "web:\n  scale: 2\n  upgrade_strategy: {start_first: false, batch_size: 1, interval_millis: 0}\n")
	start := simulate(t, newWorld(p1).obs, mustPlan(Up(p1, newWorld(p1).obs, Options{})))
	plan, err := Upgrade(p2, start, UpgradeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := `web: batch web (1/2: data#1, web#1)
web: create data#1 (revision 2)
web: create web#1 (revision 2)
web: set-restart web#1 (keep for rollback)
web: stop web#1 (keep for rollback)
web: rename web#1 (keep for rollback)
web: set-restart data#1 (keep for rollback)
web: stop data#1 (keep for rollback)
web: rename data#1 (keep for rollback)
web: start data#1
web: start web#1
web: wait-healthy data (batch 1, sidekick of web)
web: wait-healthy web (batch 1)
web: set-restart data#1 (passed its health gate)
web: rename data#1 (passed its health gate)
web: set-restart web#1 (passed its health gate)
web: rename web#1 (passed its health gate)
web: batch web (2/2: data#2, web#2)
web: create data#2 (revision 2)
web: create web#2 (revision 2)
web: set-restart web#2 (keep for rollback)
web: stop web#2 (keep for rollback)
web: rename web#2 (keep for rollback)
web: set-restart data#2 (keep for rollback)
web: stop data#2 (keep for rollback)
web: rename data#2 (keep for rollback)
web: start data#2
web: start web#2
web: wait-healthy data (batch 2, sidekick of web)
web: wait-healthy web (batch 2)
web: set-restart data#2 (passed its health gate)
web: rename data#2 (passed its health gate)
web: set-restart web#2 (passed its health gate)
web: rename web#2 (passed its health gate)
note: data: upgraded with web, its primary, in the same batches
`
	if got := plan.String(); got != want {
		t.Errorf("plan:\n%s\nwant:\n%s", got, want)
	}
	for _, s := range flatten(webSteps(plan)) {
		if c, ok := s.Action.(CreateContainer); ok && strings.HasPrefix(c.Request.Name, "demo-web-") {
			n := strings.TrimSuffix(strings.TrimPrefix(c.Request.Name, "demo-web-"), "-r2")
			if from := strings.Join(c.Request.HostConfig.VolumesFrom, ","); from != "demo-data-"+n+"-r2" {
				t.Errorf("%s takes volumes from %s; want the new sidekick demo-data-%s-r2", c.Request.Name, from, n)
			}
		}
	}
	// A rollback or a confirm of the primary is one of the unit.
	upgraded := simulate(t, start, plan)
	rb, err := Rollback(upgraded, RollbackOptions{Services: []string{"web"}, Timeout: time.Minute})
	if err != nil || len(rb.Services) != 2 {
		t.Errorf("rollback web: %v\n%s", err, rb)
	}
	if c, err := Confirm(upgraded, []string{"data"}, false); err != nil || len(c.Services) != 2 {
		t.Errorf("confirm data: %v\n%s", err, c)
	}
}

// Rancher's net: container:SIDEKICK (v1 layout) names the sidekick's
// service: the primary joins the network namespace of the sidekick of its
// own slot, which it comes after.
func TestSidekickNetworkNamespace(t *testing.T) {
	p := load(t, "web:\n  image: drover-hello:v1\n  net: container:net\n  labels: {io.rancher.sidekicks: net}\nnet:\n  image: drover-hello:v1\n", "web:\n  scale: 2\n")
	plan, err := Up(p, newWorld(p).obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var modes []string
	for _, sp := range plan.Services {
		if sp.Service == "web" && strings.Join(sp.After, ",") != "net" {
			t.Errorf("web comes after %v; want net", sp.After)
		}
		for _, s := range flatten(sp.Steps) {
			if c, ok := s.Action.(CreateContainer); ok && sp.Service == "web" {
				modes = append(modes, string(c.Request.HostConfig.NetworkMode))
			}
		}
	}
	if got := strings.Join(modes, " "); got != "container:demo-net-1 container:demo-net-2" {
		t.Errorf("network modes %s", got)
	}
}

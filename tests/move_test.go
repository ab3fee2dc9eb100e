package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMoveBehindTheProxy: a service made with its port on its container
// (x-drover: {proxy: false}, as every project from before the proxy was the
// default, or from docker-compose) moves behind the front proxy only when
// asked. A plain up says how and changes nothing; up --upgrade moves it
// under load, with the port closed once, briefly; --rollback brings the
// original container back on its own port and removes the proxy; the move
// again and a confirm finish it.
func TestMoveBehindTheProxy(t *testing.T) {
	port := freePort(t)
	direct := "services:\n  site:\n    image: IMAGE:%s\n    ports: ['127.0.0.1:%d:80']\n    x-drover: {proxy: false}\n"
	byDefault := "services:\n  site:\n    image: IMAGE:%s\n    ports: ['127.0.0.1:%d:80']\n"
	p := newProject(t, fmt.Sprintf(direct, "v1", port), "")
	p.mustDrover("up")
	url := fmt.Sprintf("http://127.0.0.1:%d/version", port)
	original := p.ids()

	p.write("docker-compose.yml", fmt.Sprintf(byDefault, "v2", port))
	r := p.drover("up") // exit 3: v2 is not applied by a plain up
	if r.code != 3 || !strings.Contains(r.stdout+r.stderr, "site: its containers publish port "+fmt.Sprint(port)+" themselves; drover up --upgrade moves it behind the front proxy") {
		t.Errorf("plain up does not say the service can move:\n%s", r)
	}
	if got := p.ids(); fmt.Sprint(got) != fmt.Sprint(original) {
		t.Fatalf("plain up changed the containers: %v, was %v", got, original)
	}

	load := startLoad(url, 4, 3)
	time.Sleep(300 * time.Millisecond)
	r = p.mustDrover("--progress", "json", "up", "--upgrade")
	time.Sleep(300 * time.Millisecond)
	load.finish()
	closed := load.lastFail.Sub(load.firstFail)
	t.Logf("the move: %d requests answered, %d failed, within %v; versions %v", load.ok.Load(), load.failed.Load(), closed, load.versions)
	if !strings.Contains(r.stdout+r.stderr, "moving site behind the front proxy") || strings.Contains(r.stderr, "drover up --upgrade moves it") {
		t.Errorf("up --upgrade does not say it moves the service:\n%s", r)
	}
	// The port closes once, from the old container's stop to the proxy's
	// start: failures, if any, fall within the run, from that stop on.
	closedOnlyDuring(t, load, r, "site#1", "stop")
	if load.versions["v1"] == 0 || load.versions["v2"] == 0 {
		t.Errorf("versions seen %v, want v1 then v2", load.versions)
	}
	if v := get(t, url); v != "v2\n" {
		t.Errorf("after the move: %q", v)
	}
	proxyHolds(t, p, port, true)

	r = p.mustDrover("up", "--rollback")
	if v := get(t, url); v != "v1\n" {
		t.Errorf("after the rollback: %q\n%s", v, r)
	}
	if got := p.ids(); fmt.Sprint(got) != fmt.Sprint(original) {
		t.Errorf("after the rollback: containers %v, want the original %v", got, original)
	}
	proxyHolds(t, p, port, false)

	p.mustDrover("up", "--upgrade", "--confirm-upgrade")
	if v := get(t, url); v != "v2\n" {
		t.Errorf("after the move and confirm: %q", v)
	}
	proxyHolds(t, p, port, true)
	if r := p.mustDrover("up"); strings.Contains(r.stdout+r.stderr, "publish port") {
		t.Errorf("a plain up after the move still offers it:\n%s", r)
	}
}

// proxyHolds checks who publishes the port: the project's proxy (behind:
// its launcher opens it on the host) or the site's own container.
func proxyHolds(t *testing.T, p *project, port int, behind bool) {
	t.Helper()
	want := fmt.Sprintf("127.0.0.1:%d", port)
	holders := []string{}
	for _, c := range p.allContainers() {
		info, err := docker.ContainerInspect(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !info.State.Running {
			continue
		}
		for _, bs := range info.HostConfig.PortBindings {
			for _, b := range bs {
				if b.HostIP+":"+b.HostPort == want {
					holders = append(holders, strings.TrimPrefix(info.Name, "/"))
				}
			}
		}
		if strings.Contains(info.Config.Labels["io.drover.proxy-ports"], `"`+want+`"`) && info.HostConfig.NetworkMode == "host" {
			holders = append(holders, strings.TrimPrefix(info.Name, "/"))
		}
	}
	wantHolder := p.name + "-site-1"
	if behind {
		wantHolder = p.name + "-proxy-ports"
	}
	if len(holders) != 1 || holders[0] != wantHolder {
		t.Errorf("port %d is published by %v, want %s", port, holders, wantHolder)
	}
}

// TestLeaveTheProxy: a service behind the front proxy whose files now say
// x-drover: {proxy: false} leaves it only when asked. A plain up says how
// and changes nothing (exit 3); up --upgrade, under load, removes the proxy
// (it served nothing else) and starts the new container on the port, with
// the port closed once, briefly; a rollback is refused before any change
// (the kept container was served by a proxy that is gone), and going
// forward again (x-drover: {proxy: true}) moves it back behind a new proxy.
func TestLeaveTheProxy(t *testing.T) {
	t.Parallel()
	port := freePort(t)
	behind := "services:\n  site:\n    image: IMAGE:%s\n    ports: ['127.0.0.1:%d:80']\n"
	out := "services:\n  site:\n    image: IMAGE:%s\n    ports: ['127.0.0.1:%d:80']\n    x-drover: {proxy: false}\n"
	p := newProject(t, fmt.Sprintf(behind, "v1", port), "")
	p.mustDrover("up")
	url := fmt.Sprintf("http://127.0.0.1:%d/version", port)
	proxyHolds(t, p, port, true)
	original := p.ids()

	p.write("docker-compose.yml", fmt.Sprintf(out, "v2", port))
	r := p.drover("up")
	if r.code != 3 || !strings.Contains(r.stdout+r.stderr, "site: the front proxy serves its port "+fmt.Sprint(port)+", but the files say x-drover: {proxy: false}; drover up --upgrade takes it out") {
		t.Errorf("plain up does not say the service can leave the proxy (exit 3):\n%s", r)
	}
	if got := p.ids(); fmt.Sprint(got) != fmt.Sprint(original) {
		t.Fatalf("plain up changed the containers: %v, was %v", got, original)
	}

	load := startLoad(url, 4, 3)
	time.Sleep(300 * time.Millisecond)
	r = p.mustDrover("--progress", "json", "up", "--upgrade")
	time.Sleep(300 * time.Millisecond)
	load.finish()
	closed := load.lastFail.Sub(load.firstFail)
	t.Logf("the leave: %d requests answered, %d failed, within %v; versions %v", load.ok.Load(), load.failed.Load(), closed, load.versions)
	if !strings.Contains(r.stdout+r.stderr, "taking site out from behind the front proxy: the ports close once, from the proxy's removal") {
		t.Errorf("up --upgrade does not say it takes the service out:\n%s", r)
	}
	closedOnlyDuring(t, load, r, p.name+"-proxy", "remove")
	if load.versions["v1"] == 0 || load.versions["v2"] == 0 {
		t.Errorf("versions seen %v, want v1 then v2", load.versions)
	}
	if v := get(t, url); v != "v2\n" {
		t.Errorf("after the leave: %q", v)
	}
	proxyHolds(t, p, port, false)
	if _, err := docker.ContainerInspect(context.Background(), p.name+"-proxy"); err == nil {
		t.Errorf("the proxy, which served only site, is left")
	}
	if r := p.mustDrover("up"); strings.Contains(r.stdout+r.stderr, "takes it out") {
		t.Errorf("a plain up after the leave still offers it:\n%s", r)
	}

	before := p.ids()
	r = p.drover("up", "--rollback")
	if r.code != 1 || !strings.Contains(r.stderr, `service "site": its kept containers were served by the front proxy, which no longer has its ports`) {
		t.Errorf("rollback of a leave is not refused:\n%s", r)
	}
	if got := p.ids(); fmt.Sprint(got) != fmt.Sprint(before) {
		t.Errorf("the refused rollback changed the containers: %v, was %v", got, before)
	}

	p.write("docker-compose.yml", fmt.Sprintf(behind, "v2", port))
	p.mustDrover("up", "--upgrade", "--confirm-upgrade")
	if v := get(t, url); v != "v2\n" {
		t.Errorf("back behind the proxy: %q", v)
	}
	proxyHolds(t, p, port, true)
}

// closedOnlyDuring checks that the load's failures, if any, fall between the
// beginning of the step that closes the port (action on target, from the
// run's --progress json) and the run's last event: the port closes once,
// inside the run, however fast the engine is.
func closedOnlyDuring(t *testing.T, load *clientLoad, r result, target, action string) {
	t.Helper()
	var from, to time.Time
	for _, line := range strings.Split(r.stdout, "\n") {
		var ev struct {
			Time                  time.Time
			Target, Action, Phase string
		}
		if json.Unmarshal([]byte(line), &ev) != nil || ev.Time.IsZero() {
			continue
		}
		if from.IsZero() && ev.Target == target && ev.Action == action {
			from = ev.Time
		}
		to = ev.Time
	}
	if from.IsZero() {
		t.Fatalf("no %s of %s in the run's events:\n%s", action, target, r)
	}
	if load.failed.Load() == 0 {
		return
	}
	if load.firstFail.Before(from) || load.lastFail.After(to) {
		t.Errorf("failures from %s to %s, outside the run from the %s of %s (%s) to its end (%s); errors %q",
			load.firstFail.Format("15:04:05.000"), load.lastFail.Format("15:04:05.000"), action, target, from.Format("15:04:05.000"), to.Format("15:04:05.000"), load.errs)
	}
}

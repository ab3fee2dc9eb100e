package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The three cases a new user hit (issue 7): scale 1, stop-first, a host
// port, and a release that crashes about a second after it starts.

// crashingSite is the walk-through's service: v1, then a v2 that exits
// with status 3 a second after it starts. Without a health check, the
// upgrade's gate is the monitor period (2 s), which the crash fails.
const crashingSite = "services:\n  site:\n    image: IMAGE:%s\n    restart: always\n    healthcheck: {disable: true}\n    environment: {CRASH_AFTER: %q}\n    ports: ['127.0.0.1:%d:80']\n"

const stopFirstOne = "services:\n  site:\n    upgrade_strategy: {start_first: false, batch_size: 1}\n"

type event struct{ Target, Action, Phase, Reason string }

// liveRun is a drover run whose --progress json events are read as they
// come.
type liveRun struct {
	cmd    *exec.Cmd
	events chan event
	stderr strings.Builder
}

func (p *project) startJSON(args ...string) *liveRun {
	p.t.Helper()
	r := &liveRun{events: make(chan event, 100)}
	r.cmd = exec.Command(droverBin, append([]string{"-p", p.name, "--progress", "json"}, args...)...)
	r.cmd.Dir, r.cmd.Env = p.dir, cleanEnviron()
	r.cmd.Stderr = &r.stderr
	out, err := r.cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := r.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	go func() {
		defer close(r.events)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev event
			if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Action != "" {
				r.events <- ev
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	return r
}

// until waits for the first event with this action and phase and returns
// it; it fails the test if the run ends first.
func (r *liveRun) until(t *testing.T, action, phase string) event {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-r.events:
			if !ok {
				_ = r.cmd.Wait()
				t.Fatalf("drover ended before %s %s:\n%s", action, phase, r.stderr.String())
			}
			if ev.Action == action && ev.Phase == phase {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s %s within a minute", action, phase)
		}
	}
}

// stop sends a signal and returns the exit status.
func (r *liveRun) stop(sig os.Signal) int {
	_ = r.cmd.Process.Signal(sig)
	go func() {
		for range r.events {
		}
	}()
	_ = r.cmd.Wait()
	return r.cmd.ProcessState.ExitCode()
}

type statusRow struct{ Service, State, Next string }

func (p *project) status() statusRow {
	p.t.Helper()
	r := p.mustDrover("status", "--format", "json")
	var rows []statusRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
		p.t.Fatalf("status: %v\n%s", err, r)
	}
	return rows[0]
}

// crashingUpgrade brings v1 up and starts the upgrade to the crashing v2;
// it returns the run, the URL of the site and v1's container ID.
func crashingUpgrade(t *testing.T) (*project, *liveRun, string, string) {
	port := freePort(t)
	p := newProject(t, fmt.Sprintf(crashingSite, "v1", "", port), stopFirstOne)
	p.mustDrover("up")
	url := fmt.Sprintf("http://127.0.0.1:%d/version", port)
	_, ids := byRole(p.ps(), "serving")
	if len(ids) != 1 {
		t.Fatalf("v1 runs %d containers", len(ids))
	}
	p.write("docker-compose.yml", fmt.Sprintf(crashingSite, "v2", "1s", port))
	return p, p.startJSON("up", "--upgrade"), url, ids[0]
}

// v1Serves checks that the original v1 container serves, alone.
func v1Serves(t *testing.T, p *project, url, v1 string, what string) {
	t.Helper()
	var rows []psRow
	for _, r := range p.ps("-a") {
		if r.Role != "proxy" && r.Role != "proxy-ports" { // the site's port is behind the front proxy
			rows = append(rows, r)
		}
	}
	if _, ids := byRole(rows, "serving"); len(rows) != 1 || len(ids) != 1 || ids[0] != v1 {
		t.Errorf("%s: containers %+v, want only the original v1 %s", what, rows, v1)
	}
	if v := get(t, url); v != "v1\n" {
		t.Errorf("%s: the site answers %q, want v1", what, v)
	}
}

// Case 1: Ctrl-C during the health wait of the new container. The status
// must not say upgraded, a confirm must be refused, and both pieces of
// advice must work: up --upgrade fails the crashing release again and
// rolls back; --rollback brings v1 back.
func TestCtrlCDuringHealthWait(t *testing.T) {
	for _, next := range []string{"upgrade", "rollback"} {
		t.Run(next, func(t *testing.T) {
			p, run, url, v1 := crashingUpgrade(t)
			run.until(t, "wait-healthy", "begun")
			if code := run.stop(os.Interrupt); code != 130 {
				t.Errorf("interrupted upgrade exited %d, want 130", code)
			}
			if want := "interrupted: site is upgrading; next: drover up --upgrade site (go on to revision 2) or drover up --rollback site (back to revision 1)"; !strings.Contains(run.stderr.String(), want) {
				t.Errorf("stderr lacks %q:\n%s", want, run.stderr.String())
			}
			// v2 crashes a second after its start: on a loaded engine
			// the exit can take longer to show.
			st := p.status()
			for deadline := time.Now().Add(20 * time.Second); st.State == "upgrading" && time.Now().Before(deadline); st = p.status() {
				time.Sleep(250 * time.Millisecond)
			}
			if st.State != "upgrade-failed" || !strings.Contains(st.Next, "drover up --rollback site") || strings.Contains(st.Next, "confirm") {
				t.Errorf("status once v2 crashed: %+v", st)
			}
			if r := p.drover("up", "--confirm-upgrade"); r.code != 1 || !strings.Contains(r.stderr, "revision 2 has failed") {
				t.Errorf("confirm of the crashed release:\n%s", r)
			}
			if n := len(p.containers()); n != 3 {
				t.Errorf("after the refused confirm: %d containers, want v1 kept, v2 and the front proxy", n)
			}
			switch next {
			case "upgrade":
				r := p.drover("up", "--upgrade")
				if r.code != 1 || !strings.Contains(r.stderr, "exited with status 3") || !strings.Contains(r.stderr, "rolling back site") {
					t.Errorf("up --upgrade after the interruption:\n%s", r)
				}
			case "rollback":
				p.mustDrover("up", "--rollback")
			}
			v1Serves(t, p, url, v1, "after up --"+next)
		})
	}
}

// Case 2: Ctrl-C while the old container is being stopped: the site is
// down, and --rollback must bring v1 back (it did not: the old container
// was stopped but not yet renamed, and nothing showed that an upgrade had
// begun).
func TestCtrlCWhileTheOldContainerStops(t *testing.T) {
	p, run, url, v1 := crashingUpgrade(t)
	run.until(t, "stop", "begun")
	if code := run.stop(os.Interrupt); code != 130 {
		t.Errorf("interrupted upgrade exited %d, want 130", code)
	}
	if st := p.status(); st.State != "upgrading" || !strings.Contains(st.Next, "drover up --rollback site") {
		t.Errorf("status after the interruption: %+v", st)
	}
	p.mustDrover("up", "--rollback")
	v1Serves(t, p, url, v1, "after the rollback")
	if policy := restartPolicy(t, v1); policy != "always" {
		t.Errorf("v1 has restart policy %q after the rollback, want its own, always", policy)
	}
}

// Case 3: while the new container is in its health wait, and after a
// kill -9 there, the status says upgrading, never upgraded.
func TestStatusDuringTheHealthWaitIsUpgrading(t *testing.T) {
	p, run, url, v1 := crashingUpgrade(t)
	run.until(t, "wait-healthy", "begun")
	if st := p.status(); st.State != "upgrading" {
		t.Errorf("status during the health wait: %+v", st)
	}
	run.stop(syscall.SIGKILL)
	if st := p.status(); st.State == "upgraded" {
		t.Errorf("status after kill -9 in the health wait: %+v", st)
	}
	p.mustDrover("up", "--rollback")
	v1Serves(t, p, url, v1, "after the rollback")
}

func restartPolicy(t *testing.T, id string) string {
	t.Helper()
	info, err := docker.ContainerInspect(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return string(info.HostConfig.RestartPolicy.Name)
}

// A rollback to a revision that cannot start again (its bind-mount source
// is gone) fails with that container's reason and leaves the new revision
// serving, rather than a service with nothing serving.
func TestFailedRollbackLeavesTheNewRevisionServing(t *testing.T) {
	port := freePort(t)
	site := "services:\n  site:\n    image: IMAGE:%s\n    ports: ['127.0.0.1:%d:80']\n    volumes: [{type: bind, source: ./data, target: /data, bind: {create_host_path: false}}]\n"
	p := newProject(t, fmt.Sprintf(site, "v1", port), stopFirstOne)
	if err := os.Mkdir(p.dir+"/data", 0o755); err != nil {
		t.Fatal(err)
	}
	p.mustDrover("up")
	// v2 does without the mount; v1 cannot start without it.
	p.write("docker-compose.yml", fmt.Sprintf("services:\n  site:\n    image: IMAGE:%s\n    ports: ['127.0.0.1:%d:80']\n", "v2", port))
	p.mustDrover("up", "--upgrade")
	_, v2 := byRole(p.ps(), "serving")
	if err := os.Remove(p.dir + "/data"); err != nil {
		t.Fatal(err)
	}
	r := p.drover("up", "--rollback")
	if r.code != 1 || !strings.Contains(r.stderr, "the kept revision of site did not come back: putting the new revision back") || !strings.Contains(r.stderr, "start site#1") {
		t.Errorf("rollback to a revision that cannot start:\n%s", r)
	}
	var rows []psRow
	for _, r := range p.ps("-a") {
		if r.Role != "proxy" && r.Role != "proxy-ports" {
			rows = append(rows, r)
		}
	}
	serving, ids := byRole(rows, "serving")
	if len(rows) != 2 || fmt.Sprint(ids) != fmt.Sprint(v2) || len(serving) != 1 || !strings.HasSuffix(serving[0], "@v2/running") || !strings.HasSuffix(serving[0][:strings.Index(serving[0], "@")], "-site-1") {
		t.Errorf("after the failed rollback: %+v, want v2 %v serving under its slot's name and v1 kept", rows, v2)
	}
	if v := get(t, fmt.Sprintf("http://127.0.0.1:%d/version", port)); v != "v2\n" {
		t.Errorf("after the failed rollback the site answers %q", v)
	}
	if st := p.status(); st.State != "upgraded" {
		t.Errorf("status after the failed rollback: %+v", st)
	}
}

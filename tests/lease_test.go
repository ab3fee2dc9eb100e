package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
)

// The lease tests prove that two drover runs never change one project at
// once, even when they share nothing but the engine: each run gets its own
// XDG_RUNTIME_DIR, as on two machines, unless a test says otherwise.

const (
	leaseImage = "drover-lease:1"
	// leaseSlowUpgrade is the rancher-compose.yml of a project whose
	// upgrade (two containers, one at a time) pauses between its batches
	// for interval_millis: an upgrade that lasts as long as a test needs.
	leaseSlowUpgrade = "services:\n  web:\n    scale: 2\n    upgrade_strategy: {batch_size: 1, interval_millis: %d}\n"
)

// leaseProject is an upped v1 project about to be upgraded to v2, with a
// pause of the given length in the middle of the upgrade. Its cleanup
// removes the project's lease container and, if this test is what brought
// the lease image, the image too (unless another project's lease uses it:
// the engine refuses to remove an image a container was made from, and
// drover loads it again when it is missing).
func leaseProject(t *testing.T, pause time.Duration) *project {
	t.Helper()
	_, err := docker.ImageInspect(context.Background(), leaseImage)
	imageWasThere := err == nil
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n", fmt.Sprintf(leaseSlowUpgrade, pause.Milliseconds()))
	t.Cleanup(func() {
		ctx := context.Background()
		if c, err := docker.ContainerInspect(ctx, leaseName(p)); err == nil && c.Config.Labels["io.drover.lease"] == p.name {
			_ = docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
		}
		if !imageWasThere {
			_, err := docker.ImageRemove(ctx, leaseImage, image.RemoveOptions{})
			if err != nil && !cerrdefs.IsNotFound(err) {
				t.Logf("lease image left on the engine: %v", err)
			}
		}
	})
	p.mustDrover("up")
	p.write("docker-compose.yml", "services:\n  web:\n    image: IMAGE:v2\n")
	return p
}

func leaseName(p *project) string { return "drover-lease-" + p.name }

// running is a drover process started in the background.
type running struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	exited         chan struct{} // closed when the process has ended
	res            result
}

// start runs drover -p NAME args... in the background with env added, in
// a runtime directory of its own unless env sets one.
func (p *project) start(env []string, args ...string) *running {
	p.t.Helper()
	r := &running{}
	r.cmd = exec.Command(droverBin, append([]string{"-p", p.name}, args...)...)
	r.cmd.Dir = p.dir
	r.cmd.Env = append(append(cleanEnviron(), "XDG_RUNTIME_DIR="+p.t.TempDir()), env...)
	r.cmd.Stdout, r.cmd.Stderr = &r.stdout, &r.stderr
	if err := r.cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	r.exited = make(chan struct{})
	go func() {
		defer close(r.exited)
		err := r.cmd.Wait()
		r.res = result{stdout: r.stdout.String(), stderr: r.stderr.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.res.code = ee.ExitCode() // -1 when killed by a signal
		}
	}()
	p.t.Cleanup(r.kill9)
	return r
}

func (r *running) pid() int { return r.cmd.Process.Pid }

func (r *running) wait() result {
	<-r.exited
	return r.res
}

func (r *running) done() bool {
	select {
	case <-r.exited:
		return true
	default:
		return false
	}
}

func (r *running) kill9() {
	if !r.done() {
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
	}
	<-r.exited
}

// otherMachine is the environment of a run that shares no runtime
// directory (so no flock) with any other: as if on another machine.
func otherMachine(t *testing.T, env ...string) []string {
	return append(env, "XDG_RUNTIME_DIR="+t.TempDir())
}

// waitLease waits until the project's lease container exists and returns it.
func waitLease(t *testing.T, p *project) container.InspectResponse {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := docker.ContainerInspect(context.Background(), leaseName(p)); err == nil {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no lease container %s after 15s", leaseName(p))
	return container.InspectResponse{}
}

func leaseExists(p *project) bool {
	_, err := docker.ContainerInspect(context.Background(), leaseName(p))
	return err == nil
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

func TestLeaseTwoRunsAtOnceOneProceeds(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	p := leaseProject(t, 3*time.Second)
	a := p.start(nil, "up", "--upgrade")
	b := p.start(nil, "up", "--upgrade")
	ra, rb := a.wait(), b.wait()
	winner, loser, winnerPID := ra, rb, a.pid()
	if rb.code == 0 {
		winner, loser, winnerPID = rb, ra, b.pid()
	}
	if winner.code != 0 || loser.code != 4 {
		t.Fatalf("want exactly one run to succeed and the other to exit 4 (held):\n--- run A\n%s\n--- run B\n%s", ra, rb)
	}
	t.Logf("the refused run said:\n%s", loser.stderr)
	host, _ := os.Hostname()
	mustContain(t, "the refused run's stderr", loser.stderr,
		"another drover run", "pid "+strconv.Itoa(winnerPID), "host "+host, `command "drover -p `+p.name+` up --upgrade"`,
		"since ", "drover unlock -p "+p.name)
	if strings.Contains(loser.stdout, "create") {
		t.Errorf("the refused run changed something:\n%s", loser)
	}
	if leaseExists(p) {
		t.Errorf("lease %s left after both runs ended", leaseName(p))
	}
	// The winner did the whole upgrade: v2 serves, v1 is kept.
	for _, c := range p.containers() {
		want := map[string]string{imageRepo + ":v2": "running", imageRepo + ":v1": "exited"}[c.Image]
		if c.State != want {
			t.Errorf("container %s of %s is %s, want %s", c.Names[0], c.Image, c.State, want)
		}
	}
}

func TestLeaseOfAKilledRunExpires(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	const ttl = 3 * time.Second
	env := []string{"DROVER_LEASE_TTL=" + ttl.String()}
	p := leaseProject(t, 2*time.Second)
	holder := p.start(env, "up", "--upgrade")
	c := waitLease(t, p)
	if got := c.Config.Labels["io.drover.lease.pid"]; got != strconv.Itoa(holder.pid()) {
		t.Errorf("lease names pid %s, want the holder's %d", got, holder.pid())
	}
	holder.kill9()
	killed := time.Now()

	// At once: the lease was renewed under a second ago, so it holds.
	r := p.droverEnv(otherMachine(t, env...), "-p", p.name, "up", "--upgrade")
	if r.code != 4 {
		t.Fatalf("a run right after the kill did not exit 4 (held); the lease should still hold:\n%s", r)
	}
	mustContain(t, "the refused run's stderr", r.stderr, "pid "+strconv.Itoa(holder.pid()), "expires in")
	if time.Since(killed) >= ttl {
		t.Fatalf("the refused run came %s after the kill, past the %s expiry: the check proves nothing", time.Since(killed), ttl)
	}

	// Once the lease has expired (at most ttl after the kill), the next run
	// breaks it, says so, and finishes the upgrade.
	time.Sleep(ttl - time.Since(killed) + 300*time.Millisecond)
	r = p.droverEnv(otherMachine(t, env...), "-p", p.name, "up", "--upgrade")
	if r.code != 0 {
		t.Fatalf("the run after the expiry failed:\n%s", r)
	}
	t.Logf("the run after the expiry said:\n%s", r.stderr)
	mustContain(t, "stderr", r.stderr, "broke a stale lease", "pid "+strconv.Itoa(holder.pid()))
	if leaseExists(p) {
		t.Errorf("lease left after the run ended")
	}
}

func TestLeaseOfAKilledRunOnThisMachineIsBrokenAtOnce(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	// Both runs share a runtime directory: the second gets the flock the
	// killed one held, finds there the ID of the lease still on the engine,
	// and so knows that its holder has exited. The default 30s TTL would
	// otherwise make it wait.
	p := leaseProject(t, 2*time.Second)
	dir := []string{"XDG_RUNTIME_DIR=" + t.TempDir()}
	holder := p.start(dir, "up", "--upgrade")
	waitLease(t, p)
	holder.kill9()
	start := time.Now()
	r := p.droverEnv(dir, "-p", p.name, "up", "--upgrade")
	if r.code != 0 {
		t.Fatalf("the run after the kill failed:\n%s", r)
	}
	mustContain(t, "stderr", r.stderr, "has exited without releasing it", "pid "+strconv.Itoa(holder.pid()))
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("the run took %s: it waited for the 30s lease", took)
	}
}

func TestLeaseIsRenewedThroughALongUpgrade(t *testing.T) {
	const ttl = 2 * time.Second
	env := []string{"DROVER_LEASE_TTL=" + ttl.String()}
	p := leaseProject(t, 10*time.Second) // the upgrade outlives four expiries
	holder := p.start(env, "up", "--upgrade")
	first := waitLease(t, p)
	time.Sleep(3 * ttl)
	if holder.done() {
		t.Fatalf("the upgrade ended before the test could check its lease:\n%s", holder.wait())
	}
	now := waitLease(t, p)
	if now.ID != first.ID {
		t.Errorf("the lease container changed (%.12s, then %.12s): it was broken", first.ID, now.ID)
	}
	beat := time.Duration(now.HostConfig.RestartPolicy.MaximumRetryCount) * time.Millisecond
	if beat < 2*ttl {
		t.Errorf("heartbeat %s after %s of holding it: the lease is not being renewed", beat, 3*ttl)
	}
	r := p.droverEnv(otherMachine(t, env...), "-p", p.name, "up", "--upgrade")
	if r.code != 4 {
		t.Fatalf("a second run during a renewed upgrade did not exit 4 (held):\n%s", r)
	}
	mustContain(t, "the refused run's stderr", r.stderr, "pid "+strconv.Itoa(holder.pid()), "last renewed")
	if strings.Contains(r.stderr, "stale") {
		t.Errorf("the refused run speaks of a stale lease:\n%s", r)
	}
	// Read-only commands do not take the lease, and do not show it.
	for _, args := range [][]string{{"ps", "-a"}, {"status"}} {
		out := p.mustDrover(args...)
		if strings.Contains(out.stdout, "drover-lease") {
			t.Errorf("drover %s shows the lease:\n%s", strings.Join(args, " "), out)
		}
	}
	if res := holder.wait(); res.code != 0 {
		t.Fatalf("the long upgrade failed:\n%s", res)
	}
	if leaseExists(p) {
		t.Errorf("lease left after the upgrade ended")
	}
}

func TestLeaseUnlock(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	p := leaseProject(t, 2*time.Second)
	holder := p.start(nil, "up", "--upgrade")
	lease := waitLease(t, p)
	holder.kill9()

	// The lease is no part of the project: no Compose label, so neither
	// drover ps nor docker compose ps lists it.
	for k := range lease.Config.Labels {
		if strings.HasPrefix(k, "com.docker.compose") {
			t.Errorf("the lease carries the Compose label %s", k)
		}
	}
	if out := p.mustDrover("ps", "-a"); strings.Contains(out.stdout, "drover-lease") || strings.Contains(out.stdout, lease.ID[:12]) {
		t.Errorf("drover ps shows the lease:\n%s", out)
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Logf("docker-compose not installed: not checking that docker-compose ps ignores the lease")
	} else {
		cmd := exec.Command("docker-compose", "-p", p.name, "ps", "-q")
		cmd.Dir = p.dir
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), lease.ID[:12]) {
			t.Errorf("docker-compose ps -q: %v\n%s", err, out)
		}
	}
	if cs, _ := docker.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+p.name))}); len(cs) == 0 {
		t.Errorf("the project has no containers: the checks above prove nothing")
	}

	// Without a terminal to confirm on, unlock refuses and removes nothing.
	r := p.droverEnv(nil, "unlock", "-p", p.name)
	if r.code == 0 || !leaseExists(p) {
		t.Fatalf("unlock without --yes and without a terminal:\n%s", r)
	}
	mustContain(t, "unlock's stderr", r.stderr, "--yes")
	mustContain(t, "unlock's stdout", r.stdout, "pid "+strconv.Itoa(holder.pid()), "still being renewed")

	r = p.droverEnv(nil, "unlock", "-p", p.name, "--yes")
	if r.code != 0 || leaseExists(p) {
		t.Fatalf("unlock --yes (lease still there: %v):\n%s", leaseExists(p), r)
	}
	mustContain(t, "unlock's stdout", r.stdout, "removed the lease on project \""+p.name+"\"")
	if r := p.drover("unlock", "-y"); r.code != 0 || !strings.Contains(r.stdout, "has no lease") {
		t.Errorf("unlock with no lease:\n%s", r)
	}
	// The next run proceeds at once, breaking nothing.
	r = p.droverEnv(otherMachine(t), "-p", p.name, "up", "--upgrade")
	if r.code != 0 || strings.Contains(r.stderr, "broke") {
		t.Fatalf("up --upgrade after unlock:\n%s", r)
	}
}

func TestLeaseRemovedUnderARunStopsIt(t *testing.T) {
	const ttl = 2 * time.Second
	env := []string{"DROVER_LEASE_TTL=" + ttl.String()}
	p := leaseProject(t, 10*time.Second)
	holder := p.start(env, "up", "--upgrade")
	waitLease(t, p)
	if r := p.droverEnv(nil, "unlock", "-p", p.name, "-y"); r.code != 0 {
		t.Fatalf("unlock -y:\n%s", r)
	}
	removed := time.Now()
	res := holder.wait()
	if res.code == 0 || !strings.Contains(res.stderr, "lost its lease") {
		t.Fatalf("the run whose lease was removed went on:\n%s", res)
	}
	// It notices at its next renewal, a third of the TTL later at most
	// (plus the time of the call).
	if took := time.Since(removed); took > ttl {
		t.Errorf("the run stopped %s after its lease was removed, want within %s", took, ttl/3)
	}
	// What it left is finished by the next run.
	if r := p.droverEnv(otherMachine(t, env...), "-p", p.name, "up", "--upgrade"); r.code != 0 {
		t.Fatalf("up --upgrade after the stopped run:\n%s", r)
	}
}

package tests

// Restart policies across upgrades (issue 19): a container kept for a
// rollback must not be started again by the engine, so it gets policy "no"
// before it is stopped; a rollback gives it its own policy back; drover stop
// leaves policies alone, as docker compose stop does. The second half runs
// a Docker engine of its own and restarts it, as a host reboot would.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/client"
)

const (
	restartCompose = "services:\n  web:\n    image: IMAGE:%s\n    restart: %s\n"
	restartRancher = "services:\n  web:\n    scale: 2\n    upgrade_strategy: {start_first: %v, batch_size: 1, interval_millis: 0}\n"
)

// policyOf is a container's restart policy as the engine has it, and its
// state.
func policyOf(t *testing.T, c *client.Client, id string) (policy, state string) {
	t.Helper()
	info, err := c.ContainerInspect(context.Background(), id)
	if err != nil {
		t.Fatalf("inspect %s: %v", id, err)
	}
	return string(info.HostConfig.RestartPolicy.Name), info.State.Status
}

// wantPolicies fails the test unless every container in ids has the policy.
func wantPolicies(t *testing.T, c *client.Client, what string, ids []string, want string) {
	t.Helper()
	for _, id := range ids {
		if got, state := policyOf(t, c, id); got != want {
			t.Errorf("%s: container %s (%s) has restart policy %q, want %q", what, id, state, got, want)
		}
	}
}

func TestRestartPolicyAcrossUpgradeRollbackConfirm(t *testing.T) {
	t.Parallel()
	for _, policy := range []string{"always", "unless-stopped"} {
		for _, startFirst := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/start_first=%v", policy, startFirst), func(t *testing.T) {
				t.Parallel()
				p := newProject(t, fmt.Sprintf(restartCompose, "v1", policy), fmt.Sprintf(restartRancher, startFirst))
				p.mustDrover("up")
				serving, v1IDs := byRole(p.ps(), "serving")
				wantAll(t, "serving after up", serving, 2, "@v1/running")
				wantPolicies(t, docker, "after up", v1IDs, policy)

				// stop and start change no policy.
				p.mustDrover("stop")
				stopped, _ := byRole(p.ps("-a"), "serving")
				wantAll(t, "after stop", stopped, 2, "@v1/exited")
				wantPolicies(t, docker, "after stop", v1IDs, policy)
				p.mustDrover("start")
				wantPolicies(t, docker, "after start", v1IDs, policy)

				p.write("docker-compose.yml", fmt.Sprintf(restartCompose, "v2", policy))
				p.mustDrover("up", "--upgrade")
				rows := p.ps("-a")
				serving, v2IDs := byRole(rows, "serving")
				kept, keptIDs := byRole(rows, "kept")
				wantAll(t, "serving after the upgrade", serving, 2, "@v2/running")
				wantAll(t, "kept after the upgrade", kept, 2, "@v1/exited")
				if fmt.Sprint(keptIDs) != fmt.Sprint(v1IDs) {
					t.Errorf("kept %v, want the original containers %v", keptIDs, v1IDs)
				}
				wantPolicies(t, docker, "kept after the upgrade", keptIDs, "no")
				wantPolicies(t, docker, "serving after the upgrade", v2IDs, policy)

				p.mustDrover("up", "--rollback")
				rows = p.ps("-a")
				serving, ids := byRole(rows, "serving")
				wantAll(t, "serving after the rollback", serving, 2, "@v1/running")
				if fmt.Sprint(ids) != fmt.Sprint(v1IDs) || len(rows) != 2 {
					t.Errorf("after the rollback: %v %v (%d containers), want the original %v", serving, ids, len(rows), v1IDs)
				}
				wantPolicies(t, docker, "after the rollback", v1IDs, policy)

				// Upgrade and confirm: nothing of revision 1 is left.
				p.mustDrover("up", "--upgrade")
				p.mustDrover("up", "--confirm-upgrade")
				rows = p.ps("-a")
				serving, ids = byRole(rows, "serving")
				wantAll(t, "serving after the confirm", serving, 2, "@v2/running")
				if len(rows) != 2 {
					t.Errorf("after the confirm: %+v, want the 2 new containers only", rows)
				}
				for _, r := range rows {
					if r.Revision == 1 {
						t.Errorf("after the confirm, a container of revision 1 is left: %+v", r)
					}
				}
				for _, id := range v1IDs {
					if _, err := docker.ContainerInspect(context.Background(), id); err == nil {
						t.Errorf("container %s of revision 1 still exists after the confirm", id)
					}
				}
				wantPolicies(t, docker, "after the confirm", ids, policy)
			})
		}
	}
}

// A container made by docker-compose carries no io.drover.restart label:
// its policy before the upgrade is recorded on the container that replaces
// it (io.drover.replaces-restart), and the rollback reads it from there.
func TestRollbackGivesADockerComposeContainerItsPolicyBack(t *testing.T) {
	needDockerCompose(t)
	p := newProject(t, fmt.Sprintf(restartCompose, "v1", "unless-stopped"), "")
	cmd := exec.Command("docker-compose", "-p", p.name, "up", "-d")
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	composeID := p.ids()[p.name+"_web_1"]
	if composeID == "" {
		t.Fatalf("no container %s_web_1: %v", p.name, p.ids())
	}
	wantPolicies(t, docker, "docker-compose's container", []string{composeID}, "unless-stopped")
	p.write("docker-compose.yml", fmt.Sprintf(restartCompose, "v2", "unless-stopped"))
	p.mustDrover("up", "--upgrade")
	rows := p.ps("-a")
	_, keptIDs := byRole(rows, "kept")
	_, newIDs := byRole(rows, "serving")
	if len(keptIDs) != 1 || keptIDs[0] != shortID(composeID) || len(newIDs) != 1 {
		t.Fatalf("after the upgrade: %+v; want docker-compose's container kept", rows)
	}
	wantPolicies(t, docker, "docker-compose's container, kept", keptIDs, "no")
	info, err := docker.ContainerInspect(context.Background(), newIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Config.Labels["io.drover.replaces-restart"]; got != "unless-stopped" {
		t.Errorf("the new container's io.drover.replaces-restart is %q, want unless-stopped", got)
	}
	p.mustDrover("up", "--rollback")
	wantPolicies(t, docker, "docker-compose's container after the rollback", []string{composeID}, "unless-stopped")
	if _, state := policyOf(t, docker, composeID); state != "running" {
		t.Errorf("docker-compose's container is %s after the rollback", state)
	}
}

// engine2 is a second Docker engine that a test runs and restarts: its own
// data and exec roots, socket, pid file and cgroup parent, in a network
// namespace of its own, without iptables rules and without the default
// bridge, so that it cannot disturb the main engine.
type engine2 struct {
	t                *testing.T // the test or subtest using it now
	owner            *testing.T // the test whose cleanup removes it
	ns, root, cgroup string
	sock, log        string
	dockerd, nsenter string
	unshare          string
	opts             engineOptions
	cmd              *exec.Cmd
	exited           chan struct{}
	c                *client.Client
}

// engineOptions shape an engine for a test that runs more than one (a
// swarm's workers).
type engineOptions struct {
	// hostname gives the engine a UTS namespace of its own with this host
	// name: a swarm names its nodes by their engines' host names.
	hostname string
	// network plumbs the engine's network namespace before dockerd starts
	// (it has only its loopback otherwise).
	network func(ns string) error
	// args are more dockerd flags.
	args []string
}

// newEngine2 starts the second engine or skips the test, saying why.
func newEngine2(t *testing.T) *engine2 {
	t.Helper()
	return startEngine2(t, engineOptions{})
}

// startEngine2 starts an engine of the test's own, shaped by opts, or skips
// the test, saying why.
func startEngine2(t *testing.T, opts engineOptions) *engine2 {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skipf("a second Docker engine needs root (network namespace, mounts, cgroups); running as uid %d", os.Geteuid())
	}
	e := &engine2{t: t, owner: t, opts: opts}
	var err error
	if e.dockerd, err = exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd is not installed (Debian package docker.io): " + err.Error())
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		t.Skip("ip is not installed (Debian package iproute2): " + err.Error())
	}
	// nsenter, not ip netns exec: ip netns exec mounts a fresh /sys,
	// which hides the cgroup mounts, and dockerd then fails with "Devices
	// cgroup isn't mounted".
	if e.nsenter, err = exec.LookPath("nsenter"); err != nil {
		t.Skip("nsenter is not installed (Debian package util-linux): " + err.Error())
	}
	if opts.hostname != "" {
		if e.unshare, err = exec.LookPath("unshare"); err != nil {
			t.Skip("unshare is not installed (Debian package util-linux): " + err.Error())
		}
	}
	tag := randomHex(3)
	e.ns, e.cgroup = "drover-e2e-"+tag, "drover-e2e-"+tag
	// A short root: the sockets under it must fit a unix socket path.
	if e.root, err = os.MkdirTemp("", "drover-eng-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.cleanup)
	if out, err := exec.Command(ip, "netns", "add", e.ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace (ip netns add %s): %v: %s", e.ns, err, out)
	}
	if out, err := exec.Command(ip, "-n", e.ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("ip -n %s link set lo up: %v: %s", e.ns, err, out)
	}
	if opts.network != nil {
		if err := opts.network(e.ns); err != nil {
			t.Fatalf("plumbing network namespace %s: %v", e.ns, err)
		}
	}
	// Its own configuration file: dockerd would otherwise read the main
	// engine's /etc/docker/daemon.json (its data-root among others).
	if err := os.WriteFile(filepath.Join(e.root, "daemon.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.sock = filepath.Join(e.root, "docker.sock")
	e.log = filepath.Join(e.root, "dockerd.log")
	if e.c, err = client.NewClientWithOpts(client.WithHost("unix://"+e.sock), client.WithAPIVersionNegotiation()); err != nil {
		t.Fatal(err)
	}
	if err := e.start(); err != nil {
		t.Skipf("a second Docker engine cannot run here: %v", err)
	}
	return e
}

// command is the program that becomes dockerd and its arguments: nsenter
// into the network namespace, behind unshare and hostname for an engine
// with a host name of its own. Each execs the next: dockerd keeps the pid.
func (e *engine2) command() (string, []string) {
	args := []string{"--net=/run/netns/" + e.ns, e.dockerd,
		"--config-file", filepath.Join(e.root, "daemon.json"),
		"--data-root", filepath.Join(e.root, "data"),
		"--exec-root", filepath.Join(e.root, "exec"),
		"--pidfile", filepath.Join(e.root, "docker.pid"),
		"-H", "unix://" + e.sock,
		"--bridge=none", "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--cgroup-parent=/" + e.cgroup,
	}
	args = append(args, e.opts.args...)
	if e.opts.hostname == "" {
		return e.nsenter, args
	}
	return e.unshare, append([]string{"--uts", "sh", "-c", `hostname "$0" && exec "$@"`, e.opts.hostname, e.nsenter}, args...)
}

// start runs dockerd and waits until it answers; the error quotes its log.
func (e *engine2) start() error {
	logf, err := os.OpenFile(e.log, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	name, args := e.command()
	e.cmd = exec.Command(name, args...)
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	// If the test binary dies without its cleanups (a timeout panic), the
	// engine is told to stop.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := e.cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	e.exited = exited
	go func(cmd *exec.Cmd) { _ = cmd.Wait(); close(exited) }(e.cmd)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("dockerd exited (%v): %s", e.cmd.ProcessState, e.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_, err := e.c.Ping(ctx)
		cancel()
		if err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("dockerd did not answer on %s within 60s: %s", e.sock, e.logTail())
}

// logTail is what dockerd said last: its fatal line if there is one.
func (e *engine2) logTail() string {
	data, _ := os.ReadFile(e.log)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], "failed to start daemon") || strings.Contains(lines[i], "level=fatal") {
			return lines[i]
		}
	}
	return strings.Join(lines[max(0, len(lines)-5):], "\n")
}

// stop ends dockerd with SIGTERM, as a shutdown does (it stops the
// containers first), and with SIGKILL after a minute.
func (e *engine2) stop() {
	if e.cmd == nil || e.cmd.Process == nil {
		return
	}
	select {
	case <-e.exited:
		return
	default:
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(60 * time.Second):
		e.t.Errorf("dockerd (pid %d) did not stop within 60s of SIGTERM; killing it", e.cmd.Process.Pid)
		_ = e.cmd.Process.Kill()
		<-e.exited
	}
}

// restart stops the engine and starts it again on the same roots.
func (e *engine2) restart() {
	e.t.Helper()
	t0 := time.Now()
	e.stop()
	stopped := time.Since(t0)
	if err := e.start(); err != nil {
		e.t.Fatalf("starting the second engine again: %v", err)
	}
	e.t.Logf("engine restarted: stopped in %s, answering %s later", stopped.Round(time.Millisecond), (time.Since(t0) - stopped).Round(time.Millisecond))
}

// cleanup stops the engine and removes all it made: leftover shims, mounts
// under its roots, the roots, its cgroups, the network namespace.
func (e *engine2) cleanup() {
	t := e.owner
	e.t = t
	e.stop()
	if e.c != nil {
		e.c.Close()
	}
	// A containerd shim names the containerd socket under the exec root;
	// only this engine's shims do.
	if procs, _ := filepath.Glob("/proc/[0-9]*/cmdline"); e.root != "" {
		for _, f := range procs {
			cmdline, _ := os.ReadFile(f)
			if strings.Contains(string(cmdline), e.root+"/") {
				var pid int
				fmt.Sscanf(f, "/proc/%d/cmdline", &pid)
				if pid > 0 && pid != os.Getpid() {
					t.Logf("killing process %d left by the second engine: %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
	}
	if e.root != "" {
		mounts := mountsUnder(e.root)
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmounting %s: %v", m, err)
			}
		}
		if err := os.RemoveAll(e.root); err != nil {
			t.Errorf("removing the second engine's roots: %v", err)
		}
	}
	if e.cgroup != "" {
		dirs, _ := filepath.Glob("/sys/fs/cgroup/*/" + e.cgroup)
		if d := "/sys/fs/cgroup/" + e.cgroup; isDir(d) {
			dirs = append(dirs, d)
		}
		for _, d := range dirs {
			removeCgroup(t, d)
		}
	}
	if e.ns != "" {
		if _, err := os.Stat("/run/netns/" + e.ns); err == nil {
			if out, err := exec.Command("ip", "netns", "delete", e.ns).CombinedOutput(); err != nil {
				t.Errorf("ip netns delete %s: %v: %s", e.ns, err, out)
			}
		}
	}
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// removeCgroup removes a cgroup directory and the ones under it, deepest
// first (a cgroup directory is removed with rmdir, never its files).
func removeCgroup(t *testing.T, dir string) {
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if en.IsDir() {
			removeCgroup(t, filepath.Join(dir, en.Name()))
		}
	}
	if err := syscall.Rmdir(dir); err != nil {
		t.Errorf("removing cgroup %s: %v", dir, err)
	}
}

// mountsUnder lists the mount points under dir, deepest first.
func mountsUnder(dir string) []string {
	data, _ := os.ReadFile("/proc/self/mountinfo")
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, strings.ReplaceAll(f[4], `\040`, " "))
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

// loadImages copies images from the main engine to the second one.
func (e *engine2) loadImages(refs ...string) {
	e.t.Helper()
	ctx := context.Background()
	rc, err := docker.ImageSave(ctx, refs)
	if err != nil {
		e.t.Fatalf("docker save %v: %v", refs, err)
	}
	defer rc.Close()
	resp, err := e.c.ImageLoad(ctx, rc, client.ImageLoadWithQuiet(true))
	if err != nil {
		e.t.Fatalf("docker load into the second engine: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	for _, r := range refs {
		if _, err := e.c.ImageInspect(ctx, r); err != nil {
			e.t.Fatalf("image %s not on the second engine after the load: %v", r, err)
		}
	}
}

// env points drover at the second engine. The lease TTL is short so that
// a run after a kill -9 is not refused for long.
func (e *engine2) env() []string {
	return []string{"DOCKER_HOST=unix://" + e.sock, "DROVER_LEASE_TTL=5s"}
}

func (e *engine2) drover(p *project, args ...string) result {
	p.t.Helper()
	return p.droverEnv(e.env(), append([]string{"-p", p.name}, args...)...)
}

func (e *engine2) mustDrover(p *project, args ...string) result {
	p.t.Helper()
	r := e.drover(p, args...)
	if r.code != 0 {
		p.t.Fatalf("drover %s (second engine) failed:\n%s", strings.Join(args, " "), r)
	}
	return r
}

func (e *engine2) ps(p *project) []psRow {
	p.t.Helper()
	r := e.mustDrover(p, "ps", "-a", "--format", "json")
	var rows []psRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		p.t.Fatalf("ps: %v\n%s", err, r)
	}
	return rows
}

// started is when each container last started, by ID.
func (e *engine2) started(ids []string) map[string]string {
	e.t.Helper()
	out := map[string]string{}
	for _, id := range ids {
		info, err := e.c.ContainerInspect(context.Background(), id)
		if err != nil {
			e.t.Fatalf("inspect %s: %v", id, err)
		}
		out[id] = info.State.StartedAt
	}
	return out
}

// waitRunning waits until the containers run (the engine starts the ones
// with a restart policy as it comes up).
func (e *engine2) waitRunning(ids []string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var notYet []string
		for _, id := range ids {
			if _, state := policyOf(e.t, e.c, id); state != "running" {
				notYet = append(notYet, id+" "+state)
			}
		}
		if len(notYet) == 0 {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("30s after the engine restart, not running: %v", notYet)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// afterRestart checks what an engine restart did: the containers of
// restarted started again (policy), those of stayed did not start since
// before (their StartedAt is unchanged) and are not running.
func (e *engine2) afterRestart(what string, before map[string]string, restarted, stayed []string) {
	e.t.Helper()
	e.waitRunning(restarted)
	now := e.started(append(slices.Clone(restarted), stayed...))
	for _, id := range restarted {
		if now[id] == before[id] {
			e.t.Errorf("%s: container %s runs but was not started again by the engine restart (started %s)", what, id, now[id])
		}
	}
	for _, id := range stayed {
		policy, state := policyOf(e.t, e.c, id)
		if state == "running" || now[id] != before[id] {
			e.t.Errorf("%s: container %s (policy %s) is %s, started %s (before the engine restart %s); want it left stopped", what, id, policy, state, now[id], before[id])
		}
	}
}

func TestEngineRestart(t *testing.T) {
	t.Parallel()
	e := newEngine2(t)
	e.loadImages(imageRepo+":v1", imageRepo+":v2")

	t.Run("upgraded", func(t *testing.T) {
		e.t = t
		defer func() { e.t = e.owner }()
		p := newProject(t, fmt.Sprintf(restartCompose, "v1", "always"), fmt.Sprintf(restartRancher, false))
		e.mustDrover(p, "up")
		_, v1IDs := byRole(e.ps(p), "serving")
		p.write("docker-compose.yml", fmt.Sprintf(restartCompose, "v2", "always"))
		e.mustDrover(p, "up", "--upgrade")
		rows := e.ps(p)
		_, v2IDs := byRole(rows, "serving")
		kept, keptIDs := byRole(rows, "kept")
		wantAll(t, "kept after the upgrade", kept, 2, "@v1/exited")
		wantPolicies(t, e.c, "kept after the upgrade", keptIDs, "no")
		wantPolicies(t, e.c, "serving after the upgrade", v2IDs, "always")

		before := e.started(append(slices.Clone(v1IDs), v2IDs...))
		e.restart()
		e.afterRestart("after the engine restart", before, v2IDs, v1IDs)
		rows = e.ps(p)
		serving, ids := byRole(rows, "serving")
		kept, keptIDs = byRole(rows, "kept")
		wantAll(t, "serving after the engine restart", serving, 2, "@v2/running")
		wantAll(t, "kept after the engine restart", kept, 2, "@v1/exited")
		if fmt.Sprint(ids) != fmt.Sprint(v2IDs) || fmt.Sprint(keptIDs) != fmt.Sprint(v1IDs) {
			t.Errorf("after the engine restart: serving %v kept %v, want %v and %v", ids, keptIDs, v2IDs, v1IDs)
		}
		if st := e.mustDrover(p, "status"); !strings.Contains(st.stdout, "upgraded") {
			t.Errorf("status after the engine restart:\n%s", st.stdout)
		}

		e.mustDrover(p, "up", "--rollback")
		rows = e.ps(p)
		serving, ids = byRole(rows, "serving")
		wantAll(t, "serving after the rollback", serving, 2, "@v1/running")
		if fmt.Sprint(ids) != fmt.Sprint(v1IDs) || len(rows) != 2 {
			t.Errorf("after the rollback: %v %v (%d containers), want the original %v", serving, ids, len(rows), v1IDs)
		}
		wantPolicies(t, e.c, "after the rollback", v1IDs, "always")
		// The policy given back works: the engine starts them again.
		before = e.started(v1IDs)
		e.restart()
		e.afterRestart("rolled back, after an engine restart", before, v1IDs, nil)
	})

	// Four upgrades killed at the keep steps of slot 1, one engine restart
	// for them all, then each finished or undone. Beside them, a stopped
	// project: drover stop keeps the policies, so the engine restart starts
	// "always" again and leaves "unless-stopped" stopped.
	t.Run("interrupted", func(t *testing.T) {
		e.t = t
		defer func() { e.t = e.owner }()
		type killed struct {
			name, at, then string
			p              *project
			v1             map[int]string // slot → original container
		}
		cases := []*killed{
			{name: "policy-then-upgrade", at: "set-restart", then: "upgrade"},
			{name: "policy-then-rollback", at: "set-restart", then: "rollback"},
			{name: "stop-then-upgrade", at: "stop", then: "upgrade"},
			{name: "stop-then-rollback", at: "stop", then: "rollback"},
		}
		var restarted, stayed []string
		for _, k := range cases {
			k.p = newProject(t, fmt.Sprintf(restartCompose, "v1", "always"), fmt.Sprintf(restartRancher, false))
			e.mustDrover(k.p, "up")
			k.v1 = map[int]string{}
			for _, r := range e.ps(k.p) {
				k.v1[r.Number] = r.ID
			}
			k.p.write("docker-compose.yml", fmt.Sprintf(restartCompose, "v2", "always"))
			killAt(t, e, k.p, k.at)
			_, state := policyOf(t, e.c, k.v1[1])
			t.Logf("%s: killed after %s of slot 1; its original container is %s", k.name, k.at, state)
			// Slot 1's container has policy no, whether the stop
			// happened or not; slot 2's was not touched.
			wantPolicies(t, e.c, k.name+": slot 1 after the kill", []string{k.v1[1]}, "no")
			wantPolicies(t, e.c, k.name+": slot 2 after the kill", []string{k.v1[2]}, "always")
			stayed = append(stayed, k.v1[1])
			restarted = append(restarted, k.v1[2])
		}
		stopped := newProject(t, "services:\n  a:\n    image: IMAGE:v1\n    restart: always\n  u:\n    image: IMAGE:v1\n    restart: unless-stopped\n", "")
		e.mustDrover(stopped, "up")
		e.mustDrover(stopped, "stop")
		var always, unlessStopped string
		for _, r := range e.ps(stopped) {
			if r.State != "exited" {
				t.Errorf("after drover stop: %+v", r)
			}
			if r.Service == "a" {
				always = r.ID
			} else {
				unlessStopped = r.ID
			}
		}
		wantPolicies(t, e.c, "after drover stop", []string{always}, "always")
		wantPolicies(t, e.c, "after drover stop", []string{unlessStopped}, "unless-stopped")
		restarted = append(restarted, always)
		stayed = append(stayed, unlessStopped)

		before := e.started(append(slices.Clone(restarted), stayed...))
		e.restart()
		e.afterRestart("interrupted upgrades and drover stop, after the engine restart", before, restarted, stayed)

		for _, k := range cases {
			if st := e.mustDrover(k.p, "status"); !strings.Contains(st.stdout, "upgrading") {
				t.Errorf("%s: status after the engine restart:\n%s", k.name, st.stdout)
			}
			v1IDs := []string{k.v1[1], k.v1[2]}
			sort.Strings(v1IDs)
			if k.then == "upgrade" {
				e.mustDrover(k.p, "up", "--upgrade")
				rows := e.ps(k.p)
				serving, ids := byRole(rows, "serving")
				kept, keptIDs := byRole(rows, "kept")
				wantAll(t, k.name+": serving after finishing", serving, 2, "@v2/running")
				wantAll(t, k.name+": kept after finishing", kept, 2, "@v1/exited")
				if fmt.Sprint(keptIDs) != fmt.Sprint(v1IDs) {
					t.Errorf("%s: kept %v, want the original %v", k.name, keptIDs, v1IDs)
				}
				wantPolicies(t, e.c, k.name+": kept after finishing", keptIDs, "no")
				wantPolicies(t, e.c, k.name+": serving after finishing", ids, "always")
			} else {
				e.mustDrover(k.p, "up", "--rollback")
				rows := e.ps(k.p)
				serving, ids := byRole(rows, "serving")
				wantAll(t, k.name+": serving after the rollback", serving, 2, "@v1/running")
				if fmt.Sprint(ids) != fmt.Sprint(v1IDs) || len(rows) != 2 {
					t.Errorf("%s: after the rollback %v %v (%d containers), want the original %v", k.name, serving, ids, len(rows), v1IDs)
				}
				wantPolicies(t, e.c, k.name+": after the rollback", v1IDs, "always")
			}
		}
	})
}

// killAt runs up --upgrade --progress json and kills it with SIGKILL as
// soon as the step named by action (set-restart or stop) is done for slot 1
// ("keep for rollback"). It fails the test unless that event came.
func killAt(t *testing.T, e *engine2, p *project, action string) {
	t.Helper()
	cmd := exec.Command(droverBin, "-p", p.name, "--progress", "json", "up", "--upgrade")
	cmd.Dir, cmd.Env = p.dir, append(cleanEnviron(), e.env()...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var seen []string
	hit := false
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		var ev struct{ Action, Phase, Reason, Target string }
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		seen = append(seen, ev.Action+" "+ev.Phase+" "+ev.Target)
		if ev.Action == action && ev.Phase == "done" && ev.Target == "web#1" && ev.Reason == "keep for rollback" {
			_ = cmd.Process.Signal(syscall.SIGKILL)
			hit = true
			break
		}
	}
	_, _ = io.Copy(io.Discard, out)
	_ = cmd.Wait()
	if !hit {
		t.Fatalf("no %q done event for web#1 before drover ended; events %v\nstderr:\n%s", action, seen, stderr.String())
	}
	if cmd.ProcessState.ExitCode() != -1 {
		t.Fatalf("drover ended by itself (exit %d) before it was killed at %s; events %v", cmd.ProcessState.ExitCode(), action, seen)
	}
}

// nsGetEnv makes the test binary a one-shot HTTP client (see init): the test
// starts it with nsenter inside the second engine's network namespace, where
// that engine publishes its ports, and reads what it printed.
const nsGetEnv = "DROVER_E2E_NSGET"

func init() {
	if url := os.Getenv(nsGetEnv); url != "" {
		c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
		resp, err := c.Get(url)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintf(os.Stderr, "%s: %v\n", resp.Status, err)
			os.Exit(1)
		}
		fmt.Print(string(body))
		os.Exit(0)
	}
}

// nsGet requests a URL from inside the second engine's network namespace
// and returns the body, or an error quoting what the client said.
func (e *engine2) nsGet(url string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(e.nsenter, "--net=/run/netns/"+e.ns, self)
	cmd.Env = append(os.Environ(), nsGetEnv+"="+url)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%v: %s", err, strings.TrimSpace(errb.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// nsWait polls url from inside the namespace until it answers want, for up
// to d; it returns how long that took and every other answer or error seen
// on the way, and fails the test if want never came.
func (e *engine2) nsWait(what, url, want string, d time.Duration) (took time.Duration, others map[string]int) {
	e.t.Helper()
	others = map[string]int{}
	t0 := time.Now()
	for {
		body, err := e.nsGet(url)
		if err == nil && body == want {
			return time.Since(t0), others
		}
		if err != nil {
			others["error: "+err.Error()]++
		} else {
			others["answer: "+body]++
		}
		if time.Since(t0) > d {
			e.t.Fatalf("%s: %s did not answer %q within %s from inside the engine's namespace; seen %v", what, url, want, d, others)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// addresses is each container's IP addresses on its networks, by ID.
func (e *engine2) addresses(ids []string) map[string][]string {
	e.t.Helper()
	out := map[string][]string{}
	for _, id := range ids {
		info, err := e.c.ContainerInspect(context.Background(), id)
		if err != nil {
			e.t.Fatalf("inspect %s: %v", id, err)
		}
		if info.NetworkSettings != nil {
			for _, n := range info.NetworkSettings.Networks {
				out[id] = append(out[id], n.IPAddress)
			}
		}
		sort.Strings(out[id])
	}
	return out
}

// The front proxy serves again after a host reboot without drover running
// (issue 19): a proxied service (restart: always) upgraded start-first on
// the second engine, that engine restarted, and a client inside its network
// namespace is served the new release by the proxy, which the engine
// restarted by its policy and which reads its table back from its own file;
// the kept container stays stopped and out of the proxy's table.
func TestProxyServesAfterEngineRestart(t *testing.T) {
	t.Parallel() // long and independent, like TestEngineRestart
	e := newEngine2(t)
	e.loadImages(imageRepo+":v1", imageRepo+":v2")
	// The engine publishes in its own namespace, where nothing listens:
	// any port will do; freePort picks one unused here too.
	port := freePort(t)
	site := "services:\n  site:\n    image: IMAGE:%s\n    restart: always\n    ports: [{target: 80, published: \"%d\", host_ip: 127.0.0.1, app_protocol: http}]\n    x-drover: {proxy: true}\n"
	p := newProject(t, fmt.Sprintf(site, "v1", port), "services:\n  site:\n    upgrade_strategy: {start_first: true}\n")
	url := fmt.Sprintf("http://127.0.0.1:%d/version", port)

	e.mustDrover(p, "up")
	e.nsWait("after up", url, "v1", 10*time.Second)
	p.write("docker-compose.yml", fmt.Sprintf(site, "v2", port))
	e.mustDrover(p, "up", "--upgrade")
	rows := e.ps(p)
	serving, v2IDs := byRole(rows, "serving")
	kept, v1IDs := byRole(rows, "kept")
	_, proxyIDs := byRole(rows, "proxy")
	wantAll(t, "serving after the upgrade", serving, 1, "@v2/running")
	wantAll(t, "kept after the upgrade", kept, 1, "@v1/exited")
	if len(proxyIDs) != 1 || len(v2IDs) != 1 || len(v1IDs) != 1 {
		t.Fatalf("after the upgrade: %+v; want one serving, one kept, one proxy", rows)
	}
	wantPolicies(t, e.c, "kept after the upgrade", v1IDs, "no")
	wantPolicies(t, e.c, "serving after the upgrade", v2IDs, "always")
	wantPolicies(t, e.c, "the proxy", proxyIDs, "unless-stopped")
	if body, err := e.nsGet(url); err != nil || body != "v2" {
		t.Fatalf("through the proxy after the upgrade, from inside the namespace: %q, %v; want v2", body, err)
	}
	wantProxy := []string{fmt.Sprintf("%d: %s-site-1-r2:80 serving", port, p.name)}
	if got := proxyField(t, e, p); !slices.Equal(got, wantProxy) {
		t.Errorf("status after the upgrade: proxy %q, want %q", got, wantProxy)
	}

	running := append(slices.Clone(v2IDs), proxyIDs...)
	before := e.started(append(slices.Clone(running), v1IDs...))
	addrBefore := e.addresses(running)
	e.restart()
	// No drover from here until the proxy has served v2 again.
	took, others := e.nsWait("after the engine restart, without drover", url, "v2", 30*time.Second)
	t.Logf("served v2 through the proxy %s after the engine answered again (other answers on the way: %v)", took.Round(time.Millisecond), others)
	for seen := range others {
		if strings.HasPrefix(seen, "answer: ") {
			t.Errorf("after the engine restart the proxy answered %q before v2", strings.TrimPrefix(seen, "answer: "))
		}
	}
	e.afterRestart("after the engine restart", before, running, v1IDs)
	addrAfter := e.addresses(running)
	for _, id := range running {
		t.Logf("container %s: addresses %v before the engine restart, %v after", id, addrBefore[id], addrAfter[id])
	}
	// A few more requests: all v2 (the kept v1 is stopped and not a backend).
	for i := 0; i < 5; i++ {
		if body, err := e.nsGet(url); err != nil || body != "v2" {
			t.Errorf("request %d after the engine restart: %q, %v; want v2", i, body, err)
		}
	}
	rows = e.ps(p)
	serving, ids := byRole(rows, "serving")
	kept, keptIDs := byRole(rows, "kept")
	wantAll(t, "serving after the engine restart", serving, 1, "@v2/running")
	wantAll(t, "kept after the engine restart", kept, 1, "@v1/exited")
	if !slices.Equal(ids, v2IDs) || !slices.Equal(keptIDs, v1IDs) {
		t.Errorf("after the engine restart: serving %v kept %v, want %v and %v", ids, keptIDs, v2IDs, v1IDs)
	}
	if got := proxyField(t, e, p); !slices.Equal(got, wantProxy) {
		t.Errorf("status after the engine restart: proxy %q, want %q", got, wantProxy)
	}
}

// proxyField is the proxy field of drover status --format json for the
// service site.
func proxyField(t *testing.T, e *engine2, p *project) []string {
	t.Helper()
	r := e.mustDrover(p, "status", "--format", "json")
	var doc any
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("status --format json: %v\n%s", err, r)
	}
	var found []string
	ok := false
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case []any:
			for _, x := range v {
				walk(x)
			}
		case map[string]any:
			if v["service"] == "site" {
				ok = true
				if px, _ := v["proxy"].([]any); px != nil {
					for _, x := range px {
						found = append(found, fmt.Sprint(x))
					}
				}
				return
			}
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	if !ok {
		t.Fatalf("no service site in status --format json:\n%s", r.stdout)
	}
	return found
}

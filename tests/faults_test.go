package tests

// The fault harness of issue 7: an upgrade interrupted after every one of
// its engine-changing steps (SIGINT, SIGKILL), and an upgrade whose engine
// connection drops or stalls at every one of its requests. After each
// fault the invariants are checked and the advice drover gives, then both
// ways out are taken, each from its own copy of the state: up --upgrade
// (the new revision serves, or, for a crashing image, the run fails and the
// previous revision serves again) and up --rollback (the original
// containers, by ID, under their names, running, with their own restart
// policy). Every cell counts repaired and lost; lost must be 0.
//
// The normal suite runs a fast subset; DROVER_FAULTS=full (make faults)
// runs the whole table.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// fxMode is an upgrade policy and shape under test.
type fxMode struct {
	name       string
	startFirst bool
	scale      int
	hostPort   bool
	// proxy: the service is behind the front proxy (x-drover: {proxy:
	// true}); its host port is the proxy's, and the upgrade switches the
	// proxy's table (proxy-switch steps, an exec in <project>-proxy).
	proxy bool
}

var (
	fxStopFirst1  = fxMode{"stop-first/1/port", false, 1, true, false}
	fxStopFirst4  = fxMode{"stop-first/4", false, 4, false, false}
	fxStartFirst4 = fxMode{"start-first/4", true, 4, false, false}
	// Behind the proxy, start-first is allowed on the published port.
	fxProxyStop1  = fxMode{"proxy/stop-first/1", false, 1, true, true}
	fxProxyStart1 = fxMode{"proxy/start-first/1", true, 1, true, true}
	fxProxyStart2 = fxMode{"proxy/start-first/2", true, 2, true, true}
)

// fxShape is a mode and a release.
type fxShape struct {
	m   fxMode
	img string
}

// fxImages: the good release (v2) and one that crashes half a second after
// it starts, before its first health probe (CRASH_AFTER in examples/hello).
// The service's restart policy is always; a new container runs with policy
// no until it passes its gate, so the gate sees it exit. The gate's bound
// (health_check.initializing_timeout) is 10 s: the engine is shared and at
// times slow.
var fxImages = []string{"good", "crash"}

func fxFull() bool { return os.Getenv("DROVER_FAULTS") == "full" }

// fxOnly keeps the shapes whose mode's name contains DROVER_FAULTS_ONLY
// when it is set (DROVER_FAULTS_ONLY=proxy: the proxied rows alone), and
// says which it left out.
func fxOnly(t *testing.T, shapes []fxShape) []fxShape {
	only := os.Getenv("DROVER_FAULTS_ONLY")
	if only == "" {
		return shapes
	}
	var kept []fxShape
	var out []string
	for _, s := range shapes {
		if strings.Contains(s.m.name, only) {
			kept = append(kept, s)
		} else {
			out = append(out, s.m.name+"/"+s.img)
		}
	}
	if len(kept) == 0 {
		t.Skipf("DROVER_FAULTS_ONLY=%s: no mode of this table matches (it has %s)", only, strings.Join(out, ", "))
	}
	if len(out) > 0 {
		t.Run("only", func(t *testing.T) {
			t.Skipf("DROVER_FAULTS_ONLY=%s leaves out %s", only, strings.Join(out, ", "))
		})
	}
	return kept
}

// fxSignals and fxFaultKinds keep the fast subset within the suite's time:
// it kills with SIGKILL only (a Ctrl-C at each point is what the newcomer
// tests and TestCtrlCStopsBetweenSteps cover) and drops connections only
// (a delayed answer costs the engine timeout per cell); the full table has
// both.
func fxSignals() []syscall.Signal {
	if fxFull() {
		return []syscall.Signal{syscall.SIGINT, syscall.SIGKILL}
	}
	return []syscall.Signal{syscall.SIGKILL}
}

func fxFaultKinds() []string {
	if fxFull() {
		return []string{"drop", "delay"}
	}
	return []string{"drop"}
}

// fxParallel is how many cells run at once (DROVER_FAULTS_PARALLEL, 3).
func fxParallel() int {
	if n, err := strconv.Atoi(os.Getenv("DROVER_FAULTS_PARALLEL")); err == nil && n > 0 {
		return n
	}
	return 3
}

// fxFiles are the compose and rancher-compose files of a mode at a release
// ("v1", "good" or "crash").
func fxFiles(m fxMode, release string, port int) (string, string) {
	var b strings.Builder
	b.WriteString("services:\n  web:\n")
	switch release {
	case "v1":
		b.WriteString("    image: IMAGE:v1\n")
	case "good":
		b.WriteString("    image: IMAGE:v2\n")
	case "crash":
		b.WriteString("    image: IMAGE:v2\n    environment: {CRASH_AFTER: 500ms}\n")
	}
	// On the engine's default bridge: a project network per cell would
	// exhaust the engine's address pools when many cells run at once.
	// Behind the proxy, on the project's network: the proxy reaches its
	// backends by alias, which the default bridge does not resolve (at
	// most fxParallel such cells run at once).
	if m.proxy {
		b.WriteString("    restart: always\n")
	} else {
		b.WriteString("    restart: always\n    network_mode: bridge\n")
	}
	// The image's own health check, with a probe timeout that a loaded
	// engine (other suites at once) does not exceed.
	b.WriteString("    healthcheck: {test: ['CMD', '/hello', '-probe', 'http://127.0.0.1:80/healthz'], interval: 1s, timeout: 10s, retries: 3, start_period: 1s}\n")
	switch {
	case m.proxy:
		fmt.Fprintf(&b, "    ports: [{target: 80, published: \"%d\", host_ip: 127.0.0.1, app_protocol: http}]\n    x-drover: {proxy: true}\n", port)
	case m.hostPort:
		fmt.Fprintf(&b, "    ports: ['127.0.0.1:%d:80']\n    x-drover: {proxy: false}\n", port)
	}
	rancher := fmt.Sprintf("services:\n  web:\n    scale: %d\n    upgrade_strategy: {start_first: %v, batch_size: 2, interval_millis: 0}\n    health_check: {initializing_timeout: 10000}\n", m.scale, m.startFirst)
	return b.String(), rancher
}

// fxBase is a project brought up at v1, with its files now at the target
// release, and what its original containers were.
type fxBase struct {
	p       *project
	m       fxMode
	release string
	port    int
	orig    map[string]string // full ID -> name
	policy  map[string]string // full ID -> restart policy name
	proxyID string            // the front proxy's container (proxied modes)
	env     []string          // added to every drover run
	// leaseWaits counts the runs refused (exit 4) because a lease was
	// still held, and tried again until it expired.
	leaseWaits int
}

// fxPrepare makes the project, brings it up at v1 and writes the target
// files. It returns an error rather than failing: it runs in a worker.
func fxPrepare(t *testing.T, m fxMode, release string, env []string) (*fxBase, error) {
	port := 0
	if m.hostPort {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		port = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	c1, r1 := fxFiles(m, "v1", port)
	p := newProject(t, c1, r1)
	t.Cleanup(func() { fxRemoveLease(p) })
	b := &fxBase{p: p, m: m, release: release, port: port, orig: map[string]string{}, policy: map[string]string{}, env: env}
	// The setup, not the test: on a loaded engine a health probe can time
	// out, so the plain up is given three tries.
	for try := 1; ; try++ {
		r := b.run(nil, "up")
		if r.code == 0 {
			break
		}
		if try == 3 {
			b.done()
			return nil, fmt.Errorf("up of v1, 3 tries: %s", r)
		}
	}
	for _, c := range p.containers() {
		if c.Labels[fxProxyLabel] != "" {
			b.proxyID = c.ID
			continue
		}
		if isProxyPart(c.Labels) {
			continue
		}
		info, err := docker.ContainerInspect(context.Background(), c.ID)
		if err != nil {
			return nil, err
		}
		b.orig[c.ID] = strings.TrimPrefix(info.Name, "/")
		b.policy[c.ID] = string(info.HostConfig.RestartPolicy.Name)
	}
	if len(b.orig) != m.scale {
		return nil, fmt.Errorf("up of v1 made %d containers, want %d", len(b.orig), m.scale)
	}
	if m.proxy != (b.proxyID != "") {
		return nil, fmt.Errorf("up of v1: proxy container %q, want one: %v", b.proxyID, m.proxy)
	}
	if m.proxy {
		if v := fxGet(port); v != "v1" {
			return nil, fmt.Errorf("up of v1: the proxy's port %d answers %q", port, v)
		}
	}
	c2, r2 := fxFiles(m, release, port)
	p.write("docker-compose.yml", c2)
	p.write("rancher-compose.yml", r2)
	return b, nil
}

// done removes what the cell made as soon as it is over (the test's
// cleanup would do it only at the end of the table, and a hundred
// containers probing their health every second load the engine).
func (b *fxBase) done() {
	b.p.cleanup()
	fxRemoveLease(b.p)
}

// fxRemoveLease removes the project's lease container if a killed run left
// it (the lease is another engineer's: only what this project made goes).
func fxRemoveLease(p *project) {
	ctx := context.Background()
	if c, err := docker.ContainerInspect(ctx, "drover-lease-"+p.name); err == nil && c.Config.Labels["io.drover.lease"] == p.name {
		_ = docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true})
	}
}

// run runs drover -p NAME args with the base's environment plus env. A
// run refused because the project's lease is held (exit 4) is counted and
// tried again, for up to 45 s: a lease outlives a run that died holding it
// by its TTL (30 s) unless the next run can tell that the holder is gone.
func (b *fxBase) run(env []string, args ...string) result {
	deadline := time.Now().Add(45 * time.Second)
	for {
		r := b.runOnce(env, args...)
		if r.code != 4 || !strings.Contains(r.stderr, "being changed by another drover run") || time.Now().After(deadline) {
			return r
		}
		b.leaseWaits++
		time.Sleep(2 * time.Second)
	}
}

func (b *fxBase) runOnce(env []string, args ...string) result {
	cmd := exec.Command(droverBin, append([]string{"-p", b.p.name}, args...)...)
	cmd.Dir = b.p.dir
	cmd.Env = append(append(cleanEnviron(), b.env...), env...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		r.code, r.stderr = -2, r.stderr+"\nrunning drover: "+err.Error()
	}
	return r
}

// fxEvent is a line of --progress json.
type fxEvent struct {
	Service, Target, Action, Phase, Reason, Error string
}

// changesEngine: a done event of a step that made an engine call that
// changes something (not a batch marker, a wait or an interval).
func (e fxEvent) changesEngine() bool {
	return e.Phase == "done" && e.Action != "" && e.Action != "batch" && e.Action != "wait-interval" && !strings.HasPrefix(e.Action, "wait-")
}

func (e fxEvent) String() string {
	s := e.Action + " " + e.Target
	if e.Reason != "" {
		s += " (" + e.Reason + ")"
	}
	return s
}

// upgradeUntil runs up --upgrade --progress json and sends sig right after
// the k-th engine-changing done event (never when k is 0). It returns how
// the run ended and the engine-changing steps it reported.
func (b *fxBase) upgradeUntil(env []string, k int, sig syscall.Signal) (result, []fxEvent) {
	cmd := exec.Command(droverBin, "-p", b.p.name, "--progress", "json", "up", "--upgrade")
	cmd.Dir = b.p.dir
	cmd.Env = append(append(cleanEnviron(), b.env...), env...)
	var errb strings.Builder
	cmd.Stderr = &errb
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return result{code: -2, stderr: err.Error()}, nil
	}
	if err := cmd.Start(); err != nil {
		return result{code: -2, stderr: err.Error()}, nil
	}
	guard := time.AfterFunc(3*time.Minute, func() { _ = cmd.Process.Kill() })
	defer guard.Stop()
	var out strings.Builder
	var steps []fxEvent
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		var ev fxEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil || !ev.changesEngine() {
			continue
		}
		steps = append(steps, ev)
		if len(steps) == k {
			_ = cmd.Process.Signal(sig)
		}
	}
	_, _ = io.Copy(io.Discard, stdout)
	err = cmd.Wait()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		r.code = -2
	}
	return r, steps
}

// fxContainer is one of the project's containers as the engine shows it.
type fxContainer struct {
	id, name, state, health, policy string
	number, revision                int
}

func (c fxContainer) running() bool { return c.state == "running" || c.state == "restarting" }

// fxProxyLabel marks a project's front proxy container.
const fxProxyLabel = "io.drover.proxy"

// list lists the service's containers, the proxy left out (proxyProblems
// checks it).
func (b *fxBase) list() ([]fxContainer, error) {
	var out []fxContainer
	for _, s := range b.p.containers() {
		if isProxyPart(s.Labels) {
			continue
		}
		info, err := docker.ContainerInspect(context.Background(), s.ID)
		if err != nil {
			continue // removed between the list and the inspect
		}
		c := fxContainer{id: s.ID, name: strings.TrimPrefix(info.Name, "/"), state: info.State.Status, policy: string(info.HostConfig.RestartPolicy.Name)}
		if info.State.Health != nil {
			c.health = info.State.Health.Status
		}
		c.number, _ = strconv.Atoi(info.Config.Labels["com.docker.compose.container-number"])
		c.revision, _ = strconv.Atoi(info.Config.Labels["io.drover.revision"])
		out = append(out, c)
	}
	return out, nil
}

func (b *fxBase) slotName(n int) string { return fmt.Sprintf("%s-web-%d", b.p.name, n) }

// invariants checks the state a fault left, or a repair: every slot has a
// container; no slot has two containers of one revision, nor, with a host
// port, two running; every container is an original one (under its name or
// its kept name, with policy no once renamed) or one of revision 2 (under
// its slot's name or its pending name); drover's ps lists each of them as
// serving or kept; the kept ones are original containers. It returns the
// problems and how many original containers are gone.
func (b *fxBase) invariants() (problems []string, lost int) {
	cs, err := b.list()
	if err != nil {
		return []string{err.Error()}, 0
	}
	seen := map[string]bool{}
	perRev := map[[2]int]int{}
	running := map[int]int{}
	slots := map[int]int{}
	for _, c := range cs {
		seen[c.id] = true
		slots[c.number]++
		perRev[[2]int{c.number, c.revision}]++
		if c.running() {
			running[c.number]++
		}
		if name, ok := b.orig[c.id]; ok {
			switch {
			case c.revision != 1:
				problems = append(problems, fmt.Sprintf("original %s has revision %d", name, c.revision))
			case c.name != name && c.name != name+"-r1":
				problems = append(problems, fmt.Sprintf("original %s is named %s", name, c.name))
			case c.name != name && c.policy != "no":
				problems = append(problems, fmt.Sprintf("original %s left its name (now %s) with restart policy %q", name, c.name, c.policy))
			}
			continue
		}
		slot := b.slotName(c.number)
		switch {
		case c.revision != 2:
			problems = append(problems, fmt.Sprintf("container %s (revision %d) is neither original nor of revision 2", c.name, c.revision))
		case c.number < 1 || c.number > b.m.scale:
			problems = append(problems, fmt.Sprintf("container %s has slot %d", c.name, c.number))
		case c.name != slot && c.name != slot+"-r2":
			problems = append(problems, fmt.Sprintf("new container of slot %d is named %s", c.number, c.name))
		}
	}
	for id, name := range b.orig {
		if !seen[id] {
			lost++
			problems = append(problems, fmt.Sprintf("original %s (%s) is gone", name, shortID(id)))
		}
	}
	for n := 1; n <= b.m.scale; n++ {
		if slots[n] == 0 {
			problems = append(problems, fmt.Sprintf("slot %d has no container", n))
		}
		for rev := 1; rev <= 2; rev++ {
			if perRev[[2]int{n, rev}] > 1 {
				problems = append(problems, fmt.Sprintf("slot %d has %d containers of revision %d", n, perRev[[2]int{n, rev}], rev))
			}
		}
		if b.m.hostPort && !b.m.proxy && running[n] > 1 {
			problems = append(problems, fmt.Sprintf("slot %d has %d running containers on one host port", n, running[n]))
		}
	}
	r := b.run(nil, "ps", "-a", "--format", "json")
	var rows []psRow
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil {
		return append(problems, "ps -a failed: "+r.String()), lost
	}
	proxies := 0
	for _, row := range rows {
		if row.Role == "proxy" || row.Role == "proxy-ports" {
			proxies++
		}
	}
	if len(rows)-proxies != len(cs) {
		problems = append(problems, fmt.Sprintf("ps -a lists %d containers of the service, the engine %d", len(rows)-proxies, len(cs)))
	}
	problems = append(problems, b.proxyProblems(cs, rows)...)
	for _, row := range rows {
		switch row.Role {
		case "proxy", "proxy-ports":
		case "serving":
		case "kept":
			if !b.isOriginal(row.ID) {
				problems = append(problems, fmt.Sprintf("kept container %s is not an original one", row.Name))
			}
		default:
			problems = append(problems, fmt.Sprintf("ps -a: %s has role %q", row.Name, row.Role))
		}
	}
	return problems, lost
}

func (b *fxBase) isOriginal(short string) bool {
	for id := range b.orig {
		if strings.HasPrefix(id, short) {
			return true
		}
	}
	return false
}

// fxStatus is a line of status --format json; Proxy is the service's
// backends in the front proxy's table ("8991: p-web-1-r2:80 serving").
type fxStatus struct {
	Service, State, Next string
	Proxy                []string
}

// proxyTable is what status says the proxy holds for the service.
func (b *fxBase) proxyTable() ([]string, error) {
	r := b.run(nil, "status", "--format", "json")
	var sts []fxStatus
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &sts) != nil || len(sts) != 1 {
		return nil, fmt.Errorf("status failed: %s", r)
	}
	return sts[0].Proxy, nil
}

// backend is the address the proxy reaches a container of the service at:
// its slot's name and revision, an alias that renames do not change.
func (b *fxBase) backend(number, revision int) string {
	return fmt.Sprintf("%s-r%d:80", b.slotName(number), revision)
}

// proxyProblems checks the front proxy against the service's containers
// cs and ps's rows: in a proxied mode, the one proxy container is the one
// the first up made (a fault never replaces it), under its name, running,
// listed by ps with role proxy; its table lists only the host port, every
// backend it serves is a running container of the service, and the route
// is paused (stop-first, between the drain and the new one's switch:
// clients wait) or has a backend serving. Without the proxy there is none.
func (b *fxBase) proxyProblems(cs []fxContainer, rows []psRow) []string {
	var problems []string
	name := b.p.name + "-proxy"
	var found []string
	for _, c := range b.p.containers() {
		if c.Labels[fxProxyLabel] == "" {
			continue
		}
		found = append(found, c.ID)
		switch {
		case !b.m.proxy:
			problems = append(problems, fmt.Sprintf("a proxy container %s in a mode without the proxy", c.Names[0]))
		case c.ID != b.proxyID:
			problems = append(problems, fmt.Sprintf("proxy container %s (%s) is not the one the first up made (%s)", c.Names[0], shortID(c.ID), shortID(b.proxyID)))
		case strings.TrimPrefix(c.Names[0], "/") != name || c.State != "running":
			problems = append(problems, fmt.Sprintf("proxy container is %s as %s, want running as %s", c.State, c.Names[0], name))
		}
	}
	if b.m.proxy && len(found) != 1 {
		problems = append(problems, fmt.Sprintf("%d proxy containers, want 1", len(found)))
	}
	var psProxies []string
	for _, row := range rows {
		if row.Role == "proxy" {
			psProxies = append(psProxies, row.Name)
			if !b.m.proxy || row.Name != name || !strings.HasPrefix(b.proxyID, row.ID) {
				problems = append(problems, fmt.Sprintf("ps -a: %s (%s) has role proxy", row.Name, row.ID))
			}
		}
	}
	if b.m.proxy && len(psProxies) != 1 {
		problems = append(problems, fmt.Sprintf("ps -a lists %d proxies (%v), want 1", len(psProxies), psProxies))
	}
	if !b.m.proxy {
		return problems
	}
	table, err := b.proxyTable()
	if err != nil {
		return append(problems, err.Error())
	}
	running := map[string]bool{}
	for _, c := range cs {
		if c.running() {
			running[b.backend(c.number, c.revision)] = true
		}
	}
	prefix := fmt.Sprintf("%d: ", b.port)
	paused, serving := false, 0
	for _, e := range table {
		rest, ok := strings.CutPrefix(e, prefix)
		if !ok {
			problems = append(problems, fmt.Sprintf("the proxy's table has %q, not on port %d", e, b.port))
			continue
		}
		addr, state, _ := strings.Cut(rest, " ")
		switch {
		case rest == "paused":
			paused = true
		case state == "serving" && !running[addr]:
			problems = append(problems, fmt.Sprintf("the proxy serves %s, which is not a running container of the service (table %q)", addr, table))
		case state == "serving":
			serving++
		case state != "draining":
			problems = append(problems, fmt.Sprintf("the proxy's table has %q", e))
		}
	}
	if !paused && serving == 0 {
		problems = append(problems, fmt.Sprintf("the proxy's route is neither paused nor serving: %q", table))
	}
	return problems
}

// proxyServes: after a repair, the proxy serves exactly the containers of
// the revision, one per slot, and nothing drains or is paused.
func (b *fxBase) proxyServes(revision int) []string {
	if !b.m.proxy {
		return nil
	}
	table, err := b.proxyTable()
	if err != nil {
		return []string{err.Error()}
	}
	var want []string
	for n := 1; n <= b.m.scale; n++ {
		want = append(want, fmt.Sprintf("%d: %s serving", b.port, b.backend(n, revision)))
	}
	have := append([]string(nil), table...)
	sort.Strings(have)
	if fmt.Sprint(have) != fmt.Sprint(want) {
		return []string{fmt.Sprintf("status shows the proxy's table %q, want %q", table, want)}
	}
	return nil
}

// advice checks what status says against the state: once a container of
// revision 2 exists the service is not active and the rollback is offered;
// a confirm is offered only when upgraded, and upgraded means every new
// container runs healthy under its slot's name. It returns the state.
func (b *fxBase) advice() (string, []string) {
	r := b.run(nil, "status", "--format", "json")
	var sts []fxStatus
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &sts) != nil || len(sts) != 1 {
		return "", []string{"status failed: " + r.String()}
	}
	st := sts[0]
	cs, _ := b.list()
	var problems []string
	anyNew := false
	for _, c := range cs {
		if c.revision == 2 {
			anyNew = true
			if st.State == "upgraded" && (c.name != b.slotName(c.number) || c.state != "running" || c.health != "healthy") {
				problems = append(problems, fmt.Sprintf("status says upgraded while %s is %s/%s", c.name, c.state, c.health))
			}
		}
	}
	if anyNew && st.State == "active" {
		problems = append(problems, "status says active while revision 2 exists")
	}
	if anyNew && !strings.Contains(st.Next, "drover up --rollback web") {
		problems = append(problems, fmt.Sprintf("status (%s) does not offer the rollback: %q", st.State, st.Next))
	}
	if st.State != "upgraded" && strings.Contains(st.Next, "--confirm-upgrade") {
		problems = append(problems, fmt.Sprintf("status (%s) offers a confirm: %q", st.State, st.Next))
	}
	return st.State, problems
}

// confirmRefused: in a state that is not upgraded, a confirm without
// --force is refused and changes nothing.
func (b *fxBase) confirmRefused(state string) []string {
	if state != "upgrading" && state != "upgrade-failed" {
		return nil
	}
	before := fmt.Sprint(b.p.ids())
	r := b.run(nil, "up", "--confirm-upgrade")
	if r.code == 0 || fmt.Sprint(b.p.ids()) != before {
		return []string{fmt.Sprintf("confirm in state %s was not refused, or changed containers: %s", state, r)}
	}
	return nil
}

// newServes: the new revision serves in every slot, under the slot's name,
// running and healthy; the original containers are kept, stopped, named
// -r1, with policy no.
func (b *fxBase) newServes() []string {
	cs, _ := b.list()
	var problems []string
	news, kept := 0, 0
	for _, c := range cs {
		if name, ok := b.orig[c.id]; ok {
			kept++
			if c.name != name+"-r1" || c.running() || c.policy != "no" {
				problems = append(problems, fmt.Sprintf("original %s is %s as %s with policy %q; want kept", name, c.state, c.name, c.policy))
			}
			continue
		}
		news++
		if c.name != b.slotName(c.number) || c.state != "running" || c.health != "healthy" || c.policy != "always" {
			problems = append(problems, fmt.Sprintf("new %s is %s/%s with restart policy %q (want always, the service's)", c.name, c.state, c.health, c.policy))
		}
	}
	if news != b.m.scale || kept != b.m.scale {
		problems = append(problems, fmt.Sprintf("%d new and %d kept containers, want %d of each", news, kept, b.m.scale))
	}
	if b.m.hostPort {
		if v := fxGet(b.port); v != "v2" {
			problems = append(problems, fmt.Sprintf("the host port answers %q, want v2", v))
		}
	}
	return append(problems, b.proxyServes(2)...)
}

// originalsServe: exactly the original containers, under their names,
// running (healthy), with their own restart policy.
func (b *fxBase) originalsServe() []string {
	cs, _ := b.list()
	var problems []string
	for _, c := range cs {
		name, ok := b.orig[c.id]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s (revision %d) is left", c.name, c.revision))
		case c.name != name || c.state != "running" || c.health != "healthy" || c.policy != b.policy[c.id]:
			problems = append(problems, fmt.Sprintf("original %s is %s/%s as %s with policy %q (was %q)", name, c.state, c.health, c.name, c.policy, b.policy[c.id]))
		}
	}
	if len(cs) != len(b.orig) {
		problems = append(problems, fmt.Sprintf("%d containers, want the %d original ones", len(cs), len(b.orig)))
	}
	if b.m.hostPort {
		if v := fxGet(b.port); v != "v1" {
			problems = append(problems, fmt.Sprintf("the host port answers %q, want v1", v))
		}
	}
	return append(problems, b.proxyServes(1)...)
}

func fxGet(port int) string {
	c := http.Client{Timeout: 2 * time.Second}
	for range 20 {
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/version", port))
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return strings.TrimSpace(string(body))
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "(no answer)"
}

// goOn is way out (a): up --upgrade. A good release ends upgraded and
// serving; a crashing one fails (exit non-zero) with the previous revision
// serving again.
func (b *fxBase) goOn() []string {
	r := b.run(nil, "up", "--upgrade")
	var problems []string
	if b.release == "good" {
		if r.code != 0 {
			return []string{"up --upgrade failed: " + r.String()}
		}
		problems = b.newServes()
	} else {
		if r.code == 0 {
			problems = append(problems, "up --upgrade of a crashing release exited 0")
		}
		problems = append(problems, b.originalsServe()...)
	}
	p, _ := b.invariants()
	return append(problems, p...)
}

// goBack is way out (b): up --rollback brings back the original
// containers. Where nothing of revision 2 is left (the upgrade had not
// begun, or its own failure action rolled it back), there is nothing to
// roll back, and the originals must already serve.
func (b *fxBase) goBack() []string {
	cs, _ := b.list()
	anyNew := false
	for _, c := range cs {
		anyNew = anyNew || c.revision == 2
	}
	r := b.run(nil, "up", "--rollback")
	if r.code != 0 && (anyNew || !strings.Contains(r.stderr, "nothing to roll back")) {
		return []string{"up --rollback failed: " + r.String()}
	}
	problems := b.originalsServe()
	p, _ := b.invariants()
	return append(problems, p...)
}

// fxOutcome is one way out of one fault.
type fxOutcome struct {
	repaired   bool
	lost       int
	problems   []string
	leaseWaits int
}

// fxTable collects the cells of a fault table.
type fxTable struct {
	mu   sync.Mutex
	rows map[string]*fxRow
	keys []string
}

type fxRow struct {
	key            string
	repaired, runs int
	lost           int
	problems       []string
}

func (tb *fxTable) add(key string, o fxOutcome) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	if tb.rows == nil {
		tb.rows = map[string]*fxRow{}
	}
	r, ok := tb.rows[key]
	if !ok {
		r = &fxRow{key: key}
		tb.rows[key] = r
		tb.keys = append(tb.keys, key)
	}
	r.runs++
	if o.repaired {
		r.repaired++
	}
	r.lost += o.lost
	r.problems = append(r.problems, o.problems...)
}

// report logs the table and fails the test for every cell with a loss, a
// repair that did not happen or a broken invariant.
func (tb *fxTable) report(t *testing.T, title string) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	sort.Strings(tb.keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n%-80s %9s %5s\n", title, "cell", "repaired", "lost")
	cells, lost, repaired, runs := 0, 0, 0, 0
	for _, k := range tb.keys {
		r := tb.rows[k]
		fmt.Fprintf(&b, "%-80s %5d/%-3d %5d\n", k, r.repaired, r.runs, r.lost)
		cells++
		lost += r.lost
		repaired += r.repaired
		runs += r.runs
		if r.lost != 0 || r.repaired != r.runs || len(r.problems) > 0 {
			t.Errorf("%s: repaired %d/%d, lost %d:\n  %s", k, r.repaired, r.runs, r.lost, strings.Join(r.problems, "\n  "))
		}
	}
	fmt.Fprintf(&b, "%d cells, %d ways out: %d repaired, %d lost\n", cells, runs, repaired, lost)
	t.Log("\n" + b.String())
	if cells == 0 {
		t.Errorf("%s: no cell ran", title)
	}
}

// fxJobs runs jobs, fxParallel at a time.
func fxJobs(jobs []func()) {
	sem := make(chan struct{}, fxParallel())
	var wg sync.WaitGroup
	for _, job := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			job()
		}()
	}
	wg.Wait()
}

// fxLearn runs one clean upgrade with --progress json and returns its
// engine-changing steps, checking that it ended as the release says.
func fxLearn(t *testing.T, m fxMode, release string) []fxEvent {
	t.Helper()
	b, err := fxPrepare(t, m, release, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, steps := b.upgradeUntil(nil, 0, 0)
	if (release == "good") != (r.code == 0) {
		t.Fatalf("a clean upgrade to the %s release exited %d:\n%s", release, r.code, r)
	}
	if len(steps) < 4 {
		t.Fatalf("a clean upgrade reported %d engine-changing steps:\n%s", len(steps), r)
	}
	return steps
}

// TestCrashAtEveryStep interrupts an upgrade after each of its
// engine-changing steps, with SIGINT and with SIGKILL, and takes both ways
// out from the state left. The fast subset is stop-first, scale 1, a host
// port (one way out per step, in turn: fxWaysOut), and the same behind the
// front proxy with the good release (its proxy-switch steps included, both
// ways); DROVER_FAULTS=full takes both ways everywhere and adds stop-first and
// start-first at scale 4, the crashing release behind the proxy, and
// start-first behind the proxy at scale 1 and 2. The faults begin after
// the first up: the proxy's own create and start are not interrupted here.
func TestCrashAtEveryStep(t *testing.T) {
	t.Parallel()
	shapes := []fxShape{{fxStopFirst1, "good"}, {fxStopFirst1, "crash"}, {fxProxyStop1, "good"}}
	if fxFull() {
		shapes = append(shapes, fxShape{fxProxyStop1, "crash"})
		for _, m := range []fxMode{fxStopFirst4, fxStartFirst4, fxProxyStart1, fxProxyStart2} {
			for _, img := range fxImages {
				shapes = append(shapes, fxShape{m, img})
			}
		}
	}
	shapes = fxOnly(t, shapes)
	if !fxFull() {
		t.Run("full", func(t *testing.T) {
			t.Skipf("the full table (%s and %s too, %s with the crashing release, %s and %s, SIGINT, and both ways out after every step) runs with DROVER_FAULTS=full (make faults); this is the fast subset, %s with both releases (one way out per step, in turn) and %s with the good one (both ways), SIGKILL only",
				fxStopFirst4.name, fxStartFirst4.name, fxProxyStop1.name, fxProxyStart1.name, fxProxyStart2.name, fxStopFirst1.name, fxProxyStop1.name)
		})
	}
	// Learn each upgrade's steps first.
	steps := map[fxShape][]fxEvent{}
	var switchProblems []string
	t.Run("learn", func(t *testing.T) {
		for _, s := range shapes {
			learned := fxLearn(t, s.m, s.img)
			steps[s] = learned
			t.Logf("%s, %s: %d engine-changing steps: %v", s.m.name, s.img, len(learned), learned)
			switches := 0
			for _, e := range learned {
				if e.Action == "proxy-switch" {
					switches++
				}
			}
			// Behind the proxy, a good upgrade switches at least twice
			// (stop-first: drain the old, serve the new; start-first: serve
			// the new and drain the old, then drop the drained); without it,
			// never.
			// Said after the table: the cells still run.
			if s.m.proxy && s.img == "good" && switches < 2 || !s.m.proxy && switches > 0 {
				switchProblems = append(switchProblems, fmt.Sprintf("%s, %s: %d proxy-switch steps", s.m.name, s.img, switches))
			}
		}
	})
	if t.Failed() {
		return
	}
	var tb fxTable
	t.Run("cells", func(t *testing.T) {
		var jobs []func()
		for i, s := range shapes {
			m, img := s.m, s.img
			learned := steps[s]
			for k := 1; k <= len(learned); k++ {
				for _, sig := range fxSignals() {
					key := fmt.Sprintf("%-19s %-5s %-7s step %2d %s", m.name, img, sigName(sig), k, learned[k-1])
					for _, way := range fxWaysOut(m, i, k) {
						jobs = append(jobs, func() { tb.add(key, fxCrashCell(t, m, img, k, sig, way)) })
					}
				}
			}
		}
		fxJobs(jobs)
	})
	tb.report(t, "crash at every step: step x signal x mode x image -> repaired (ways out), lost")
	for _, p := range switchProblems {
		t.Error(p)
	}
}

// fxWaysOut are the ways out taken after a crash at step k of the shape
// numbered shape. The full table takes both everywhere. The fast subset
// takes both behind the proxy and one, in turn, on the other shapes: every
// step of theirs is still repaired one way, each way still follows about
// half their steps, and the suite keeps within its time.
func fxWaysOut(m fxMode, shape, k int) []string {
	both := []string{"upgrade", "rollback"}
	if fxFull() || m.proxy {
		return both
	}
	return both[(shape+k)%2 : (shape+k)%2+1]
}

func sigName(s syscall.Signal) string {
	if s == syscall.SIGKILL {
		return "SIGKILL"
	}
	return "SIGINT"
}

// fxCrashCell is one cell of the crash table, one way out.
func fxCrashCell(t *testing.T, m fxMode, img string, k int, sig syscall.Signal, way string) fxOutcome {
	b, err := fxPrepare(t, m, img, nil)
	if err != nil {
		return fxOutcome{problems: []string{err.Error()}}
	}
	defer b.done()
	r, _ := b.upgradeUntil(nil, k, sig)
	b.settle()
	var problems []string
	if sig == syscall.SIGINT && r.code == 130 {
		// Its own advice, computed from the state it left.
		cs, _ := b.list()
		for _, c := range cs {
			if c.revision == 2 && !strings.Contains(r.stderr, "drover up --rollback web") {
				problems = append(problems, "the interrupted run did not offer the rollback: "+r.stderr)
				break
			}
		}
	}
	if sig == syscall.SIGKILL && r.code != 128+int(syscall.SIGKILL) && r.code != 0 && r.code != 1 {
		problems = append(problems, fmt.Sprintf("killed run ended with %d", r.code))
	}
	o := b.wayOut(way, problems)
	if o.leaseWaits > 0 {
		// A run killed on this machine leaves a lease the next run here
		// breaks at once.
		o.repaired = false
		o.problems = append(o.problems, fmt.Sprintf("%d runs after the %s were refused for a lease still held", o.leaseWaits, sigName(sig)))
	}
	return o
}

// settle waits, up to 10 s, until the project's containers (the proxy's
// included) stay as they are for a second: a run killed right after a
// step may have sent the next one's request, which the engine carries out
// after the kill (a create or a remove then shows between the harness's
// own list and drover's ps).
func (b *fxBase) settle() {
	snapshot := func() string {
		var parts []string
		for _, c := range b.p.containers() {
			parts = append(parts, c.ID+" "+strings.Join(c.Names, ",")+" "+c.State)
		}
		sort.Strings(parts)
		return strings.Join(parts, "\n")
	}
	last := snapshot()
	for deadline, same := time.Now().Add(10*time.Second), 0; same < 2 && time.Now().Before(deadline); {
		time.Sleep(500 * time.Millisecond)
		now := snapshot()
		if now == last {
			same++
		} else {
			same, last = 0, now
		}
	}
}

// wayOut checks the state a fault left, then takes one way out.
func (b *fxBase) wayOut(way string, problems []string) fxOutcome {
	inv, lost := b.invariants()
	problems = append(problems, inv...)
	state, adv := b.advice()
	problems = append(problems, adv...)
	switch way {
	case "upgrade":
		problems = append(problems, b.confirmRefused(state)...)
		problems = append(problems, b.goOn()...)
	case "rollback":
		problems = append(problems, b.goBack()...)
	}
	_, lostAfter := b.invariants()
	if lostAfter > lost {
		lost = lostAfter
	}
	return fxOutcome{repaired: len(problems) == 0, lost: lost, problems: problems, leaseWaits: b.leaseWaits}
}

// faultProxy stands between drover and the engine on a unix socket of its
// own. It counts the requests; the one numbered faultAt gets the fault:
// "drop" forwards it (the engine carries it out) and closes the client's
// connection without an answer; "delay" forwards it and holds the answer
// for delay, past drover's timeout.
type faultProxy struct {
	sock, engine string
	kind         string
	faultAt      int
	delay        time.Duration
	srv          *http.Server
	tr           *http.Transport

	mu    sync.Mutex
	n     int
	fired string // the request that got the fault
}

func engineSocket() string {
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		return strings.TrimPrefix(h, "unix://")
	}
	return "/var/run/docker.sock"
}

func startFaultProxy(dir, kind string, faultAt int, delay time.Duration) (*faultProxy, error) {
	f := &faultProxy{sock: filepath.Join(dir, "engine.sock"), engine: engineSocket(), kind: kind, faultAt: faultAt, delay: delay}
	f.tr = &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", f.engine)
	}}
	ln, err := net.Listen("unix", f.sock)
	if err != nil {
		return nil, err
	}
	f.srv = &http.Server{Handler: f}
	go func() { _ = f.srv.Serve(ln) }()
	return f, nil
}

func (f *faultProxy) close() {
	_ = f.srv.Close()
	f.tr.CloseIdleConnections()
}

func (f *faultProxy) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.n
}

func (f *faultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.n++
	fault := f.n == f.faultAt
	if fault {
		f.fired = r.Method + " " + r.URL.RequestURI()
	}
	f.mu.Unlock()
	if r.Header.Get("Upgrade") != "" {
		f.hijacked(w, r, fault)
		return
	}
	ctx := r.Context()
	if fault {
		ctx = context.WithoutCancel(ctx) // the engine finishes the call whatever the client does
	}
	out := r.Clone(ctx)
	out.URL.Scheme, out.URL.Host, out.RequestURI = "http", "docker", ""
	resp, err := f.tr.RoundTrip(out)
	if fault && f.kind == "drop" {
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		return
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	if fault && f.kind == "delay" {
		time.Sleep(f.delay)
	}
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	fl, _ := w.(http.Flusher)
	buf := make([]byte, 32*1024)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err != nil {
			return
		}
	}
}

// hijacked forwards a request that takes over its connection (an exec's
// attach: drover writes the proxy's table on its stdin and reads the
// answer): the request, then the bytes both ways, the client's half-close
// passed on. "drop" closes both connections once the engine has begun to
// answer (the exec started); "delay" holds the answer back for delay.
func (f *faultProxy) hijacked(w http.ResponseWriter, r *http.Request, fault bool) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	engine, err := net.Dial("unix", f.engine)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer engine.Close()
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "cannot hijack", http.StatusInternalServerError)
		return
	}
	client, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer client.Close()
	out := r.Clone(context.Background())
	out.RequestURI, out.Body, out.ContentLength = "", io.NopCloser(strings.NewReader(string(body))), int64(len(body))
	if err := out.Write(engine); err != nil {
		return
	}
	fromEngine := bufio.NewReader(engine)
	if fault && f.kind == "drop" {
		_, _ = fromEngine.Peek(1)
		return
	}
	if fault && f.kind == "delay" {
		time.Sleep(f.delay)
	}
	up := make(chan struct{})
	go func() {
		defer close(up)
		_, _ = io.Copy(engine, buf.Reader) // what the client sent, buffered first
		if c, ok := engine.(*net.UnixConn); ok {
			_ = c.CloseWrite()
		}
	}()
	_, _ = io.Copy(client, fromEngine)
	client.Close()
	engine.Close()
	<-up
}

// fxEngineTimeout is drover's engine timeout in the engine-fault runs; the
// proxy delays an answer by fxEngineDelay, past it.
const (
	fxEngineTimeout = 2 * time.Second
	fxEngineDelay   = 3 * time.Second
)

// TestEngineFaultAtEveryRequest runs an upgrade through a proxy that drops
// or delays its N-th request to the engine, for every N the upgrade makes.
// drover either gets through (the call was repeated) or stops with an
// error that names the call; then both ways out, without faults, must work.
// The fast subset is the good release, stop-first, scale 1, a host port,
// going on with up --upgrade; DROVER_FAULTS=full adds the rollback, the
// crashing release, the scale-4 modes and the good release behind the
// front proxy, stop-first and start-first (the proxy-switch steps are
// execs in the proxy: an attach that takes over its connection).
func TestEngineFaultAtEveryRequest(t *testing.T) {
	t.Parallel()
	type shape = fxShape
	shapes := []shape{{fxStopFirst1, "good"}}
	if fxFull() {
		shapes = append(shapes, shape{fxStopFirst1, "crash"}, shape{fxStopFirst4, "good"}, shape{fxStartFirst4, "good"}, shape{fxProxyStop1, "good"}, shape{fxProxyStart1, "good"})
	} else {
		t.Run("full", func(t *testing.T) {
			t.Skipf("the full table (the crashing release, %s, %s, %s and %s too) runs with DROVER_FAULTS=full (make faults); this is the fast subset, %s with the good release", fxStopFirst4.name, fxStartFirst4.name, fxProxyStop1.name, fxProxyStart1.name, fxStopFirst1.name)
		})
	}
	shapes = fxOnly(t, shapes)
	env := []string{"DROVER_ENGINE_TIMEOUT=" + fxEngineTimeout.String()}
	// Learn how many requests each upgrade makes.
	requests := map[shape]int{}
	t.Run("learn", func(t *testing.T) {
		for _, s := range shapes {
			b, err := fxPrepare(t, s.m, s.img, env)
			if err != nil {
				t.Fatal(err)
			}
			proxy, err := startFaultProxy(t.TempDir(), "drop", 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := b.upgradeUntil([]string{"DOCKER_HOST=unix://" + proxy.sock}, 0, 0)
			proxy.close()
			if (s.img == "good") != (r.code == 0) {
				t.Fatalf("a clean upgrade through the proxy exited %d:\n%s", r.code, r)
			}
			requests[s] = proxy.count()
			t.Logf("%s, %s: %d requests", s.m.name, s.img, requests[s])
			if requests[s] < 10 {
				t.Fatalf("only %d requests went through the proxy", requests[s])
			}
		}
	})
	if t.Failed() {
		return
	}
	// The fast subset takes one way out, up --upgrade; the full table both.
	ways := []string{"upgrade"}
	if fxFull() {
		ways = append(ways, "rollback")
	}
	var tb fxTable
	fired := 0
	leaseCells := 0
	var firedMu sync.Mutex
	t.Run("cells", func(t *testing.T) {
		var jobs []func()
		for _, s := range shapes {
			for n := 1; n <= requests[s]; n++ {
				for _, kind := range fxFaultKinds() {
					for _, way := range ways {
						jobs = append(jobs, func() {
							o, call := fxEngineCell(t, s.m, s.img, kind, n, way, env)
							firedMu.Lock()
							if call != "" {
								fired++
							}
							if o.leaseWaits > 0 {
								leaseCells++
							}
							firedMu.Unlock()
							if call == "" {
								call = "(the run made fewer requests)"
							}
							tb.add(fmt.Sprintf("%-19s %-5s %-5s req %3d %s", s.m.name, s.img, kind, n, call), o)
						})
					}
				}
			}
		}
		fxJobs(jobs)
	})
	tb.report(t, "engine faults: request x fault x mode x image -> repaired (ways out), lost")
	// The request counts vary a little from run to run (the health waits
	// poll); most N must still have hit a request.
	total := 0
	for _, n := range requests {
		total += n * len(fxFaultKinds()) * len(ways)
	}
	// A fault in the create of the lease (the engine made it, drover was
	// not told) leaves a lease the next run waits out: one cell per fault
	// kind and way out, the lease's create being one request.
	t.Logf("%d ways out waited for a lease left by a faulted lease create", leaseCells)
	if most := len(fxFaultKinds()) * len(ways) * len(shapes); leaseCells > most {
		t.Errorf("%d ways out waited for a lease; want at most %d (a fault in the lease's create)", leaseCells, most)
	}
	if fired < total*3/4 {
		t.Errorf("the fault fired in %d of %d runs; want at least three quarters", fired, total)
	}
	t.Logf("the fault fired in %d of %d runs", fired, total)
}

// fxEngineCell is one cell of the engine-fault table, one way out. It
// returns the call that got the fault ("" when the run made fewer calls).
func fxEngineCell(t *testing.T, m fxMode, img, kind string, n int, way string, env []string) (fxOutcome, string) {
	b, err := fxPrepare(t, m, img, env)
	if err != nil {
		return fxOutcome{problems: []string{err.Error()}}, ""
	}
	defer b.done()
	proxy, err := startFaultProxy(t.TempDir(), kind, n, fxEngineDelay)
	if err != nil {
		return fxOutcome{problems: []string{err.Error()}}, ""
	}
	start := time.Now()
	r, _ := b.upgradeUntil([]string{"DOCKER_HOST=unix://" + proxy.sock}, 0, 0)
	took := time.Since(start)
	proxy.close()
	proxy.mu.Lock()
	call := proxy.fired
	proxy.mu.Unlock()
	var problems []string
	if took > time.Minute {
		problems = append(problems, fmt.Sprintf("the faulted run took %s", took.Round(time.Second)))
	}
	if r.code != 0 && img == "good" {
		// A clear error that names what failed: the call, by its path.
		_, path, _ := strings.Cut(call, " ")
		path, _, _ = strings.Cut(strings.TrimPrefix(path, "/v1.41"), "?")
		if call == "" || !strings.Contains(r.stderr, path) {
			problems = append(problems, fmt.Sprintf("the run failed (exit %d) without naming the call %q:\n%s", r.code, call, r.stderr))
		}
	} else if r.code == 0 && img == "crash" {
		problems = append(problems, "an upgrade to a crashing release exited 0")
	}
	if strings.Contains(r.stderr, "panic") {
		problems = append(problems, "drover panicked:\n"+r.stderr)
	}
	o := b.wayOut(way, problems)
	if o.leaseWaits > 0 && !strings.Contains(call, "name=drover-lease-") {
		o.repaired = false
		o.problems = append(o.problems, fmt.Sprintf("%d runs were refused for a lease still held, after a fault in %s", o.leaseWaits, call))
	}
	if len(o.problems) > 0 {
		o.problems = append(o.problems, "faulted run: "+r.String())
	}
	return o, fxShortCall(call)
}

// fxShortCall shortens a call for the table: IDs and names left out.
func fxShortCall(call string) string {
	method, path, ok := strings.Cut(call, " ")
	if !ok {
		return call
	}
	path, query, _ := strings.Cut(path, "?")
	path = strings.TrimPrefix(path, "/v1.41")
	parts := strings.Split(path, "/")
	if len(parts) > 2 && (parts[1] == "containers" || parts[1] == "networks" || parts[1] == "images") && parts[2] != "json" && parts[2] != "create" {
		parts[2] = "{id}"
	}
	short := method + " " + strings.Join(parts, "/")
	if strings.Contains(query, "name=drover-lease-") {
		short += " (the lease)"
	}
	return short
}

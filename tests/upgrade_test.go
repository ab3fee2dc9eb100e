package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
)

const fourWeb = "services:\n  web:\n    image: IMAGE:%s\n"

func fourWebRancher(startFirst bool, batch int) string {
	return fmt.Sprintf("services:\n  web:\n    scale: 4\n    upgrade_strategy: {start_first: %v, batch_size: %d, interval_millis: 200}\n", startFirst, batch)
}

// sampler watches a project's containers while an upgrade runs and keeps
// the fewest running (and running healthy) it saw. A minimum over no samples
// says nothing: done fails the test when a list call failed or fewer than
// minSamples samples were taken.
type sampler struct {
	t                               *testing.T
	minRunning, minHealthy, samples int
	err                             error // the first list error; sampling stops there
	stop                            chan struct{}
	wg                              sync.WaitGroup
}

// minSamples is the fewest samples a watched upgrade must give: at one
// sample every 20 ms or so, the upgrades watched here (a health wait of a
// second or more per batch) give about 200.
const minSamples = 20

func watch(p *project) *sampler {
	s := &sampler{t: p.t, minRunning: 1 << 30, minHealthy: 1 << 30, stop: make(chan struct{})}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		args := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+p.name))
		for {
			select {
			case <-s.stop:
				return
			default:
			}
			cs, err := docker.ContainerList(context.Background(), container.ListOptions{All: true, Filters: args})
			if err != nil {
				s.err = err
				return
			}
			running, healthy := 0, 0
			for _, c := range cs {
				if c.State == "running" {
					running++
					if strings.Contains(c.Status, "(healthy)") {
						healthy++
					}
				}
			}
			s.minRunning, s.minHealthy = min(s.minRunning, running), min(s.minHealthy, healthy)
			s.samples++
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return s
}

// done stops sampling and fails the test unless the samples can be trusted.
func (s *sampler) done() {
	s.t.Helper()
	close(s.stop)
	s.wg.Wait()
	if s.err != nil {
		s.t.Errorf("sampling the containers: %v (after %d samples)", s.err, s.samples)
	}
	if s.samples < minSamples {
		s.t.Errorf("%d samples of the containers during the upgrade; want at least %d", s.samples, minSamples)
	}
}

// psRow is a line of ps --format json.
type psRow struct {
	Name, Service, State, Role, Image, ID string
	Number, Revision                      int
}

func (p *project) ps(args ...string) []psRow {
	p.t.Helper()
	r := p.mustDrover(append([]string{"ps", "--format", "json"}, args...)...)
	var rows []psRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		p.t.Fatalf("ps: %v\n%s", err, r)
	}
	return rows
}

// byRole lists "name@image" of the containers in a role, sorted, and their
// IDs.
func byRole(rows []psRow, role string) (names, ids []string) {
	for _, r := range rows {
		if r.Role == role {
			names = append(names, r.Name+"@"+strings.TrimPrefix(r.Image, imageRepo+":")+"/"+r.State)
			ids = append(ids, r.ID)
		}
	}
	sort.Strings(names)
	sort.Strings(ids)
	return names, ids
}

func TestStartFirstUpgradeNeverDropsBelowScale(t *testing.T) {
	p := newProject(t, fmt.Sprintf(fourWeb, "v1"), fourWebRancher(true, 2))
	p.mustDrover("up")
	_, v1IDs := byRole(p.ps(), "serving")

	p.write("docker-compose.yml", fmt.Sprintf(fourWeb, "v2"))
	s := watch(p)
	r := p.mustDrover("--progress", "json", "up", "--upgrade")
	s.done()
	t.Logf("start-first: %d samples, fewest running healthy %d", s.samples, s.minHealthy)
	if s.minHealthy < 4 {
		t.Errorf("during the start-first upgrade only %d containers were running healthy (of %d samples); want at least 4", s.minHealthy, s.samples)
	}
	// The events show the two batches, in order, each gated by a wait.
	var order []string
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var ev struct{ Action, Phase, Reason, Target string }
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Phase == "done" && (ev.Action == "batch" || ev.Action == "wait-healthy") {
			order = append(order, ev.Action+" "+ev.Reason)
		}
	}
	want := "batch 1/2: web#1, web#2|wait-healthy batch 1|batch 2/2: web#3, web#4|wait-healthy batch 2"
	if got := strings.Join(order, "|"); got != want {
		t.Errorf("events %q, want %q", got, want)
	}
	rows := p.ps("-a")
	serving, _ := byRole(rows, "serving")
	kept, keptIDs := byRole(rows, "kept")
	wantServing := []string{p.name + "-web-1@v2/running", p.name + "-web-2@v2/running", p.name + "-web-3@v2/running", p.name + "-web-4@v2/running"}
	wantKept := []string{p.name + "-web-1-r1@v1/exited", p.name + "-web-2-r1@v1/exited", p.name + "-web-3-r1@v1/exited", p.name + "-web-4-r1@v1/exited"}
	if fmt.Sprint(serving) != fmt.Sprint(wantServing) || fmt.Sprint(kept) != fmt.Sprint(wantKept) {
		t.Errorf("after the upgrade:\nserving %v\nkept    %v\nwant\nserving %v\nkept    %v", serving, kept, wantServing, wantKept)
	}
	if fmt.Sprint(keptIDs) != fmt.Sprint(v1IDs) {
		t.Errorf("kept %v, want the original containers %v", keptIDs, v1IDs)
	}
	if st := p.mustDrover("status"); !strings.Contains(st.stdout, "upgraded") {
		t.Errorf("status:\n%s", st.stdout)
	}

	// Confirm removes exactly the kept containers.
	p.mustDrover("up", "--confirm-upgrade")
	rows = p.ps("-a")
	if kept, _ := byRole(rows, "kept"); len(kept) != 0 {
		t.Errorf("kept after confirm: %v", kept)
	}
	if after, _ := byRole(rows, "serving"); fmt.Sprint(after) != fmt.Sprint(wantServing) {
		t.Errorf("serving after confirm: %v", after)
	}
	for _, id := range v1IDs {
		if _, err := docker.ContainerInspect(context.Background(), id); err == nil {
			t.Errorf("kept container %s still exists after confirm", id)
		}
	}
}

func TestStopFirstUpgradeKeepsTheOtherBatchRunning(t *testing.T) {
	t.Parallel()
	p := newProject(t, fmt.Sprintf(fourWeb, "v1"), fourWebRancher(false, 2))
	p.mustDrover("up")
	p.write("docker-compose.yml", fmt.Sprintf(fourWeb, "v2"))
	s := watch(p)
	p.mustDrover("up", "--upgrade")
	s.done()
	t.Logf("stop-first: %d samples, fewest running %d", s.samples, s.minRunning)
	if s.minRunning < 2 {
		t.Errorf("during the stop-first upgrade only %d containers were running; want at least 2 (4 minus a batch of 2)", s.minRunning)
	}
	serving, _ := byRole(p.ps(), "serving")
	wantAll(t, "serving after the upgrade", serving, 4, "@v2/running")

	// -u -c: an upgrade confirmed at once keeps nothing (the upgraded v2
	// containers from above are confirmed first, then v1 replaces them).
	p.write("docker-compose.yml", fmt.Sprintf(fourWeb, "v1"))
	p.mustDrover("up", "-u", "-c", "--interval", "0")
	rows := p.ps("-a")
	if kept, _ := byRole(rows, "kept"); len(kept) != 0 || len(rows) != 4 {
		t.Errorf("after up -u -c: %d containers, kept %v", len(rows), kept)
	}

	// --force-upgrade replaces containers that are in sync.
	serving, before := byRole(rows, "serving")
	wantAll(t, "serving before --force-upgrade", serving, 4, "@v1/running")
	p.mustDrover("up", "--force-upgrade", "--confirm-upgrade", "--batch-size", "4", "web")
	rows = p.ps("-a")
	serving, after := byRole(rows, "serving")
	wantAll(t, "serving after --force-upgrade", serving, 4, "@v1/running")
	if len(rows) != 4 {
		t.Errorf("after --force-upgrade --confirm-upgrade: %d containers, want the 4 new ones", len(rows))
	}
	for _, id := range after {
		if slices.Contains(before, id) {
			t.Errorf("--force-upgrade kept container %s", id)
		}
	}
}

// wantAll fails the test unless names (from byRole) holds n containers and
// each ends with suffix, such as "@v2/running".
func wantAll(t *testing.T, what string, names []string, n int, suffix string) {
	t.Helper()
	bad := len(names) != n
	for _, name := range names {
		bad = bad || !strings.HasSuffix(name, suffix)
	}
	if bad {
		t.Errorf("%s: %v; want %d containers, each %s", what, names, n, suffix)
	}
}

func TestRollbackBringsBackTheSameContainers(t *testing.T) {
	p := newProject(t, fmt.Sprintf(fourWeb, "v1"), fourWebRancher(true, 2))
	p.mustDrover("up")
	before, v1IDs := byRole(p.ps(), "serving")
	p.write("docker-compose.yml", fmt.Sprintf(fourWeb, "v2"))
	p.mustDrover("up", "--upgrade", "--interval", "0")
	_, v2IDs := byRole(p.ps(), "serving")

	// From another directory, with no files: the labels say it all.
	elsewhere := &project{t: t, name: p.name, dir: t.TempDir()}
	r := elsewhere.mustDrover("up", "--rollback")
	rows := elsewhere.ps("-a")
	after, afterIDs := byRole(rows, "serving")
	if fmt.Sprint(afterIDs) != fmt.Sprint(v1IDs) || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("after the rollback %v %v, want the original %v %v\n%s", after, afterIDs, before, v1IDs, r)
	}
	if kept, _ := byRole(rows, "kept"); len(kept) != 0 {
		t.Errorf("kept after the rollback: %v", kept)
	}
	for _, id := range v2IDs {
		if _, err := docker.ContainerInspect(context.Background(), id); err == nil {
			t.Errorf("new container %s still exists after the rollback", id)
		}
	}
	if st := elsewhere.mustDrover("status"); !strings.Contains(st.stdout, "active") {
		t.Errorf("status after the rollback:\n%s", st.stdout)
	}
	// Nothing is kept any more: a second rollback is an error and changes
	// nothing.
	r = elsewhere.drover("up", "--rollback", "web")
	if r.code == 0 || !strings.Contains(r.stderr, `service "web": nothing to roll back to`) {
		t.Errorf("rollback with nothing kept:\n%s", r)
	}
	if _, ids := byRole(elsewhere.ps(), "serving"); fmt.Sprint(ids) != fmt.Sprint(v1IDs) {
		t.Errorf("a refused rollback changed the containers")
	}
}

func TestUpgradeAndRollbackOnAHostPort(t *testing.T) {
	port := freePort(t)
	// The container publishes the port itself: no front proxy.
	compose := fmt.Sprintf("services:\n  site:\n    image: IMAGE:%%s\n    ports: ['127.0.0.1:%d:80']\n    x-drover: {proxy: false}\n", port)
	p := newProject(t, fmt.Sprintf(compose, "v1"), "services:\n  site:\n    upgrade_strategy: {start_first: false, batch_size: 1}\n")
	p.mustDrover("up")
	url := fmt.Sprintf("http://127.0.0.1:%d/version", port)
	p.write("docker-compose.yml", fmt.Sprintf(compose, "v2"))
	p.mustDrover("up", "--upgrade")
	if v := get(t, url); v != "v2\n" {
		t.Errorf("after the upgrade: %q", v)
	}
	p.mustDrover("up", "--rollback")
	if v := get(t, url); v != "v1\n" {
		t.Errorf("after the rollback: %q", v)
	}
	// Start-first cannot put two containers on one host port: refused
	// before anything changes.
	p.write("rancher-compose.yml", "services:\n  site:\n    upgrade_strategy: {start_first: true}\n")
	before := p.ids()
	r := p.drover("up", "--upgrade")
	if r.code == 0 || !strings.Contains(r.stderr, "both cannot publish host port") {
		t.Errorf("start-first on a host port:\n%s", r)
	}
	if fmt.Sprint(p.ids()) != fmt.Sprint(before) {
		t.Errorf("the refused upgrade changed containers")
	}
}

func TestBrokenUpgradeRollsBackByDefault(t *testing.T) {
	p := newProject(t, fmt.Sprintf(fourWeb, "v1"), "services:\n  web:\n    scale: 2\n    upgrade_strategy: {start_first: true, batch_size: 1, interval_millis: 0}\n")
	p.mustDrover("up")
	_, v1IDs := byRole(p.ps(), "serving")
	p.write("docker-compose.yml", fmt.Sprintf(fourWeb, "broken"))
	r := p.drover("up", "--upgrade")
	if r.code == 0 {
		t.Fatalf("an upgrade to a broken image succeeded:\n%s", r)
	}
	for _, want := range []string{"container " + p.name + "-web-1-r2: unhealthy", "last lines of " + p.name + "-web-1", "hello broken: listening", "rolling back web"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r)
		}
	}
	rows := p.ps("-a")
	serving, ids := byRole(rows, "serving")
	if fmt.Sprint(ids) != fmt.Sprint(v1IDs) || len(rows) != 2 {
		t.Errorf("after the failed upgrade: %v (%d containers), want the 2 original v1 containers", serving, len(rows))
	}
}

func TestBrokenUpgradeWithPauseWaitsForTheUser(t *testing.T) {
	compose := "services:\n  web:\n    image: IMAGE:%s\n    deploy:\n      update_config: {failure_action: pause}\n"
	p := newProject(t, fmt.Sprintf(compose, "v1"), "services:\n  web:\n    scale: 2\n    upgrade_strategy: {start_first: true, batch_size: 1, interval_millis: 0}\n")
	p.mustDrover("up")
	_, v1IDs := byRole(p.ps(), "serving")
	p.write("docker-compose.yml", fmt.Sprintf(compose, "broken"))
	r := p.drover("up", "--upgrade")
	if r.code == 0 || !strings.Contains(r.stderr, "paused (failure_action: pause)") {
		t.Fatalf("paused upgrade:\n%s", r)
	}
	// The new container is unhealthy: the upgrade failed, and only the
	// rollback or another upgrade is offered, never a confirm.
	if st := p.mustDrover("status"); !strings.Contains(st.stdout, "upgrade-failed") || !strings.Contains(st.stdout, "drover up --rollback web (back to revision 1), or drover up --upgrade web (try revision 2 again)") {
		t.Errorf("status after the pause:\n%s", st.stdout)
	}
	if r := p.drover("up", "--confirm-upgrade"); r.code != 1 || !strings.Contains(r.stderr, "revision 2 has failed") {
		t.Errorf("confirm of a failed upgrade:\n%s", r)
	}
	p.mustDrover("up", "--rollback")
	rows := p.ps("-a")
	if _, ids := byRole(rows, "serving"); fmt.Sprint(ids) != fmt.Sprint(v1IDs) || len(rows) != 2 {
		t.Errorf("after the rollback: %+v, want the original %v", rows, v1IDs)
	}
}

// killMidUpgrade starts an upgrade of four containers one at a time and
// kills drover with SIGKILL once the first new container exists.
func killMidUpgrade(t *testing.T) (p *project, v1IDs []string) {
	p = newProject(t, fmt.Sprintf(fourWeb, "v1"), "services:\n  web:\n    scale: 4\n    upgrade_strategy: {start_first: true, batch_size: 1, interval_millis: 1000}\n")
	p.mustDrover("up")
	_, v1IDs = byRole(p.ps(), "serving")
	p.write("docker-compose.yml", fmt.Sprintf(fourWeb, "v2"))
	cmd := exec.Command(droverBin, "-p", p.name, "up", "--upgrade")
	cmd.Dir, cmd.Env = p.dir, cleanEnviron()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if len(p.containers()) > 4 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if n := len(p.containers()); n <= 4 || n >= 8 {
		t.Fatalf("killed with %d containers; the test wants an upgrade half-way", n)
	}
	return p, v1IDs
}

func TestKilledUpgradeIsFinishedByUpgrade(t *testing.T) {
	p, v1IDs := killMidUpgrade(t)
	if st := p.mustDrover("status"); !strings.Contains(st.stdout, "upgrading") {
		t.Errorf("status after the kill:\n%s", st.stdout)
	}
	p.mustDrover("up", "--upgrade")
	rows := p.ps("-a")
	serving, _ := byRole(rows, "serving")
	kept, keptIDs := byRole(rows, "kept")
	if len(rows) != 8 || len(serving) != 4 || len(kept) != 4 {
		t.Fatalf("after finishing: %d containers, serving %v, kept %v", len(rows), serving, kept)
	}
	slots := map[string]bool{}
	for _, r := range rows {
		key := fmt.Sprintf("%d/%d", r.Number, r.Revision)
		if slots[key] {
			t.Errorf("slot %s twice", key)
		}
		slots[key] = true
		if r.Role == "serving" && (r.State != "running" || r.Revision != 2) || r.Role == "kept" && (r.State != "exited" || r.Revision != 1) {
			t.Errorf("%+v", r)
		}
	}
	if fmt.Sprint(keptIDs) != fmt.Sprint(v1IDs) {
		t.Errorf("kept %v, want the original %v", keptIDs, v1IDs)
	}
}

func TestKilledUpgradeIsUndoneByRollback(t *testing.T) {
	p, v1IDs := killMidUpgrade(t)
	var newIDs []string // what the killed upgrade made
	for _, c := range p.containers() {
		if !slices.Contains(v1IDs, shortID(c.ID)) {
			newIDs = append(newIDs, c.ID)
		}
	}
	if len(newIDs) == 0 {
		t.Fatalf("the killed upgrade made no container; v1 %v", v1IDs)
	}
	p.mustDrover("up", "--rollback")
	rows := p.ps("-a")
	serving, ids := byRole(rows, "serving")
	wantAll(t, "serving after the rollback", serving, 4, "@v1/running")
	if len(rows) != 4 || fmt.Sprint(ids) != fmt.Sprint(v1IDs) {
		t.Errorf("after the rollback: %d containers, serving %v %v, want the original %v", len(rows), serving, ids, v1IDs)
	}
	numbers := map[int]bool{}
	for _, r := range rows {
		numbers[r.Number] = true
		if r.State != "running" || r.Revision != 1 || r.Name != fmt.Sprintf("%s-web-%d", p.name, r.Number) {
			t.Errorf("%+v", r)
		}
	}
	if fmt.Sprint(numbers) != "map[1:true 2:true 3:true 4:true]" {
		t.Errorf("slots %v after the rollback, want 1 to 4", numbers)
	}
	for _, id := range newIDs {
		if _, err := docker.ContainerInspect(context.Background(), id); err == nil {
			t.Errorf("container %s of the killed upgrade still exists after the rollback", shortID(id))
		}
	}
}

func TestDryRunAndDiffChangeNothing(t *testing.T) {
	compose := "services:\n  web:\n    image: IMAGE:%s\n    environment: {API_TOKEN: %s}\n"
	p := newProject(t, fmt.Sprintf(compose, "v1", "tok-one"), "")
	p.mustDrover("up")
	before := p.ids()
	p.write("docker-compose.yml", fmt.Sprintf(compose, "v2", "tok-two"))
	r := p.mustDrover("up", "--upgrade", "--dry-run")
	if !strings.Contains(r.stdout, "web: create web#1 (revision 2)") {
		t.Errorf("dry run:\n%s", r)
	}
	d := p.mustDrover("diff")
	for _, want := range []string{"environment.API_TOKEN\n    - ****\n    + ****", "image\n    - " + imageRepo + ":v1\n    + " + imageRepo + ":v2"} {
		if !strings.Contains(d.stdout, want) {
			t.Errorf("diff lacks %q:\n%s", want, d.stdout)
		}
	}
	if strings.Contains(d.stdout, "tok-") {
		t.Errorf("diff printed a secret:\n%s", d.stdout)
	}
	if shown := p.mustDrover("diff", "--show-values"); !strings.Contains(shown.stdout, "- tok-one") {
		t.Errorf("diff --show-values:\n%s", shown.stdout)
	}
	if fmt.Sprint(p.ids()) != fmt.Sprint(before) {
		t.Errorf("dry run or diff changed the containers")
	}
}

func TestCtrlCStopsBetweenSteps(t *testing.T) {
	p := newProject(t, fmt.Sprintf(fourWeb, "v1"), "services:\n  web:\n    scale: 4\n    upgrade_strategy: {start_first: true, batch_size: 1, interval_millis: 1000}\n")
	p.mustDrover("up")
	p.write("docker-compose.yml", fmt.Sprintf(fourWeb, "v2"))
	cmd := exec.Command(droverBin, "-p", p.name, "up", "--upgrade")
	cmd.Dir, cmd.Env = p.dir, cleanEnviron()
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for len(p.containers()) <= 4 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	_ = cmd.Process.Signal(os.Interrupt)
	err := cmd.Wait()
	if err == nil {
		t.Fatalf("an interrupted upgrade exited 0")
	}
	if !strings.Contains(stderr.String(), "interrupted: web is upgrading; next: drover up --upgrade web (go on to revision 2) or drover up --rollback web (back to revision 1)") || cmd.ProcessState.ExitCode() != 130 {
		t.Errorf("stderr:\n%s", stderr.String())
	}
	// Nothing was half done: the next run finishes the upgrade.
	p.mustDrover("up", "--upgrade")
	if serving, _ := byRole(p.ps(), "serving"); len(serving) != 4 || strings.Contains(fmt.Sprint(serving), "@v1") {
		t.Errorf("after finishing: %v", serving)
	}
}

func TestCrashWithoutHealthCheckRollsBack(t *testing.T) {
	// Without a health check, healthy means running through the monitor
	// period; a process that exits at once fails the batch.
	compose := "services:\n  web:\n    image: IMAGE:v1\n    healthcheck: {disable: true}\n    command: %s\n"
	p := newProject(t, fmt.Sprintf(compose, "[]"), "services:\n  web:\n    scale: 2\n    upgrade_strategy: {start_first: true, batch_size: 2}\n")
	p.mustDrover("up")
	_, v1IDs := byRole(p.ps(), "serving")
	p.write("docker-compose.yml", fmt.Sprintf(compose, `["-no-such-flag"]`))
	r := p.drover("up", "--upgrade")
	if r.code == 0 || !strings.Contains(r.stderr, "exited with status 2") || !strings.Contains(r.stderr, "flag provided but not defined") {
		t.Errorf("upgrade to a crashing command:\n%s", r)
	}
	rows := p.ps("-a")
	if _, ids := byRole(rows, "serving"); fmt.Sprint(ids) != fmt.Sprint(v1IDs) || len(rows) != 2 {
		t.Errorf("after the failed upgrade: %+v, want the original %v", rows, v1IDs)
	}
}

func TestAdoptsADockerComposeProject(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	needDockerCompose(t)
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n", "")
	cmd := exec.Command("docker-compose", "-p", p.name, "up", "-d")
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
	composeIDs := p.ids()
	// status and diff come from one decision: both say who made the
	// container and that its config hash is not drover's.
	if st := p.mustDrover("status"); !strings.Contains(st.stdout, "made by docker compose 1.29") || !strings.Contains(st.stdout, "config-hash") {
		t.Errorf("status of a docker-compose project:\n%s", st.stdout)
	}
	if d := p.mustDrover("diff"); !strings.Contains(d.stdout, "made by\n    - docker compose 1.29") || !strings.Contains(d.stdout, "config-hash") || strings.Contains(d.stdout, "in sync") {
		t.Errorf("diff of a docker-compose project:\n%s", d.stdout)
	}
	// A plain up changes nothing and says, with exit status 3, that the
	// project is not in step.
	if r := p.drover("up"); r.code != 3 || fmt.Sprint(p.ids()) != fmt.Sprint(composeIDs) {
		t.Errorf("a plain up of an adopted project exited %d or changed docker-compose's containers:\n%s", r.code, r)
	}
	p.mustDrover("up", "--upgrade")
	rows := p.ps("-a")
	if kept, ids := byRole(rows, "kept"); len(kept) != 1 || ids[0] != shortID(composeIDs[p.name+"_web_1"]) {
		t.Errorf("after the upgrade: %+v; want docker-compose's container kept", rows)
	}
	p.mustDrover("up", "--rollback")
	if fmt.Sprint(p.ids()) != fmt.Sprint(composeIDs) {
		t.Errorf("after the rollback %v, want docker-compose's container %v", p.ids(), composeIDs)
	}
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

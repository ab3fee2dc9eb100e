package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
)

// historyRow is what drover history --format json says of a revision.
type historyRow struct {
	Revision   int    `json:"revision"`
	Image      string `json:"image"`
	ImageID    string `json:"image_id"`
	RollbackOf int    `json:"rollback_of"`
	Containers string `json:"containers"`
	Changes    []struct {
		Key, Old, New string
	} `json:"changes"`
}

func (p *project) history() []historyRow {
	p.t.Helper()
	r := p.mustDrover("history", "--format", "json", "app")
	var out []struct {
		Revisions []historyRow `json:"revisions"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || len(out) != 1 {
		p.t.Fatalf("history: %v\n%s", err, r)
	}
	return out[0].Revisions
}

// revisions renders a history as "4:REPO:1@v1id:serving<1", newest first.
func revisions(rows []historyRow, ids map[string]string) string {
	var out []string
	for _, r := range rows {
		s := fmt.Sprintf("%d:%s@%s", r.Revision, r.Image[strings.LastIndex(r.Image, ":")+1:], ids[r.ImageID])
		if r.Containers != "" {
			s += ":" + r.Containers
		}
		if r.RollbackOf > 0 {
			s += fmt.Sprintf("<%d", r.RollbackOf)
		}
		out = append(out, s)
	}
	return strings.Join(out, " ")
}

// TestRevisionHistory is issue 15's proof, with issue 10's image identity:
// v1, then v2 and v3 each upgraded and confirmed; history lists the three
// with their images; a tag moved meanwhile does not change what revision 1
// means: --to-revision 1 makes new containers on v1's image ID, health-
// gated behind the front proxy, keeping v3's; a plain rollback returns to
// v3's kept container; and a scale up of the service once its tag moved
// makes the new slot from the serving revision's image ID.
func TestRevisionHistory(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	ctx := context.Background()
	repo := "drover-e2e-hist-" + randomHex(3)
	port := freePort(t)
	file := "services:\n  app:\n    image: " + repo + ":%d\n    environment: {RELEASE: \"%d\", TOKEN: \"secret-%d\"}\n    ports: [{target: 80, published: \"%d\", host_ip: 127.0.0.1}]\n    x-drover: {proxy: true}\n"
	p := newProject(t, fmt.Sprintf(file, 1, 1, 1, port), "")
	p.builtImages = append(p.builtImages, repo)
	ids := map[string]string{} // image ID → v1, v2, v3
	for n, src := range map[int]string{1: imageRepo + ":v1", 2: imageRepo + ":v2"} {
		if err := docker.ImageTag(ctx, src, fmt.Sprintf("%s:%d", repo, n)); err != nil {
			t.Fatal(err)
		}
	}
	// v3: v2's binary under another image ID (a label), built in a moment.
	build := exec.Command("docker", "build", "-q", "-t", repo+":3", "-")
	build.Env = append(cleanEnviron(), "DOCKER_BUILDKIT=0")
	build.Stdin = strings.NewReader("FROM " + imageRepo + ":v2\nLABEL release=3\n")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s:3: %v\n%s", repo, err, out)
	}
	for n := 1; n <= 3; n++ {
		img, err := docker.ImageInspect(ctx, fmt.Sprintf("%s:%d", repo, n))
		if err != nil {
			t.Fatal(err)
		}
		ids[img.ID] = fmt.Sprintf("v%d", n)
		ids["v"+fmt.Sprint(n)] = img.ID
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/version", port)

	p.mustDrover("up")
	for n := 2; n <= 3; n++ {
		p.write("docker-compose.yml", fmt.Sprintf(file, n, n, n, port))
		p.mustDrover("up", "--upgrade", "--confirm-upgrade")
	}
	h := p.history()
	if got, want := revisions(h, ids), "3:3@v3:serving 2:2@v2 1:1@v1"; got != want {
		t.Errorf("history after v3: %s, want %s", got, want)
	}
	table := p.mustDrover("history", "app").stdout
	if strings.Contains(table, "secret-") || !strings.Contains(table, "environment.TOKEN: **** → ****") {
		t.Errorf("history prints environment values, or not the change masked:\n%s", table)
	}
	t.Logf("drover history after v3:\n%s", table)
	v3Container := servingID(t, p)

	// The tag of revision 1 moves to v3's image: revision 1 still means v1.
	if err := docker.ImageTag(ctx, repo+":3", repo+":1"); err != nil {
		t.Fatal(err)
	}
	r := p.mustDrover("--progress", "plain", "up", "--rollback", "--to-revision", "1", "app")
	if !strings.Contains(r.stdout+r.stderr, "wait-healthy") {
		t.Errorf("the rollback to revision 1 was not gated:\n%s", r)
	}
	if v := version(t, url); v != "v1" {
		t.Errorf("after --to-revision 1 the proxy answers %q, want v1", v)
	}
	rev4 := inspectServing(t, p)
	if ids[rev4.Image] != "v1" || rev4.Config.Labels["io.drover.revision"] != "4" || rev4.State.Health == nil || rev4.State.Health.Status != "healthy" {
		t.Errorf("revision 4 runs %s (%s), revision label %s, health %+v", rev4.Image, ids[rev4.Image], rev4.Config.Labels["io.drover.revision"], rev4.State.Health)
	}
	for _, row := range p.ps() {
		if row.Role == "serving" && row.Image != repo+":1" {
			t.Errorf("ps shows revision 4's image as %q, want the reference it was made from, %s:1", row.Image, repo)
		}
	}
	if c, err := docker.ContainerInspect(ctx, v3Container); err != nil || c.State.Running || !strings.HasSuffix(c.Name, "-r3") {
		t.Errorf("v3's container is not kept (stopped, renamed): %v %+v", err, c.State)
	}
	if got, want := revisions(p.history(), ids), "4:1@v1:serving<1 3:3@v3:kept 2:2@v2 1:1@v1"; got != want {
		t.Errorf("history after --to-revision 1: %s, want %s", got, want)
	}

	// A plain rollback returns to v3's kept container.
	p.mustDrover("up", "--rollback", "app")
	if id := servingID(t, p); id != v3Container {
		t.Errorf("after the rollback %s serves, want v3's kept container %s", id, v3Container)
	}
	if v := version(t, url); v != "v2" {
		t.Errorf("after the rollback the proxy answers %q, want v2 (v3 runs v2's binary)", v)
	}
	// Revision 4 never served confirmed and left no container: it is
	// forgotten, and the next upgrade is revision 4 again.
	if got, want := revisions(p.history(), ids), "3:3@v3:serving 2:2@v2 1:1@v1"; got != want {
		t.Errorf("history after the rollback: %s, want %s", got, want)
	}

	// v3's tag moves to v2's image: the service is out of sync, and a
	// scale up makes the new slot from revision 3's image ID.
	if err := docker.ImageTag(ctx, repo+":2", repo+":3"); err != nil {
		t.Fatal(err)
	}
	if r := p.drover("scale", "app=2"); r.code != 3 || !strings.Contains(r.stderr, "new containers are made from revision 3, the one serving") {
		t.Errorf("scale up of the out-of-sync service:\n%s", r)
	}
	n := 0
	for _, c := range p.containers() {
		if c.Labels["com.docker.compose.service"] != "app" {
			continue // the front proxy
		}
		n++
		if c.Labels["com.docker.compose.container-number"] == "2" && (ids[c.ImageID] != "v3" || c.Labels["io.drover.revision"] != "3") {
			t.Errorf("the new slot %s runs %s (%s), revision %s; want v3's image, revision 3", c.Names[0], c.ImageID, ids[c.ImageID], c.Labels["io.drover.revision"])
		}
	}
	if n != 2 {
		t.Errorf("%d containers of app after the scale up, want 2", n)
	}

	// Nothing kept now: a plain rollback goes back one revision, making
	// revision 2 again on its own image ID.
	start := time.Now()
	p.mustDrover("up", "--rollback", "app")
	t.Logf("one back, 2 containers: %s", time.Since(start).Round(100*time.Millisecond))
	if got, want := revisions(p.history(), ids), "4:2@v2:serving<2 3:3@v3:kept 2:2@v2 1:1@v1"; got != want {
		t.Errorf("history after a plain rollback with nothing kept: %s, want %s", got, want)
	}
}

// version asks the proxy for the version that answers, on a connection of
// its own: an idle keep-alive connection would hold the next switch's
// drain for its whole timeout.
func version(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(body))
}

// servingID is the ID of the project's one container under its slot's name.
func servingID(t *testing.T, p *project) string {
	t.Helper()
	_, ids := byRole(p.ps(), "serving")
	if len(ids) != 1 {
		t.Fatalf("%d serving containers, want 1", len(ids))
	}
	return ids[0]
}

func inspectServing(t *testing.T, p *project) container.InspectResponse {
	t.Helper()
	c, err := docker.ContainerInspect(context.Background(), servingID(t, p))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

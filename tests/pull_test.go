package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/image"
)

// releaseFiles is a one-service project on a registry tag, as the seed
// runs it: rancher-compose's "always pull image before creating".
func releaseFiles(ref string, port int) string {
	return fmt.Sprintf(`
services:
  web:
    image: %s
    ports: ["127.0.0.1:%d:80"]
    labels:
      io.rancher.container.pull_image: always
`, ref, port)
}

// (1) pull_image: always pulls on up when the image is not on the engine.
func TestPullAlwaysPullsOnUp(t *testing.T) {
	reg := startRegistry(t)
	p := newProject(t, "services: {}\n", "")
	ref := reg.Push(t, imageRepo+":v1", p.name+"/web:latest", false)
	port := freePort(t)
	p.write("docker-compose.yml", releaseFiles(ref, port))
	r := p.mustDrover("--progress", "plain", "up", "-d")
	if !strings.Contains(r.stdout, "pull") {
		t.Errorf("up did not say it pulled:\n%s", r)
	}
	if got, want := imageID(t, ref), imageID(t, imageRepo+":v1"); got != want {
		t.Fatalf("%s is %q here after up, want the pushed %s", ref, got, want)
	}
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.HasPrefix(body, "hello from v1") {
		t.Errorf("web answered %q", body)
	}
}

// (2) A new :latest pushed from elsewhere is reported by status without
// pulling, then pulled and upgraded by up --upgrade.
func TestMovedTagReportedThenUpgraded(t *testing.T) {
	reg := startRegistry(t)
	p := newProject(t, "services: {}\n", "")
	ref := reg.Push(t, imageRepo+":v1", p.name+"/web:latest", false)
	port := freePort(t)
	p.write("docker-compose.yml", releaseFiles(ref, port))
	p.mustDrover("up", "-d")
	v1 := imageID(t, ref)
	reg.PushFromElsewhere(t, imageRepo+":v2", p.name+"/web:latest")

	st := p.mustDrover("status")
	if !regexp.MustCompile(`registry web: the registry has a newer image for ` + regexp.QuoteMeta(ref) + `: here sha256:[0-9a-f]{64}, in the registry sha256:[0-9a-f]{64}`).MatchString(st.stdout) {
		t.Fatalf("status does not report the moved tag with both digests:\n%s", st)
	}
	if got := imageID(t, ref); got != v1 {
		t.Fatalf("status pulled: %s is now %s, was %s", ref, got, v1)
	}
	if d := p.mustDrover("diff"); !strings.Contains(d.stdout, "web: registry: the registry has a newer image") {
		t.Errorf("diff does not report the moved tag:\n%s", d)
	}

	up := p.mustDrover("--progress", "plain", "up", "--upgrade")
	if !strings.Contains(up.stdout, "pulled") {
		t.Errorf("up --upgrade did not say it pulled:\n%s", up)
	}
	if got, want := imageID(t, ref), imageID(t, imageRepo+":v2"); got != want {
		t.Fatalf("%s is %s after up --upgrade, want the pushed v2 %s", ref, got, want)
	}
	if body := get(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); !strings.HasPrefix(body, "hello from v2") {
		t.Errorf("web answered %q after the upgrade", body)
	}
	if st := p.mustDrover("status"); strings.Contains(st.stdout, "registry web:") {
		t.Errorf("status still reports the registry after the upgrade:\n%s", st)
	}
}

// (6) An unreachable registry with pull: always stops up and up --upgrade
// before any change, with one error naming the registry; status says it
// cannot ask and why.
func TestUnreachableRegistryChangesNothing(t *testing.T) {
	dead := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	p := newProject(t, "services: {}\n", "")
	ref := dead + "/" + p.name + "/web:latest"
	if err := docker.ImageTag(context.Background(), imageRepo+":v1", ref); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = docker.ImageRemove(context.Background(), ref, image.RemoveOptions{}) })
	p.write("docker-compose.yml", releaseFiles(ref, freePort(t)))
	p.mustDrover("up", "-d", "--pull", "missing")
	before := p.ids()

	for _, args := range [][]string{{"up", "-d"}, {"up", "--upgrade"}, {"up", "--upgrade", "--force-upgrade"}} {
		r := p.drover(args...)
		if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "the registry "+dead+" did not answer") {
			t.Errorf("drover %s: want exit 1 and an error naming the registry %s:\n%s", strings.Join(args, " "), dead, r)
		}
		if after := p.ids(); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("drover %s changed the containers: %v, before %v", strings.Join(args, " "), after, before)
		}
		for _, c := range p.containers() {
			if c.State != "running" {
				t.Errorf("after drover %s, %s is %s", strings.Join(args, " "), c.Names[0], c.State)
			}
		}
	}
	if got := imageID(t, ref); got != imageID(t, imageRepo+":v1") {
		t.Errorf("the failed pulls changed the local tag %s: %s", ref, got)
	}
	st := p.mustDrover("status")
	if !strings.Contains(st.stdout, "registry web: cannot ask the registry about "+ref+": the registry "+dead+" did not answer") {
		t.Errorf("status does not say it cannot ask the registry:\n%s", st)
	}
}

// (3) and (4): after a tag moved, up --rollback brings back the original
// containers; a scale-up then makes the new slot on the rolled-back image
// ID, and a container removed by hand is made again on it, not on what the
// tag means now.
func TestMovedTagRollbackKeepsTheServingImage(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	reg := startRegistry(t)
	p := newProject(t, "services: {}\n", "")
	ref := reg.Push(t, imageRepo+":v1", p.name+"/web:latest", false)
	p.write("docker-compose.yml", fmt.Sprintf("services:\n  web:\n    image: %s\n    labels:\n      io.rancher.container.pull_image: always\n", ref))
	p.mustDrover("up", "-d")
	original := p.ids()
	v1, v2 := imageID(t, imageRepo+":v1"), imageID(t, imageRepo+":v2")
	reg.PushFromElsewhere(t, imageRepo+":v2", p.name+"/web:latest")
	p.mustDrover("up", "--upgrade")
	if got := p.imagesOf("web"); got[p.name+"-web-1"] != v2 {
		t.Fatalf("after up --upgrade web-1 runs %v, want v2 %s", got, v2)
	}
	p.mustDrover("up", "--rollback")
	if got := p.ids(); fmt.Sprint(got) != fmt.Sprint(original) {
		t.Fatalf("after the rollback the containers are %v, want the originals %v", got, original)
	}
	if imageID(t, ref) != v2 {
		t.Fatalf("the tag %s should still name v2 here", ref)
	}

	if r := p.drover("scale", "web=2"); r.code != 0 && r.code != 3 {
		t.Fatalf("scale web=2:\n%s", r)
	}
	imgs := p.imagesOf("web")
	if len(imgs) != 2 || imgs[p.name+"-web-1"] != v1 || imgs[p.name+"-web-2"] != v1 {
		t.Fatalf("after scale web=2 the containers run %v, want both on the rolled-back v1 %s (v2 is %s)", imgs, v1, v2)
	}

	// A plain up (the files say scale 1) pulls (the tag is already v2
	// here), makes web-1 again on v1 and reports the service out of sync.
	if err := docker.ContainerRemove(context.Background(), p.name+"-web-1", container.RemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	if r := p.drover("up", "-d"); r.code != 3 || !strings.Contains(r.stderr, "out of sync") {
		t.Fatalf("up after a container was removed by hand: want exit 3 and the service out of sync:\n%s", r)
	}
	if imgs := p.imagesOf("web"); len(imgs) != 1 || imgs[p.name+"-web-1"] != v1 {
		t.Fatalf("the container removed by hand came back on %v, want the serving v1 %s", imgs, v1)
	}
}

// imagesOf maps the names of a service's containers to their image IDs.
func (p *project) imagesOf(service string) map[string]string {
	out := map[string]string{}
	for _, c := range p.containers() {
		if c.Labels["com.docker.compose.service"] == service {
			out[strings.TrimPrefix(c.Names[0], "/")] = c.ImageID
		}
	}
	return out
}

// (7) The release loop from drover: build and push in one project
// directory, then another "host" (a second project directory that only
// names the tag) pulls it, and upgrades once a new build is pushed.
func TestBuildPushThenUpgradeElsewhere(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	reg := startRegistry(t)
	src := newProject(t, "services: {}\n", "")
	ref := reg.Ref(src.name + "/web:latest")
	src.write("docker-compose.yml", fmt.Sprintf("services:\n  web:\n    build: ./web\n    image: %s\n", ref))
	if err := os.MkdirAll(filepath.Join(src.dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(helloBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src.dir, "web", "hello"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	src.write("web/Dockerfile", "FROM scratch\nARG RELEASE=1\nLABEL release=$RELEASE\nCOPY hello /hello\nENTRYPOINT [\"/hello\"]\n")
	src.mustDrover("build")
	first := imageID(t, ref)
	if first == "" {
		t.Fatalf("drover build made no %s", ref)
	}
	if r := src.mustDrover("--progress", "plain", "push"); !regexp.MustCompile(`push .*done in .*\[\d+/\d+ layers`).MatchString(r.stdout) || !strings.Contains(r.stdout, "push: 1 pushed") {
		t.Errorf("push does not show its layers and count:\n%s", r)
	}
	reg.Untag(t, ref)

	host := newProject(t, fmt.Sprintf("services:\n  web:\n    image: %s\n    pull_policy: always\n", ref), "")
	// The layers are not on this engine any more: the pull downloads them,
	// and --progress json reports it.
	r := host.mustDrover("--progress", "json", "up", "-d")
	checkPullProgress(t, r)
	if got := host.imagesOf("web"); got[host.name+"-web-1"] != first {
		t.Fatalf("the other host runs %v, want the pushed build %s", got, first)
	}

	src.mustDrover("build", "--build-arg", "RELEASE=2", "--no-cache")
	second := imageID(t, ref)
	if second == first || second == "" {
		t.Fatalf("the second build gave %q, the first %q", second, first)
	}
	src.mustDrover("push", "web")
	// Back to the first build here, as the other host has it.
	if err := docker.ImageTag(context.Background(), first, ref); err != nil {
		t.Fatal(err)
	}
	if r := host.drover("up", "-d"); r.code != 3 || !strings.Contains(r.stderr, "out of sync") {
		t.Errorf("a plain up after the push: want exit 3, out of sync:\n%s", r)
	}
	host.mustDrover("up", "--upgrade")
	if got := host.imagesOf("web"); got[host.name+"-web-1"] != second {
		t.Fatalf("after up --upgrade the other host runs %v, want the second build %s", got, second)
	}
}

// checkPullProgress checks that a run with --progress json reported a pull
// done and, before it, its layers all downloaded.
func checkPullProgress(t *testing.T, r result) {
	t.Helper()
	var pulled, progress bool
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		var ev struct {
			Action, Phase string
			Progress      *struct {
				Layers     int
				LayersDone int   `json:"layers_done"`
				BytesDone  int64 `json:"bytes_done"`
			}
		}
		if err := json.Unmarshal([]byte(line), &ev); err != nil {
			t.Fatalf("--progress json printed %q: %v", line, err)
		}
		pulled = pulled || ev.Action == "pull" && ev.Phase == "done"
		progress = progress || ev.Action == "pull" && ev.Phase == "progress" && ev.Progress != nil &&
			ev.Progress.Layers > 0 && ev.Progress.LayersDone == ev.Progress.Layers && ev.Progress.BytesDone > 0
	}
	if !pulled || !progress {
		t.Errorf("--progress json: pull done %v, a progress event with every layer and some bytes done %v:\n%s", pulled, progress, r)
	}
}

package tests

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

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

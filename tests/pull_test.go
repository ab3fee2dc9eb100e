package tests

import (
	"fmt"
	"strings"
	"testing"
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

package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// adoptedCompose is a service with the keys drover reads back from a
// docker-compose container's inspect data; GREETING and PORT are what the
// tests change.
const adoptedCompose = `services:
  web:
    image: IMAGE:v1
    environment:
      GREETING: GREETING_VALUE
    ports:
      - "127.0.0.1:PORT:80"
    volumes:
      - data:/data
      - ./site:/site:ro
    labels:
      team: blue
    restart: unless-stopped
    networks:
      default:
        aliases: [www]
volumes:
  data:
`

func adoptedFile(greeting string, port int) string {
	return strings.NewReplacer("GREETING_VALUE", greeting, "PORT", fmt.Sprint(port)).Replace(adoptedCompose)
}

// composeUp starts the project with docker-compose 1.29, as a user did
// before adopting drover.
func composeUp(t *testing.T, p *project) {
	t.Helper()
	// The bind mount's source: docker-compose would make it as root.
	if err := os.MkdirAll(filepath.Join(p.dir, "site"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("docker-compose", "-p", p.name, "up", "-d")
	cmd.Dir = p.dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose up: %v\n%s", err, out)
	}
}

// diffKeys is the keys a drover diff lists for a service: the lines
// indented by two spaces (values are indented by four).
var diffKey = regexp.MustCompile(`(?m)^  (\S.*)$`)

func diffKeys(out string) []string {
	var keys []string
	for _, m := range diffKey.FindAllStringSubmatch(out, -1) {
		keys = append(keys, m[1])
	}
	return keys
}

// TestAdoptedDiffNamesWhatChanged: a docker-compose project whose file then
// changes an environment value and a port shows in diff exactly those keys
// beside who made the container and its hash, the value masked unless
// --show-values; status says out of sync too.
func TestAdoptedDiffNamesWhatChanged(t *testing.T) {
	needDockerCompose(t)
	oldPort, newPort := freePort(t), freePort(t)
	p := newProject(t, adoptedFile("hi", oldPort), "")
	composeUp(t, p)
	p.write("docker-compose.yml", adoptedFile("hello", newPort))

	d := p.mustDrover("diff")
	if got, want := strings.Join(diffKeys(d.stdout), ", "), "made by, config-hash, environment.GREETING, ports"; got != want {
		t.Errorf("diff keys: %s\nwant %s\n%s", got, want, d.stdout)
	}
	ports := fmt.Sprintf("  ports\n    - 127.0.0.1:%d:80/tcp\n    + 127.0.0.1:%d:80/tcp\n", oldPort, newPort)
	if !strings.Contains(d.stdout, "  environment.GREETING\n    - ****\n    + ****\n") || !strings.Contains(d.stdout, ports) {
		t.Errorf("diff without --show-values:\n%s", d.stdout)
	}
	if strings.Contains(d.stdout, "hello") || strings.Contains(d.stdout, "- hi") {
		t.Errorf("diff printed an environment value without --show-values:\n%s", d.stdout)
	}
	if v := p.mustDrover("diff", "--show-values"); !strings.Contains(v.stdout, "  environment.GREETING\n    - hi\n    + hello\n") {
		t.Errorf("diff --show-values:\n%s", v.stdout)
	}
	// status does not inspect, but it says the same thing: out of sync.
	if st := p.mustDrover("status"); !strings.Contains(st.stdout, "made by docker compose 1.29") || !strings.Contains(st.stdout, "drover up --upgrade web") {
		t.Errorf("status of the changed docker-compose project:\n%s", st.stdout)
	}
}

// TestAdoptedDiffOfAnUnchangedFile: with the file docker-compose started
// from, diff names no key beyond made by and config-hash: what the image,
// the engine and docker-compose add on their own is no difference.
func TestAdoptedDiffOfAnUnchangedFile(t *testing.T) {
	needDockerCompose(t)
	p := newProject(t, adoptedFile("hi", freePort(t)), "")
	composeUp(t, p)
	d := p.mustDrover("diff")
	if got := strings.Join(diffKeys(d.stdout), ", "); got != "made by, config-hash" {
		t.Errorf("diff keys of an unchanged docker-compose project: %s\n%s", got, d.stdout)
	}
	if st := p.mustDrover("status"); !strings.Contains(st.stdout, "made by docker compose 1.29") {
		t.Errorf("status and diff disagree on whether web is out of sync:\n%s", st.stdout)
	}
}

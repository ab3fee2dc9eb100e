package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A catalog entry of ours, shaped like the community catalog's: questions in
// rancher-compose.yml (v2 layout, .catalog under services), the compose file
// a Go template rendered with the answers, the rancher-compose file
// interpolated with them.
const catalogEntryTemplate = `version: '2'
services:
  web:
    image: IMAGE:{{ .Values.VERSION }}
    environment:
      ADMIN_PASSWORD: ${ADMIN_PASSWORD}
    labels:
      stack: "{{ .Stack.Name }}"
{{- if eq .Values.PUBLISH "true" }}
    ports:
      - "127.0.0.1:${HTTP_PORT}:80"
{{- end }}
  worker:
    image: IMAGE:{{ .Values.VERSION }}
`

const catalogEntryRancher = `version: '2'
services:
  .catalog:
    name: hello
    version: 1.0.0
    description: the hello server, behind a port of your choice
    questions:
      - variable: VERSION
        label: Version
        type: enum
        options: [v1, v2]
        default: v1
      - variable: PUBLISH
        type: boolean
        default: true
      - variable: HTTP_PORT
        label: Port on 127.0.0.1
        type: int
        min: 1024
        max: 65535
        required: true
      - variable: ADMIN_PASSWORD
        type: password
        required: true
      - variable: WORKERS
        type: int
        default: 2
  web:
    scale: 1
    upgrade_strategy:
      batch_size: 1
      interval_millis: 100
  worker:
    scale: ${WORKERS}
    upgrade_strategy:
      batch_size: 2
      interval_millis: 100
`

// TestCatalogEntryUpAndUpgradeByAnswer brings a templated catalog entry up
// with answers given by file, then upgrades it by changing one answer.
func TestCatalogEntryUpAndUpgradeByAnswer(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	p := newProject(t, "", "")
	if err := os.Remove(filepath.Join(p.dir, "docker-compose.yml")); err != nil {
		t.Fatal(err)
	}
	p.write("docker-compose.yml.tpl", catalogEntryTemplate)
	p.write("rancher-compose.yml", catalogEntryRancher)
	port := freePort(t)
	password := "s3cret-" + randomHex(4)
	answers := func(version string) {
		p.write("answers.txt", fmt.Sprintf("# answers\nVERSION=%s\nHTTP_PORT=%d\nADMIN_PASSWORD=%s\n", version, port, password))
	}
	answers("v1")

	// Without answers, the required questions are listed and nothing is made.
	r := p.drover("up")
	if r.code == 0 || !strings.Contains(r.stderr, `2 catalog questions have no acceptable value`) ||
		!strings.Contains(r.stderr, `"HTTP_PORT"`) || !strings.Contains(r.stderr, `"ADMIN_PASSWORD"`) {
		t.Fatalf("up without answers: want one error listing HTTP_PORT and ADMIN_PASSWORD:\n%s", r)
	}
	if cs := p.containers(); len(cs) != 0 {
		t.Fatalf("up without answers made %d containers", len(cs))
	}

	r = p.mustDrover("--answers", "answers.txt", "config", "--questions")
	if strings.Contains(r.stdout, password) || !strings.Contains(r.stdout, "********") || !strings.Contains(r.stdout, fmt.Sprint(port)) {
		t.Errorf("config --questions: want the port shown and the password masked:\n%s", r)
	}

	p.mustDrover("--answers", "answers.txt", "up")
	if got := strings.TrimSpace(get(t, fmt.Sprintf("http://127.0.0.1:%d/version", port))); got != "v1" {
		t.Errorf("version %q, want v1", got)
	}
	rows := p.ps()
	if serving, _ := byRole(rows, "serving"); len(serving) != 3 {
		t.Errorf("serving %v, want web and 2 workers (scale: ${WORKERS} from its default)", serving)
	}
	checkAnswerNotInLabels(t, p, password)

	// One answer changes: the template renders a new image, and the
	// services upgrade.
	answers("v2")
	p.mustDrover("--answers", "answers.txt", "up", "--upgrade")
	if got := strings.TrimSpace(get(t, fmt.Sprintf("http://127.0.0.1:%d/version", port))); got != "v2" {
		t.Errorf("version after the upgrade %q, want v2", got)
	}
	rows = p.ps("-a")
	serving, _ := byRole(rows, "serving")
	kept, _ := byRole(rows, "kept")
	if strings.Join(serving, " ") != fmt.Sprintf("%[1]s-web-1@v2/running %[1]s-worker-1@v2/running %[1]s-worker-2@v2/running", p.name) || len(kept) != 3 {
		t.Errorf("after the upgrade: serving %v, kept %v; want v2 serving and the 3 v1 containers kept", serving, kept)
	}
	p.mustDrover("--answers", "answers.txt", "up", "--confirm-upgrade")
	if r := p.mustDrover("--answers", "answers.txt", "up"); strings.Contains(r.stdout+r.stderr, "out of sync") {
		t.Errorf("the same answers render a project out of sync with itself:\n%s", r)
	}
}

// checkAnswerNotInLabels asserts that a password answer is in no label but
// the spec drover records, and there only inside the environment the
// compose file puts in the container.
func checkAnswerNotInLabels(t *testing.T, p *project, secret string) {
	t.Helper()
	for _, c := range p.containers() {
		info, err := docker.ContainerInspect(context.Background(), c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range info.Config.Labels {
			if !strings.Contains(v, secret) {
				continue
			}
			if k != "io.drover.spec" {
				t.Errorf("%s: label %s holds the password answer", info.Name, k)
				continue
			}
			var spec map[string]any
			if err := json.Unmarshal([]byte(v), &spec); err != nil {
				t.Fatal(err)
			}
			delete(spec, "environment")
			if rest, _ := json.Marshal(spec); strings.Contains(string(rest), secret) {
				t.Errorf("%s: io.drover.spec holds the password answer outside the environment", info.Name)
			}
		}
	}
}

package tests

import (
	"encoding/json"
	"strings"
	"testing"
)

// drover ls lists the engine's projects with their services' states, and a
// project asked for by name that has no container is named as absent, with
// the ones that exist, instead of looking like an empty project.
func TestLsAndUnknownProjects(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n", "")
	p.mustDrover("up")
	r := p.mustDrover("ls", "--format", "json")
	var rows []struct {
		Name                string
		Services            []string
		Running, Containers int
		States              string
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil {
		t.Fatalf("ls --format json: %v\n%s", err, r)
	}
	found := 0
	for _, row := range rows {
		if row.Name == p.name {
			found++
			if strings.Join(row.Services, ",") != "web" || row.Running != 1 || row.Containers != 1 || row.States != "web active" {
				t.Errorf("ls row of the project: %+v", row)
			}
		}
		if strings.HasPrefix(row.Name, "drover-lease") {
			t.Errorf("ls lists a lease as a project: %+v", row)
		}
	}
	if found != 1 {
		t.Errorf("ls lists the project %d times:\n%s", found, r.stdout)
	}
	if table := p.mustDrover("ls"); !strings.Contains(table.stdout, p.name) || !strings.Contains(table.stdout, "web active") {
		t.Errorf("ls:\n%s", table.stdout)
	}

	absent := p.name + "-nosuch"
	for _, args := range [][]string{{"up", "--rollback"}, {"up", "--confirm-upgrade"}, {"status"}, {"ps"}} {
		r := p.droverIn(t.TempDir(), append([]string{"-p", absent}, args...)...)
		if r.code != 1 || !strings.Contains(r.stderr, `no project "`+absent+`" on this engine; the projects here are: `) || !strings.Contains(r.stderr, p.name) {
			t.Errorf("drover -p %s %s:\n%s", absent, strings.Join(args, " "), r)
		}
	}
	if r := p.droverIn(t.TempDir(), "-p", absent, "down"); r.code != 0 || !strings.Contains(r.stderr, "nothing to remove") {
		t.Errorf("down of an absent project:\n%s", r)
	}
}

// droverIn runs drover in another directory, one without compose files.
func (p *project) droverIn(dir string, args ...string) result {
	p.t.Helper()
	q := *p
	q.dir = dir
	return q.droverEnv(nil, args...)
}

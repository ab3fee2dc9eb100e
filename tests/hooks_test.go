package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// hooksCompose is a service with both lifecycle hooks: each appends a line
// (version, hostname, whether the server answered, $MARK) to a file in a
// directory of the test's, bind-mounted. POST_START is the post_start
// command.
const hooksCompose = `services:
  web:
    image: IMAGE:%s
    volumes: ['%s:/hooks']
    post_start:
      - command: %s
        environment: {MARK: started}
    pre_stop:
      - command: [/hello, -append, /hooks/stopping]
        environment: {MARK: stopping}
`

// Issue 16: a pre_stop hook runs in each old container before it stops
// during an upgrade (and at down), a post_start hook in each new one; a
// failing post_start hook fails the container's gate, and the upgrade rolls
// back, the failure naming the container and the exit code, the hook's
// environment values masked.
func TestHooksRunAroundAnUpgrade(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	dir := t.TempDir()
	appendStarted := "[/hello, -append, /hooks/started]"
	rancher := "services:\n  web:\n    scale: 2\n    upgrade_strategy: {start_first: false, batch_size: 1}\n"
	p := newProject(t, fmt.Sprintf(hooksCompose, "v1", dir, appendStarted), rancher)
	p.mustDrover("up")
	if got := hookLines(t, dir, "started"); len(got) != 2 || !strings.HasPrefix(got[0], "v1 ") || !strings.HasSuffix(got[0], " started") {
		t.Fatalf("after up, post_start lines %q; want one per v1 container with MARK=started", got)
	}
	_, v1 := byRole(p.ps(), "serving")

	p.write("docker-compose.yml", fmt.Sprintf(hooksCompose, "v2", dir, appendStarted))
	r := p.mustDrover("--progress", "json", "up", "--upgrade")
	stopping := hookLines(t, dir, "stopping")
	var hosts []string
	for _, l := range stopping {
		f := strings.Fields(l)
		if len(f) != 4 || f[0] != "v1" || f[2] != "serving" || f[3] != "stopping" {
			t.Errorf("pre_stop line %q: want v1, its host, serving (the server still answered), MARK=stopping", l)
			continue
		}
		hosts = append(hosts, f[1])
	}
	var short []string // a container's hostname is its short ID
	for _, id := range v1 {
		short = append(short, id[:12])
	}
	sort.Strings(hosts)
	if fmt.Sprint(hosts) != fmt.Sprint(short) {
		t.Errorf("pre_stop ran in %v; want the two v1 containers %v", hosts, short)
	}
	checkHookBeforeStop(t, r)
	if got := hookLines(t, dir, "started"); len(got) != 4 || !strings.HasPrefix(got[3], "v2 ") {
		t.Errorf("after the upgrade, post_start lines %q; want 2 more, of v2", got)
	}
	p.mustDrover("up", "--confirm-upgrade")
	_, v2 := byRole(p.ps(), "serving")

	// A post_start hook that fails: the upgrade fails at the first batch and
	// rolls back to the v2 containers.
	p.write("docker-compose.yml", strings.Replace(fmt.Sprintf(hooksCompose, "v2", dir, "[/hello, -exit, '3']"), "MARK: started", "MARK: topsecret", 1))
	r = p.drover("up", "--upgrade")
	if r.code == 0 {
		t.Fatalf("an upgrade whose post_start hook fails succeeded:\n%s", r)
	}
	want := fmt.Sprintf(`service "web": post-start web#1: post_start hook "/hello -exit 3" in %s-web-1-r3 exited with status 3: hello v2: exiting with status 3 (-exit, MARK=***)`, p.name)
	for _, w := range []string{want, "rolling back web"} {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r)
		}
	}
	if strings.Contains(r.stdout+r.stderr, "topsecret") {
		t.Errorf("the hook's environment value is printed:\n%s", r)
	}
	rows := p.ps("-a")
	if _, ids := byRole(rows, "serving"); fmt.Sprint(ids) != fmt.Sprint(v2) || len(rows) != 2 {
		t.Errorf("after the failed upgrade: %v, want the 2 v2 containers %v", rows, v2)
	}

	before := len(hookLines(t, dir, "stopping"))
	p.mustDrover("down")
	if got := hookLines(t, dir, "stopping"); len(got) != before+2 || !strings.HasPrefix(got[len(got)-1], "v2 ") {
		t.Errorf("down: pre_stop lines %q; want 2 more, of v2", got[before:])
	}
}

func hookLines(t *testing.T, dir, file string) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

// checkHookBeforeStop: in the run's events, each keep's stop begins after
// that container's pre-stop step is done.
func checkHookBeforeStop(t *testing.T, r result) {
	t.Helper()
	hooked := map[string]bool{}
	stops := 0
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var ev progressEvent
		if json.Unmarshal(sc.Bytes(), &ev) != nil {
			continue
		}
		switch {
		case ev.Action == "pre-stop" && ev.Phase == "done":
			hooked[ev.Target] = true
		case ev.Action == "stop" && ev.Phase == "begun":
			stops++
			if !hooked[ev.Target] {
				t.Errorf("%s stops before its pre_stop hook is done", ev.Target)
			}
		}
	}
	if stops != 2 {
		t.Errorf("%d stops in the upgrade's events, want 2:\n%s", stops, r)
	}
}

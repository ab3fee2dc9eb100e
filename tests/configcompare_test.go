package tests

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v4"
)

// TestConfigMatchesDockerCompose: for the keys of issues 9 and 16 (the
// parity fixture), what drover config prints means what docker compose
// config prints: every service key and every top-level configs, secrets
// and volumes entry, compared as data. Only where docker compose v2 is
// installed: docker-compose 1.29 knows none of these keys.
func TestConfigMatchesDockerCompose(t *testing.T) {
	out, err := exec.Command("docker", "compose", "version", "--short").Output()
	if err != nil || !strings.HasPrefix(strings.TrimPrefix(strings.TrimSpace(string(out)), "v"), "2") {
		t.Skipf("docker compose v2 is not installed (the docker-compose-plugin package of Docker's apt repository, or docker-compose 2.x of Debian 13); got %q, %v", out, err)
	}
	dir, err := filepath.Abs("../compose/testdata/projects/parity")
	if err != nil {
		t.Fatal(err)
	}
	run := func(name string, args ...string) map[string]any {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = cleanEnviron()
		text, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v", name, strings.Join(args, " "), err)
		}
		return normalize(t, text)
	}
	ours := run(droverBin, "-p", "parity", "config")
	theirs := run("docker", "compose", "-p", "parity", "config")
	for _, top := range []string{"configs", "secrets", "volumes"} {
		if !reflect.DeepEqual(ours[top], theirs[top]) {
			t.Errorf("%s:\ndrover          %v\ndocker compose  %v", top, ours[top], theirs[top])
		}
	}
	ourServices, _ := ours["services"].(map[string]any)
	theirServices, _ := theirs["services"].(map[string]any)
	for name, s := range ourServices {
		svc, _ := s.(map[string]any)
		other, _ := theirServices[name].(map[string]any)
		for key, v := range svc {
			if key == "x-drover" {
				continue
			}
			if !reflect.DeepEqual(v, other[key]) {
				t.Errorf("service %s, %s:\ndrover          %v\ndocker compose  %v", name, key, v, other[key])
			}
		}
	}
}

// normalize reads a config output as plain data (numbers as JSON has
// them), with build.ssh entries in one form and order: compose-go prints
// "id: path", drover the specification's id=path.
func normalize(t *testing.T, text []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := yaml.Unmarshal(text, &doc); err != nil {
		t.Fatalf("%v:\n%s", err, text)
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	services, _ := out["services"].(map[string]any)
	for _, s := range services {
		build, _ := s.(map[string]any)["build"].(map[string]any)
		ssh, _ := build["ssh"].([]any)
		var keys []string
		for _, k := range ssh {
			keys = append(keys, strings.Replace(k.(string), ": ", "=", 1))
		}
		sort.Strings(keys)
		if len(keys) > 0 {
			build["ssh"] = keys
		}
	}
	return out
}

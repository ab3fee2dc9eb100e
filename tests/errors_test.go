package tests

import (
	"strings"
	"testing"
)

// Every error about a compose file names the file, the line, the service and
// the key, and nothing is changed on the engine.
func TestErrorComposeFileNamesLine(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	cases := []struct {
		name     string
		compose  string
		override string // written as override.yml and passed with -f when set
		want     string
	}{
		{name: "typo", compose: "services:\n  mon-siteweb:\n    imgae: IMAGE:v1\n",
			want: `drover up: docker-compose.yml:3: service "mon-siteweb": unknown key "imgae" (did you mean "image"?)`},
		{name: "key indented too little", compose: "services:\n  web:\n    image: IMAGE:v1\n  ports:\n    - 80:80\n",
			want: `drover up: docker-compose.yml:4: service "ports": must be a mapping, got a list; "ports" is a key of a service: is it indented too little?`},
		{name: "unsupported key", compose: "services:\n  web:\n    image: IMAGE:v1\n    credential_spec: {file: a.json}\n",
			want: `drover up: docker-compose.yml:4: service "web": key "credential_spec" is not supported by drover yet; remove it or run this service with docker compose`},
		{name: "mistake in the second file", compose: "services:\n  web:\n    image: IMAGE:v1\n",
			override: "services:\n  web:\n    healthcheck:\n      intreval: 1s\n",
			want:     `drover up: override.yml:4: service "web": healthcheck: unknown key "intreval" (did you mean "interval"?)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newProject(t, tc.compose, "")
			args := []string{"up"}
			if tc.override != "" {
				p.write("override.yml", tc.override)
				args = []string{"-f", "docker-compose.yml", "-f", "override.yml", "up"}
			}
			r := p.drover(args...)
			if r.code != 1 {
				t.Errorf("exit %d, want 1", r.code)
			}
			if got := strings.TrimSpace(r.stderr); got != tc.want {
				t.Errorf("stderr:\n got %s\nwant %s", got, tc.want)
			}
			if left := p.leftovers(); len(left) > 0 {
				t.Errorf("the engine was changed: %v", left)
			}
		})
	}
}

// ps, status, logs and down work from the containers' labels when the files
// no longer load: one warning line, then the usual output. up still refuses.
// The project name comes from the broken file's name: key.
func TestErrorBrokenFilesKeepPsStatusLogsDown(t *testing.T) {
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n", "")
	p.write("docker-compose.yml", "name: "+p.name+"\nservices:\n  web:\n    image: IMAGE:v1\n")
	p.droverEnv(nil, "up")
	if len(p.containers()) != 1 {
		t.Fatalf("up made %d containers, want 1", len(p.containers()))
	}
	p.write("docker-compose.yml", "name: "+p.name+"\nservices:\n  web:\n    imgae: IMAGE:v1\n")
	warning := `warning: docker-compose.yml:4: service "web": unknown key "imgae" (did you mean "image"?); going on without the files, for project "` + p.name + `"`
	for _, args := range [][]string{{"ps"}, {"status"}, {"logs", "--tail", "1"}} {
		r := p.droverEnv(nil, args...)
		if r.code != 0 {
			t.Errorf("%v: exit %d, want 0:\n%s", args, r.code, r)
		}
		if got := strings.TrimSpace(r.stderr); got != warning {
			t.Errorf("%v: stderr:\n got %s\nwant %s", args, got, warning)
		}
		if !strings.Contains(r.stdout, p.name+"-web-1") && args[0] != "status" {
			t.Errorf("%v: the container is not shown:\n%s", args, r)
		}
	}
	r := p.droverEnv(nil, "up")
	if r.code != 1 || !strings.Contains(r.stderr, `drover up: docker-compose.yml:4: service "web": unknown key "imgae"`) {
		t.Errorf("up with a broken file:\n%s", r)
	}
	if r = p.droverEnv(nil, "down"); r.code != 0 {
		t.Errorf("down: %s", r)
	}
	if left := p.leftovers(); len(left) > 0 {
		t.Errorf("down left %v", left)
	}
}

// A missing image that no registry can send says so once, without the
// doubled "pull ...: pulling ...:" prefix.
func TestErrorMissingImageNoRegistry(t *testing.T) {
	p := newProject(t, "services:\n  web:\n    image: 127.0.0.1:9/drover-e2e-missing:v9\n", "")
	r := p.drover("--progress", "plain", "up")
	want := `drover up: pull 127.0.0.1:9/drover-e2e-missing:v9: not on this machine, and the registry 127.0.0.1:9 did not answer: `
	if r.code != 1 || !strings.Contains(r.stderr, want) {
		t.Errorf("want exit 1 and %q:\n%s", want, r)
	}
	if strings.Contains(r.stdout+r.stderr, "pulling") {
		t.Errorf("the image is named twice:\n%s", r)
	}
}

// A global flag that swallowed the command says which flag lacks a value.
func TestErrorFlagNeedsAValue(t *testing.T) {
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n", "")
	r := p.droverEnv(nil, "-r", "up")
	want := `drover: flag -r/--rancher-file needs a value: it took "up", the command, as its value`
	if r.code != 2 || !strings.HasPrefix(r.stderr, want) || strings.Contains(r.stdout+r.stderr, "Usage:") {
		t.Errorf("want exit 2 and %q, without the usage:\n%s", want, r)
	}
	r = p.droverEnv(nil, "help", "up")
	if strings.Contains(r.stdout, "[=true|false]") || !strings.Contains(r.stdout, "  -u, --upgrade ") {
		t.Errorf("help shows boolean flags with a value:\n%s", r.stdout)
	}
}

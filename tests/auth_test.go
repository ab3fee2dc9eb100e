package tests

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dockerConfig writes a Docker CLI configuration directory holding
// config.json, and returns its path (for DOCKER_CONFIG).
func dockerConfig(t *testing.T, configJSON string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(configJSON), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// (5) A registry that asks for a password: the Docker CLI's credentials
// pull (from config.json, and through a credential helper); none, or a
// wrong password, give one error naming the registry; the password is never
// printed nor written in a label.
func TestPrivateRegistryCredentials(t *testing.T) {
	reg := startAuthRegistry(t)
	p := newProject(t, "services: {}\n", "")
	ref := reg.Push(t, imageRepo+":v1", p.name+"/web:v1", false)
	p.write("docker-compose.yml", fmt.Sprintf("services:\n  web:\n    image: %s\n", ref))
	basic := func(user, password string) string {
		return fmt.Sprintf(`{"auths": {%q: {"auth": %q}}}`, reg.Addr, base64.StdEncoding.EncodeToString([]byte(user+":"+password)))
	}
	wrong := "not-" + reg.Password
	for _, tc := range []struct {
		name, config, want string
	}{
		{name: "no credentials", config: `{}`, want: "the registry " + reg.Addr + " wants a login and the Docker CLI configuration has none for it"},
		{name: "wrong password", config: basic(reg.User, wrong), want: fmt.Sprintf("the registry %s refused the login of %q", reg.Addr, reg.User)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := p.droverEnv([]string{"DOCKER_CONFIG=" + dockerConfig(t, tc.config)}, "-p", p.name, "up", "-d")
			if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want exit 1 and %q:\n%s", tc.want, r)
			}
			if n := strings.Count(r.stderr, "drover up:"); n != 1 {
				t.Errorf("want one error line, got %d:\n%s", n, r)
			}
			if strings.Contains(r.stdout+r.stderr, wrong) {
				t.Errorf("the password is in the output:\n%s", r)
			}
			if len(p.containers()) != 0 || imageID(t, ref) != "" {
				t.Errorf("a refused pull changed the engine: %d containers, image %q", len(p.containers()), imageID(t, ref))
			}
		})
	}

	// A credential helper, as docker login with a credential store leaves it:
	// docker-credential-NAME get reads the server on stdin.
	bin := t.TempDir()
	helper := fmt.Sprintf("#!/bin/sh\ncat >/dev/null\nprintf '%%s' '{\"ServerURL\":\"%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}'\n", reg.Addr, reg.User, reg.Password)
	if err := os.WriteFile(filepath.Join(bin, "docker-credential-drovertest"), []byte(helper), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{
		"DOCKER_CONFIG=" + dockerConfig(t, fmt.Sprintf(`{"credHelpers": {%q: "drovertest"}}`, reg.Addr)),
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	r := p.droverEnv(env, "-p", p.name, "--progress", "plain", "up", "-d")
	if r.code != 0 {
		t.Fatalf("up with the credential helper:\n%s", r)
	}
	if imageID(t, ref) != imageID(t, imageRepo+":v1") {
		t.Fatalf("%s was not pulled", ref)
	}
	reg.Untag(t, ref)
	r2 := p.droverEnv([]string{"DOCKER_CONFIG=" + dockerConfig(t, basic(reg.User, reg.Password))}, "-p", p.name, "--progress", "plain", "pull")
	if r2.code != 0 || imageID(t, ref) == "" {
		t.Fatalf("pull with config.json's credentials:\n%s", r2)
	}
	for _, out := range []string{r.stdout + r.stderr, r2.stdout + r2.stderr} {
		if strings.Contains(out, reg.Password) {
			t.Errorf("the password is in the output:\n%s", out)
		}
	}
	for _, c := range p.containers() {
		for k, v := range c.Labels {
			if strings.Contains(v, reg.Password) {
				t.Errorf("label %s of %s holds the password", k, c.Names[0])
			}
		}
	}
}

package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadDir writes files into a fresh directory and loads it.
func loadDir(t *testing.T, files map[string]string) (*Project, string, error) {
	t.Helper()
	cleanEnv(t)
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load(context.Background(), Options{ProjectDir: dir})
	return p, dir, err
}

func configOf(t *testing.T, p *Project) string {
	t.Helper()
	out, err := p.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// Rancher's driver plugin stacks (nfs, vxlan, l2-flat...) load: their
// storage_driver and network_driver, in rancher-compose.yml or in the
// compose file, are kept with a no-effect note.
func TestRancherDriverKeys(t *testing.T) {
	p, _, err := loadDir(t, map[string]string{
		"docker-compose.yml": `version: '2'
services:
  nfs-driver:
    image: rancher/storage-nfs
  cni-driver:
    image: rancher/net
    network_driver:
      name: Rancher Flat Networking
      default_network:
        name: l2-flat
`,
		"rancher-compose.yml": `version: '2'
services:
  nfs-driver:
    storage_driver:
      name: rancher-nfs
      scope: environment
`,
	})
	if err != nil {
		t.Fatal(err)
	}
	nfs, _ := p.Service("nfs-driver")
	cni, _ := p.Service("cni-driver")
	for _, c := range []struct {
		s    Service
		want string
	}{
		{nfs, "storage_driver: kept in the project, no effect: Rancher registered this service as a volume driver; its containers run, but the engine uses a volume plugin only where one is installed"},
		{cni, "network_driver: kept in the project, no effect: Rancher made this service the network driver of its managed network; its containers run, and containers join the engine's own networks"},
	} {
		if strings.Join(c.s.NoEffect, "\n") != c.want {
			t.Errorf("service %q: notes %q, want %q", c.s.Name, c.s.NoEffect, c.want)
		}
	}
	if _, ok := cni.Config.Extensions[extPrefix+"network_driver"]; ok {
		t.Errorf("the carrying extension is left in the service: %v", cni.Config.Extensions)
	}
	out := configOf(t, p)
	for _, want := range []string{
		"      rancher:\n        storage_driver:\n          name: rancher-nfs\n          scope: environment\n",
		"      rancher:\n        network_driver:\n          default_network:\n            name: l2-flat\n          name: Rancher Flat Networking\n",
		"      no_effect:\n        - 'network_driver: kept in the project, no effect:",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("drover config lacks\n%s\nin\n%s", want, out)
		}
	}
}

// Labels in rancher-compose.yml are merged over the compose file's, key by
// key, with a note at their line; other compose keys there stay refused.
func TestRancherComposeLabels(t *testing.T) {
	files := map[string]string{
		"docker-compose.yml":  "web:\n  image: x\n  labels:\n    keep: compose\n    both: compose\n",
		"rancher-compose.yml": "web:\n  scale: 1\n  labels:\n    io.rancher.scheduler.global: 'true'\n    both: rancher\n",
	}
	p, dir, err := loadDir(t, files)
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.Service("web")
	got := web.Config.Labels
	if got["keep"] != "compose" || got["both"] != "rancher" || got["io.rancher.scheduler.global"] != "true" {
		t.Errorf("labels %v: want keep=compose, both=rancher, io.rancher.scheduler.global=true", got)
	}
	note := filepath.Join(dir, "rancher-compose.yml") + `:3: service "web": labels: merged over the compose file's labels, key by key, as Rancher 1.6 merged rancher-compose.yml into docker-compose.yml`
	if !strings.Contains(strings.Join(p.Warnings, "\n"), note) {
		t.Errorf("warnings %q\nwant %q", p.Warnings, note)
	}
	if out := configOf(t, p); !strings.Contains(out, "    labels:\n      both: rancher\n      io.rancher.scheduler.global: \"true\"\n      keep: compose\n") {
		t.Errorf("drover config does not show the merged labels:\n%s", out)
	}
	// The list form, as the compose file also writes it.
	files["rancher-compose.yml"] = "web:\n  labels:\n    - both=list\n"
	p, _, err = loadDir(t, files)
	if err != nil {
		t.Fatal(err)
	}
	if web, _ := p.Service("web"); web.Config.Labels["both"] != "list" {
		t.Errorf("labels %v: want both=list", web.Config.Labels)
	}
	files["rancher-compose.yml"] = "web:\n  scale: 1\n  environment:\n    A: b\n"
	_, dir, err = loadDir(t, files)
	want := filepath.Join(dir, "rancher-compose.yml") + `:3: service "web": environment: unknown rancher-compose key`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v\nwant %s...", err, want)
	}
}

// A key set twice in a rancher-compose service takes its last value (as
// Rancher's yaml.v2 read it: vxlan's cni_config sets hairpinMode twice).
func TestRancherDuplicateKey(t *testing.T) {
	p, dir, err := loadDir(t, map[string]string{
		"docker-compose.yml":  "web:\n  image: x\n",
		"rancher-compose.yml": "web:\n  metadata:\n    a: 1\n    b: 2\n    a: 3\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.Service("web")
	if web.Rancher.Metadata["a"] != 3 {
		t.Errorf("metadata %v: want a=3", web.Rancher.Metadata)
	}
	note := filepath.Join(dir, "rancher-compose.yml") + `:3: service "web": a: set again at line 5: the last value is used, as Rancher 1.6 read it`
	if !strings.Contains(strings.Join(p.Warnings, "\n"), note) {
		t.Errorf("warnings %q\nwant %q", p.Warnings, note)
	}
}

// In a version 2 file, a named volume the file does not declare is
// created on first use under its own name, as Rancher 1.6 did; a file of
// the current layout still refuses it, as docker compose does.
func TestV2UndeclaredNamedVolume(t *testing.T) {
	compose := "services:\n  net:\n    image: x\n    volumes:\n      - cni:/etc/cni\n      - cni:/opt/cni\n      - data:/data\nvolumes:\n  data: {}\n"
	p, _, err := loadDir(t, map[string]string{"docker-compose.yml": "version: '2'\n" + compose})
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := p.Compose.Volumes["cni"]; !ok || v.Name != "cni" {
		t.Errorf("volumes %v: want cni declared with the name cni", p.Compose.Volumes)
	}
	if v := p.Compose.Volumes["data"]; v.Name == "data" {
		t.Errorf("the declared volume data lost its project prefix: %+v", v)
	}
	note := `service "net": volume "cni" is not declared under volumes: (version 2): created on first use as a local volume named "cni", as Rancher 1.6 did (docker-compose 1.x refused it)`
	if got := strings.Join(p.Warnings, "\n"); got != note {
		t.Errorf("warnings\n%s\nwant\n%s", got, note)
	}
	_, _, err = loadDir(t, map[string]string{"docker-compose.yml": compose})
	if err == nil || !strings.Contains(err.Error(), `undefined volume "cni"`) {
		t.Errorf("current layout: error %v, want undefined volume \"cni\"", err)
	}
}

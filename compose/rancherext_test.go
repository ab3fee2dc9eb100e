package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRancherVolumeExtensions loads the volume keys Rancher 1.6 accepted and
// compose-go refuses, in both layouts, and checks what each becomes and the
// one-line note about it.
func TestRancherVolumeExtensions(t *testing.T) {
	cases := []struct {
		name    string
		compose string
		check   func(t *testing.T, p *Project)
		notes   []string
	}{
		{"volume_driver", "services:\n  db:\n    image: x\n    volume_driver: rancher-nfs\n    volumes: ['/var/lib/db']\n",
			func(t *testing.T, p *Project) {
				db, _ := p.Service("db")
				if db.Config.VolumeDriver != "rancher-nfs" || db.Config.Extensions[extVolumeDriver] != nil {
					t.Errorf("volume_driver %q, extensions %v", db.Config.VolumeDriver, db.Config.Extensions)
				}
			},
			[]string{`service "db": volume_driver rancher-nfs: volumes the engine creates for this service use that driver`}},
		{"per_container", "services:\n  db:\n    image: x\n    volumes: ['data:/d']\nvolumes:\n  data:\n    driver: rancher-ebs\n    per_container: true\n",
			func(t *testing.T, p *Project) {
				if v := p.Compose.Volumes["data"]; v.Driver != "rancher-ebs" || v.Name != "demo_data" {
					t.Errorf("volume %+v", v)
				}
			},
			[]string{`volume "data": per_container: no effect: Rancher made one volume per container; on one engine the containers of a service share this one`,
				`volume "data": driver rancher-ebs: the engine creates it only where that volume plugin is installed; without it, up stops when it creates the volume, before any container is changed`}},
		{"external with driver", "services:\n  db:\n    image: x\n    volumes: ['shared:/d']\nvolumes:\n  shared:\n    external: true\n    driver: rancher-nfs\n",
			func(t *testing.T, p *Project) {
				if v := p.Compose.Volumes["shared"]; !bool(v.External) || v.Driver != "" || v.Name != "shared" {
					t.Errorf("volume %+v", v)
				}
			},
			[]string{`volume "shared": external with driver rancher-nfs: drover never creates or removes an external volume`}},
		{"v1 named volume", "db:\n  image: x\n  volume_driver: convoy\n  volumes: ['eni-files:/data', './conf:/conf', '/abs:/abs']\n",
			func(t *testing.T, p *Project) {
				v, ok := p.Compose.Volumes["eni-files"]
				if !ok || v.Name != "eni-files" || v.Driver != "convoy" || len(p.Compose.Volumes) != 1 {
					t.Errorf("volumes %+v", p.Compose.Volumes)
				}
			},
			[]string{`service "db": volume "eni-files" (v1 layout): a named volume, created on first use as a volume of driver convoy named "eni-files"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := loadText(t, tc.compose, "demo")
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, p)
			got := strings.Join(p.Warnings, "\n")
			for _, want := range tc.notes {
				if !strings.Contains(got, want) {
					t.Errorf("warnings lack %q:\n%s", want, got)
				}
			}
		})
	}
}

// loadText loads a project whose only file is a docker-compose.yml with
// that text, from an environment without COMPOSE_ variables.
func loadText(t *testing.T, text, name string) (*Project, error) {
	t.Helper()
	cleanEnv(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load(context.Background(), Options{ProjectDir: dir, ProjectName: name})
}

package compose

import (
	"reflect"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestHash(t *testing.T) {
	str := func(s string) *string { return &s }
	base := func() types.ServiceConfig {
		s := types.ServiceConfig{Name: "web"}
		s.Image = "drover-hello:v1"
		s.Environment = types.MappingWithEquals{"A": str("1")}
		s.Ports = []types.ServicePortConfig{{Target: 80, Published: "8080", Protocol: "tcp"}}
		return s
	}
	two, one := 2, 1
	par := uint64(4)
	cases := []struct {
		name    string
		change  func(*types.ServiceConfig)
		changed bool
	}{
		{"nothing", func(*types.ServiceConfig) {}, false},
		{"scale", func(s *types.ServiceConfig) { s.Scale = &two }, false},
		{"deploy.replicas", func(s *types.ServiceConfig) { s.Deploy = &types.DeployConfig{Replicas: &one} }, false},
		{"update_config", func(s *types.ServiceConfig) {
			s.Deploy = &types.DeployConfig{UpdateConfig: &types.UpdateConfig{Parallelism: &par, Order: "start-first"}}
		}, false},
		{"depends_on", func(s *types.ServiceConfig) {
			s.DependsOn = types.DependsOnConfig{"db": {Condition: "service_started"}}
		}, false},
		{"profiles", func(s *types.ServiceConfig) { s.Profiles = []string{"x"} }, false},
		{"build", func(s *types.ServiceConfig) { s.Build = &types.BuildConfig{Context: "."} }, false},
		{"pull_policy", func(s *types.ServiceConfig) { s.PullPolicy = "always" }, false},
		{"x- extension", func(s *types.ServiceConfig) { s.Extensions = types.Extensions{"x-a": 1} }, false},
		{"image", func(s *types.ServiceConfig) { s.Image = "drover-hello:v2" }, true},
		{"environment value", func(s *types.ServiceConfig) { s.Environment["A"] = str("2") }, true},
		{"environment key", func(s *types.ServiceConfig) { s.Environment["B"] = str("1") }, true},
		{"port", func(s *types.ServiceConfig) { s.Ports[0].Published = "8081" }, true},
		{"command", func(s *types.ServiceConfig) { s.Command = types.ShellCommand{"serve"} }, true},
		{"resources", func(s *types.ServiceConfig) {
			s.Deploy = &types.DeployConfig{Resources: types.Resources{Limits: &types.Resource{MemoryBytes: 1 << 20}}}
		}, true},
	}
	h0, _, err := Hash(base(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := base()
			tc.change(&s)
			h, _, err := Hash(s, nil)
			if err != nil {
				t.Fatal(err)
			}
			if (h != h0) != tc.changed {
				t.Errorf("hash changed = %v, want %v", h != h0, tc.changed)
			}
		})
	}
}

// TestHashConfigContent: the digest of a config's content is in the hash,
// so that a changed config is an upgrade.
func TestHashConfigContent(t *testing.T) {
	s := types.ServiceConfig{Name: "web"}
	s.Image = "x"
	h0, _, _ := Hash(s, nil)
	if empty, _, _ := Hash(s, map[string]map[string]string{SpecSecretContent: {}}); empty != h0 {
		t.Error("an empty digest map changed the hash")
	}
	h1, spec1, err := Hash(s, map[string]map[string]string{SpecConfigContent: {"app": "sha256:1"}, SpecSecretContent: {}})
	if err != nil {
		t.Fatal(err)
	}
	h2, _, _ := Hash(s, map[string]map[string]string{SpecConfigContent: {"app": "sha256:2"}})
	if h1 == h0 || h1 == h2 {
		t.Errorf("hashes without, with one and with another digest: %s %s %s", h0, h1, h2)
	}
	if !strings.Contains(string(spec1), `"config_content":{"app":"sha256:1"}`) {
		t.Errorf("spec %s lacks the digest", spec1)
	}
}

func TestHashLeavesInputAlone(t *testing.T) {
	// Hash gets the config by value, but what its pointers, maps and slices
	// reach is the caller's: none of it may change.
	config := func() types.ServiceConfig {
		n, par, one := 3, uint64(1), "1"
		s := types.ServiceConfig{Name: "web", Scale: &n, Profiles: []string{"p"}, Extensions: types.Extensions{"x-a": 1},
			Deploy: &types.DeployConfig{Replicas: &n, UpdateConfig: &types.UpdateConfig{Parallelism: &par},
				RollbackConfig: &types.UpdateConfig{Parallelism: &par}, Extensions: types.Extensions{"x-b": 2}}}
		s.Image = "x"
		s.Environment = types.MappingWithEquals{"A": &one}
		s.DependsOn = types.DependsOnConfig{"db": {Condition: "service_started"}}
		s.Build = &types.BuildConfig{Context: "."}
		return s
	}
	s := config()
	if _, _, err := Hash(s, nil); err != nil {
		t.Fatal(err)
	}
	if want := config(); !reflect.DeepEqual(s, want) {
		t.Error("Hash changed something the config it was given points to")
	}
}

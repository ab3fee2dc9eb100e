package reconcile

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
)

const adoptedYAML = `
services:
  web:
    image: drover-hello:v1
    environment:
      GREETING: hi
    ports:
      - "127.0.0.1:8080:80"
    volumes:
      - data:/data
    labels:
      team: a
    restart: unless-stopped
volumes:
  data:
`

var helloProbe = &SpecHealth{Test: []string{"CMD", "/hello", "-probe", "http://127.0.0.1:80/healthz"}, Interval: time.Second, Timeout: 2 * time.Second, Retries: 3}

// composeMade is web of adoptedYAML as docker-compose 1.29 made it and the
// engine reports it: the image's PATH, entrypoint, health check and label
// merged in, the engine's short-ID alias beside the service's.
func composeMade() InspectedSpec {
	return InspectedSpec{
		Image:       "drover-hello:v1",
		Entrypoint:  []string{"/hello"},
		Env:         []string{"GREETING=hi", "PATH=/usr/bin:/bin"},
		Ports:       []PublishedPort{{HostIP: "127.0.0.1", HostPort: "8080", Target: 80, Protocol: "tcp"}},
		Restart:     "unless-stopped",
		Mounts:      []SpecMount{{Type: "volume", Source: "demo_data", Target: "/data"}},
		Labels:      map[string]string{"team": "a", "org.example.title": "hello"},
		Networks:    map[string][]string{"demo_default": {"0123456789ab", "web"}},
		Healthcheck: helloProbe,
		ImageDefaults: ImageDefaults{
			Entrypoint:  []string{"/hello"},
			Env:         []string{"PATH=/usr/bin:/bin"},
			Labels:      map[string]string{"org.example.title": "hello"},
			Healthcheck: helloProbe,
		},
	}
}

func composeContainer() Container {
	return Container{
		ID: "0123456789abcdef", Name: "demo_web_1", Service: "web", Number: 1, Revision: 1,
		Hash: "a1b2c3", Image: "drover-hello:v1", State: "running",
		Labels: map[string]string{"com.docker.compose.version": "1.29.2"},
	}
}

func fmtChanges(cs []Change) string {
	var b strings.Builder
	for _, c := range cs {
		secret := ""
		if c.Secret {
			secret = " (secret)"
		}
		fmt.Fprintf(&b, "%s: %q → %q%s\n", c.Key, c.Old, c.New, secret)
	}
	return b.String()
}

func TestInspectedChanges(t *testing.T) {
	cases := []struct {
		name string
		yaml string               // adoptedYAML when empty
		got  func(*InspectedSpec) // changes to what docker-compose made
		ctr  func(*Container)     // changes to the container
		want string               // fmtChanges of the result
	}{
		{name: "same service, only the image's defaults and the engine's alias", want: ""},
		{
			name: "environment value and port changed in the file",
			yaml: strings.Replace(strings.Replace(adoptedYAML, "GREETING: hi", "GREETING: hello", 1), "8080:80", "8081:80", 1),
			want: `environment.GREETING: "hi" → "hello" (secret)
ports: "127.0.0.1:8080:80/tcp" → "127.0.0.1:8081:80/tcp"
`,
		},
		{
			name: "variable set by hand on the container, none in the file",
			got:  func(s *InspectedSpec) { s.Env = append(s.Env, "DEBUG=1") },
			want: `environment.DEBUG: "1" → "" (secret)` + "\n",
		},
		{
			name: "a file variable overrides the image's",
			yaml: strings.Replace(adoptedYAML, "GREETING: hi", "GREETING: hi\n      PATH: /opt/bin", 1),
			want: `environment.PATH: "/usr/bin:/bin" → "/opt/bin" (secret)` + "\n",
		},
		{
			name: "command, entrypoint, working dir, user",
			yaml: strings.Replace(adoptedYAML, "    restart:", "    command: [\"-v\"]\n    entrypoint: [\"/hello2\"]\n    working_dir: /w\n    user: \"1000\"\n    restart:", 1),
			want: `command: "" → "[\"-v\"]"
entrypoint: "[\"/hello\"]" → "[\"/hello2\"]"
working_dir: "" → "/w"
user: "" → "1000"
`,
		},
		{
			name: "restart policy changed in the file",
			yaml: strings.Replace(adoptedYAML, "unless-stopped", "always", 1),
			want: `restart: "unless-stopped" → "always"` + "\n",
		},
		{
			name: "policy no on a kept container is drover's doing",
			got:  func(s *InspectedSpec) { s.Restart = "no" },
			ctr:  func(c *Container) { c.Name = KeptName(c.Name, c.Revision) },
			want: "",
		},
		{
			name: "policy no on a container under its slot's name is not",
			got:  func(s *InspectedSpec) { s.Restart = "no" },
			want: `restart: "no" → "unless-stopped"` + "\n",
		},
		{
			name: "labels of the tools are not the service's",
			got: func(s *InspectedSpec) {
				s.Labels = map[string]string{"team": "a", "org.example.title": "hello", "com.docker.compose.project": "demo", "io.drover.revision": "1"}
			},
			want: "",
		},
		{
			name: "a label changed, an image label overridden",
			yaml: strings.Replace(adoptedYAML, "team: a", "team: b\n      org.example.title: mine", 1),
			want: `labels: "{\"org.example.title\":\"hello\",\"team\":\"a\"}" → "{\"org.example.title\":\"mine\",\"team\":\"b\"}"` + "\n",
		},
		{
			name: "volume changed to read-only, an anonymous one added",
			yaml: strings.Replace(adoptedYAML, "- data:/data", "- data:/data:ro\n      - /cache", 1),
			want: `volumes: "volume demo_data:/data" → "volume :/cache, volume demo_data:/data:ro"` + "\n",
		},
		{
			name: "an image VOLUME is no difference",
			got: func(s *InspectedSpec) {
				s.ImageDefaults.Volumes = []string{"/var/lib/x"}
				s.Mounts = append(s.Mounts, SpecMount{Type: "volume", Target: "/var/lib/x"})
			},
			want: "",
		},
		{
			name: "network alias added in the file",
			yaml: strings.Replace(adoptedYAML, "    restart:", "    networks:\n      default:\n        aliases: [www]\n    restart:", 1),
			want: `networks: "demo_default (web)" → "demo_default (web, www)"` + "\n",
		},
		{
			name: "health check interval set in the file, the rest from the image",
			yaml: strings.Replace(adoptedYAML, "    restart:", "    healthcheck:\n      interval: 5s\n    restart:", 1),
			want: `healthcheck: "test=[\"CMD\",\"/hello\",\"-probe\",\"http://127.0.0.1:80/healthz\"] interval=1s timeout=2s retries=3" → "test=[\"CMD\",\"/hello\",\"-probe\",\"http://127.0.0.1:80/healthz\"] interval=5s timeout=2s retries=3"` + "\n",
		},
		{
			name: "image changed",
			yaml: strings.Replace(adoptedYAML, "drover-hello:v1", "drover-hello:v2", 1),
			want: `image: "drover-hello:v1" → "drover-hello:v2"` + "\n",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			yaml := tc.yaml
			if yaml == "" {
				yaml = adoptedYAML
			}
			p := load(t, yaml, "")
			svc, _ := p.Service("web")
			got, c := composeMade(), composeContainer()
			if tc.got != nil {
				tc.got(&got)
			}
			if tc.ctr != nil {
				tc.ctr(&c)
			}
			changes, err := InspectedChanges(p, svc, c, got, "1.41")
			if err != nil {
				t.Fatal(err)
			}
			if s := fmtChanges(changes); s != tc.want {
				t.Errorf("changes:\n%s\nwant:\n%s", s, tc.want)
			}
		})
	}
}

// TestSpecFromConfig reads the inspect data of a container docker-compose
// 1.29 made (named volume and bind in Binds, every target in Volumes, the
// engine's alias) into what is compared.
func TestSpecFromConfig(t *testing.T) {
	cfg := &container.Config{
		Image:   "drover-hello:v1",
		Env:     []string{"GREETING=hi"},
		Volumes: map[string]struct{}{"/anon": {}, "/data": {}, "/site": {}},
		Labels:  map[string]string{"com.docker.compose.service": "web", "team": "a"},
	}
	host := &container.HostConfig{
		Binds:         []string{"/srv/site:/site:ro", "demo_data:/data:rw"},
		PortBindings:  nat.PortMap{"80/tcp": {{HostIP: "127.0.0.1", HostPort: "8080"}}, "53/udp": {{HostPort: ""}}},
		RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 3},
	}
	nets := map[string]*network.EndpointSettings{"demo_default": {Aliases: []string{"web", "0123456789ab"}}}
	s := SpecFromConfig(cfg, host, nets)
	for _, c := range []struct{ what, got, want string }{
		{"mounts", joined(s.Mounts), "bind /srv/site:/site:ro, volume :/anon, volume demo_data:/data"},
		{"ports", joined(s.Ports), "127.0.0.1:8080:80/tcp, 53/udp"},
		{"restart", s.Restart, "on-failure:3"},
		{"labels", jsonValue(s.Labels), `{"team":"a"}`},
		{"networks", networkList(s.Networks), "demo_default (0123456789ab, web)"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
}

// TestAdoptedDiffAgreesWithStatus: a docker-compose container is out of sync
// in status and in diff, and diff adds the inspected keys after made by and
// config-hash without repeating the image.
func TestAdoptedDiffAgreesWithStatus(t *testing.T) {
	p := load(t, strings.Replace(adoptedYAML, "drover-hello:v1", "drover-hello:v2", 1), "")
	w := newWorld(p)
	w.obs.Containers = []Container{composeContainer()}
	st := Status(p, w.obs)
	if len(st) != 1 || st[0].OutOfSync == "" {
		t.Fatalf("status of an adopted service: %+v", st)
	}
	diffs, err := Diff(p, w.obs, nil)
	if err != nil {
		t.Fatal(err)
	}
	adopted := Adopted(p, w.obs)
	c, ok := adopted["web"]
	if !ok || c.ID != composeContainer().ID {
		t.Fatalf("Adopted: %+v", adopted)
	}
	d, err := WithInspected(p, diffs[0], c, composeMade(), "1.41")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, ch := range d.Changes {
		keys = append(keys, ch.Key)
	}
	if got := strings.Join(keys, ","); got != "made by,config-hash,image" {
		t.Errorf("keys %s, want made by,config-hash,image", got)
	}
	// A container drover made is diffed from its spec label, not inspected.
	w = newWorld(p).ctr("web", 1, 1, "running")
	if a := Adopted(p, w.obs); len(a) != 0 {
		t.Errorf("Adopted picked a drover container: %+v", a)
	}
}

package reconcile

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/drover/drover/compose"
)

// load writes a project's files to a temporary directory and loads it.
// load loads a project from its files; extra holds more files by name
// (env files, config files) written beside them.
func load(t testing.TB, composeYAML, rancherYAML string, extra ...map[string]string) *compose.Project {
	t.Helper()
	dir := t.TempDir()
	for _, files := range extra {
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(composeYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	if rancherYAML != "" {
		if err := os.WriteFile(filepath.Join(dir, "rancher-compose.yml"), []byte(rancherYAML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := compose.Load(context.Background(), compose.Options{ProjectDir: dir, ProjectName: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// world is an observation under construction.
type world struct {
	p   *compose.Project
	obs Observed
}

func newWorld(p *compose.Project) *world {
	return &world{p: p, obs: Observed{
		Project:    p.Name,
		Images:     map[string]string{"drover-hello:v1": "sha256:111", "drover-hello:v2": "sha256:222", "sha256:111": "sha256:111", "sha256:222": "sha256:222"},
		Networks:   map[string]bool{"demo_default": true},
		Volumes:    map[string]bool{},
		APIVersion: "1.41",
	}}
}

// ctr adds a container of a service at revision rev, in sync with the files.
func (w *world) ctr(service string, n, rev int, state string) *world {
	svc, _ := w.p.Service(service)
	c := Container{
		ID: service + "-" + strconv.Itoa(n) + "-r" + strconv.Itoa(rev), Name: "demo-" + service + "-" + strconv.Itoa(n),
		Service: service, Number: n, Revision: rev, Hash: svc.Hash, State: state,
		Image: svc.Config.Image, ImageID: w.obs.Images[svc.Config.Image],
		Labels:        map[string]string{LabelSpec: string(svc.Spec), LabelRestart: "no"},
		RestartPolicy: "no",
	}
	w.obs.Containers = append(w.obs.Containers, c)
	return w
}

// edit changes the last container added.
func (w *world) edit(f func(*Container)) *world {
	f(&w.obs.Containers[len(w.obs.Containers)-1])
	return w
}

const twoWeb = `
services:
  web:
    image: drover-hello:v1
    scale: 2
`

func TestUp(t *testing.T) {
	cases := []struct {
		name    string
		compose string
		rancher string
		world   func(w *world)
		opts    Options
		want    string
	}{
		{
			name: "nothing runs: create and start every slot", compose: twoWeb,
			world: func(w *world) { w.obs.Networks = map[string]bool{} },
			want: `setup: create-network demo_default (missing)
web: create web#1 (missing: scale 2)
web: start web#1
web: create web#2 (missing: scale 2)
web: start web#2
web: wait-ready web
`,
		},
		{
			name: "in sync: nothing to do", compose: twoWeb,
			world: func(w *world) { w.ctr("web", 1, 1, "running").ctr("web", 2, 1, "running") },
			want:  "",
		},
		{
			name: "scale up fills the missing slot", compose: twoWeb, rancher: "web:\n  scale: 3\n",
			world: func(w *world) { w.ctr("web", 1, 1, "running").ctr("web", 2, 1, "running") },
			want: `web: create web#3 (missing: scale 3)
web: start web#3
web: wait-ready web
`,
		},
		{
			name: "scale down removes the highest numbers first", compose: twoWeb, rancher: "web:\n  scale: 1\n",
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").ctr("web", 2, 1, "running").ctr("web", 3, 1, "exited")
			},
			want: `web: remove web#3 (surplus: scale 1)
web: stop web#2 (surplus: scale 1)
web: remove web#2 (surplus: scale 1)
`,
		},
		{
			name: "stopped container is started, not recreated", compose: twoWeb,
			world: func(w *world) { w.ctr("web", 1, 1, "running").ctr("web", 2, 1, "exited") },
			want: `web: start web#2 (stopped)
web: wait-ready web
`,
		},
		{
			name: "changed image is reported, not applied", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").edit(func(c *Container) {
					c.Hash = "old"
					c.Labels[LabelSpec] = strings.Replace(c.Labels[LabelSpec], "v1", "v0", 1)
				}).ctr("web", 2, 1, "running")
			},
			want: "note: web: out of sync: image drover-hello:v0 → drover-hello:v1; run drover up --upgrade\n",
		},
		{
			name: "changed environment is reported by key, value masked",
			compose: `
services:
  web:
    image: drover-hello:v1
    environment: {TOKEN: new-secret}
`,
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").edit(func(c *Container) {
					c.Hash = "old"
					c.Labels[LabelSpec] = strings.Replace(c.Labels[LabelSpec], "new-secret", "old-secret", 1)
				})
			},
			want: "note: web: out of sync: environment.TOKEN changed; run drover up --upgrade\n",
		},
		{
			name: "out of sync: a missing slot is made from the serving revision", compose: twoWeb,
			world: func(w *world) { w.ctr("web", 1, 1, "running").edit(func(c *Container) { c.Hash = "old" }) },
			want: `web: create web#2 (missing: scale 2)
web: start web#2
web: wait-ready web
note: web: out of sync: config-hash old → e8d72e0667bc; run drover up --upgrade
note: web: new containers are made from revision 1, the one serving (drover-hello:v1, image 111), not from the files
`,
		},
		{
			name: "out of sync, the serving image gone: a missing slot waits for the upgrade", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").edit(func(c *Container) { c.Hash, c.ImageID = "old", "sha256:999" })
			},
			want: `note: web: out of sync: config-hash old → e8d72e0667bc; run drover up --upgrade
note: web#2: not created: the service is out of sync and image 999 of revision 1 is no longer on the engine; drover up --upgrade creates it
`,
		},
		{
			name: "out of sync, made by another tool: a missing slot waits for the upgrade", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").edit(func(c *Container) { c.Hash = "old"; delete(c.Labels, LabelSpec) })
			},
			want: `note: web: out of sync: made by another tool → drover, config-hash old → e8d72e0667bc; run drover up --upgrade
note: web#2: not created: the service is out of sync and its containers record no spec; drover up --upgrade creates it
`,
		},
		{
			name: "same tag, new image ID is out of sync", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").edit(func(c *Container) { c.ImageID = "sha256:000000000000000" }).ctr("web", 2, 1, "running")
			},
			want: "note: web: out of sync: image drover-hello:v1 now points at 111, the containers run 000000000000; run drover up --upgrade\n",
		},
		{
			name: "orphans are reported", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").ctr("web", 2, 1, "running")
				w.obs.Containers = append(w.obs.Containers, Container{ID: "old1", Name: "demo-old-1", Service: "old", Number: 1, Revision: 1, State: "running", Labels: map[string]string{}})
			},
			want: "note: orphan containers (their service is not in the project): demo-old-1; run drover up --remove-orphans to remove them\n",
		},
		{
			name: "orphans are removed when asked", compose: twoWeb, opts: Options{RemoveOrphans: true},
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").ctr("web", 2, 1, "running")
				w.obs.Containers = append(w.obs.Containers, Container{ID: "old1", Name: "demo-old-1", Service: "old", Number: 1, Revision: 1, State: "running", Labels: map[string]string{}})
			},
			want: `teardown: stop old#1 (orphan: service not in the project)
teardown: remove old#1 (orphan: service not in the project)
`,
		},
		{
			name: "upgrading service is left alone", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").ctr("web", 2, 1, "exited").ctr("web", 2, 2, "running")
			},
			want: "note: web: upgrading to revision 2, not finished; drover up --upgrade web (go on to revision 2) or drover up --rollback web (back to revision 1)\n",
		},
		{
			name: "upgraded service: kept containers stay stopped", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "exited").ctr("web", 2, 1, "exited").ctr("web", 1, 2, "running").ctr("web", 2, 2, "running")
			},
			want: "",
		},
		{
			name: "upgraded service: a crashed new container is started again", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "exited").ctr("web", 2, 1, "exited").ctr("web", 1, 2, "running").ctr("web", 2, 2, "exited")
			},
			want: `web: start web#2 (stopped)
web: wait-ready web
`,
		},
		{
			name: "a container left with a kept name gets its slot's name back", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").edit(func(c *Container) { c.Name = KeptName(c.Name, 1) }).ctr("web", 2, 1, "running")
			},
			want: "web: rename web#1 (its slot's name is free)\n",
		},
		{
			name: "a container named by docker-compose keeps its name", compose: twoWeb,
			world: func(w *world) {
				w.ctr("web", 1, 1, "running").edit(func(c *Container) { c.Name = "demo_web_1" }).ctr("web", 2, 1, "running")
			},
			want: "",
		},
		{
			name: "depends_on conditions become waits before the dependant starts",
			compose: `
services:
  db:
    image: drover-hello:v1
  migrate:
    image: drover-hello:v1
    depends_on: [db]
  web:
    image: drover-hello:v1
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully}
`,
			world: func(w *world) {},
			want: `db: create db#1 (missing: scale 1)
db: start db#1
db: wait-ready db
migrate: create migrate#1 (missing: scale 1)
migrate: start migrate#1
migrate: wait-ready migrate
web: wait-healthy db (depends_on of web)
web: wait-completed migrate (depends_on of web)
web: create web#1 (missing: scale 1)
web: start web#1
web: wait-ready web
`,
		},
		{
			name: "named services bring their dependencies, not the rest",
			compose: `
services:
  db: {image: drover-hello:v1}
  web: {image: drover-hello:v1, depends_on: [db]}
  other: {image: drover-hello:v1}
`,
			opts:  Options{Services: []string{"web"}},
			world: func(w *world) { w.ctr("db", 1, 1, "running") },
			want: `web: create web#1 (missing: scale 1)
web: start web#1
web: wait-ready web
`,
		},
		{
			name: "missing images are built or pulled first, volumes created",
			compose: `
services:
  app:
    build: .
    volumes: [data:/data]
  cache:
    image: registry.example/cache:7
volumes:
  data: {}
`,
			world: func(w *world) {},
			want: `setup: build demo-app (missing)
setup: pull registry.example/cache:7 (missing)
setup: create-volume demo_data (missing)
app: create app#1 (missing: scale 1)
app: start app#1
app: wait-ready app
cache: create cache#1 (missing: scale 1)
cache: start cache#1
cache: wait-ready cache
`,
		},
		{
			name: "start_on_create false: created, left stopped", compose: twoWeb, rancher: "web:\n  start_on_create: false\n",
			world: func(w *world) {},
			want: `web: create web#1 (missing: scale 2)
web: create web#2 (missing: scale 2)
`,
		},
		{
			name: "io.rancher.container.start_once: an exited container is not started again",
			compose: `
services:
  job:
    image: drover-hello:v1
    labels: {io.rancher.container.start_once: "true"}
  fresh:
    image: drover-hello:v1
    labels: {io.rancher.container.start_once: "true"}
`,
			world: func(w *world) { w.ctr("job", 1, 1, "exited").ctr("fresh", 1, 1, "created") },
			want: `fresh: start fresh#1 (stopped)
fresh: wait-ready fresh
`,
		},
		{
			name: "io.rancher.container.pull_image: always: a present image is not pulled by the plan (Refresh pulls it first)",
			compose: `
services:
  web:
    image: drover-hello:v1
    labels: {io.rancher.container.pull_image: always}
`,
			world: func(w *world) {},
			want: `web: create web#1 (missing: scale 1)
web: start web#1
web: wait-ready web
`,
		},
		{
			name: "scale override", compose: twoWeb, opts: Options{Scale: map[string]int{"web": 3}, Services: []string{"web"}},
			world: func(w *world) { w.ctr("web", 1, 1, "running").ctr("web", 2, 1, "running") },
			want: `web: create web#3 (missing: scale 3)
web: start web#3
web: wait-ready web
`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, tc.compose, tc.rancher)
			w := newWorld(p)
			tc.world(w)
			plan, err := Up(p, w.obs, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.String(); got != tc.want {
				t.Errorf("plan:\n%s\nwant:\n%s", got, tc.want)
			}
			// Property: once the plan is carried out, a second plan is empty.
			after := simulate(t, w.obs, plan)
			again, err := Up(p, after, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if !again.Empty() {
				t.Errorf("planning again after the plan was carried out is not empty:\n%s", again)
			}
			checkDesired(t, p, plan, after, tc.opts)
		})
	}
}

// checkDesired: after the plan, every service the plan brings in step has
// exactly slots 1..scale of its newest revision, each under its slot's name
// and running (or, start_on_create false, created; run once, completed),
// and nothing beyond the scale. A plan that does nothing passes only if
// the world was already so.
func checkDesired(t *testing.T, p *compose.Project, plan Plan, after Observed, opts Options) {
	t.Helper()
	groups := byService(after.Containers)
	for _, sp := range plan.Services {
		if sp.Left != "" {
			continue
		}
		svc, _ := p.Service(sp.Service)
		scale := svc.Scale
		if n, ok := opts.Scale[svc.Name]; ok {
			scale = n
		}
		view := viewOf(groups[svc.Name], scale)
		slots := map[int]bool{}
		for _, c := range view.Current {
			slots[c.Number] = true
			switch {
			case c.Number < 1 || c.Number > scale:
				t.Errorf("%s: %s is beyond scale %d", sp.Service, c.Name, scale)
			case !Passed(c):
				// (a name docker compose gave is its own, and kept)
				t.Errorf("%s: %s is not under its slot's name", sp.Service, c.Name)
			case svc.Rancher.StartOnCreate != nil && !*svc.Rancher.StartOnCreate:
			case svc.StartOnce() && c.State == "exited":
			case !c.Running():
				t.Errorf("%s: %s is %s", sp.Service, c.Name, c.State)
			}
		}
		if len(slots) != scale {
			t.Errorf("%s: slots %v, want 1..%d", sp.Service, slots, scale)
		}
	}
}

func TestUpErrors(t *testing.T) {
	cases := []struct {
		name, compose string
		opts          Options
		want          string
	}{
		{"unknown service named", twoWeb, Options{Services: []string{"nope"}}, `no such service: "nope"`},
		{"unknown service scaled", twoWeb, Options{Scale: map[string]int{"nope": 2}}, `no such service: "nope"`},
		{"fixed host port and scale 2", "services:\n  web:\n    image: drover-hello:v1\n    scale: 2\n    ports: ['127.0.0.1:8991:80']\n    x-drover: {proxy: false}\n", Options{},
			`service "web": scale 2, but it publishes host port 8991: two containers cannot publish the same host port`},
		{"image missing, pull never", "services:\n  web:\n    image: gone:v9\n    pull_policy: never\n", Options{},
			`service "web": image gone:v9 is not on the engine and pull_policy is never`},
		{"external network missing", "services:\n  web:\n    image: drover-hello:v1\n    networks: [edge]\nnetworks:\n  edge:\n    external: true\n", Options{},
			`network "edge" is declared external but the engine has no network "edge"`},
		{"build with ssh and secrets", "services:\n  web:\n    build:\n      context: .\n      ssh: [default]\n      secrets: [tok]\nsecrets:\n  tok: {file: ./tok}\n", Options{},
			`service "web": build.ssh and build.secrets need BuildKit, and drover builds with the engine's legacy builder; build the image first (docker buildx build --tag demo-web ...)`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, tc.compose, "")
			_, err := Up(p, newWorld(p).obs, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// simulate carries out a plan on an observation, as a perfect engine would.
func simulate(t *testing.T, obs Observed, plan Plan) Observed {
	t.Helper()
	out, _ := simulateSteps(t, obs, plan, -1, "")
	return out
}

// simulateSteps carries out the first limit steps of a plan (all when limit
// is negative), in the order flatten gives, as a run killed after them
// would leave the engine. A container of image bad exits with status 1 as
// soon as it starts, and a wait on it fails: the run stops there, and
// failed is true.
func simulateSteps(t *testing.T, obs Observed, plan Plan, limit int, bad string) (out Observed, failed bool) {
	t.Helper()
	out = obs
	out.Containers = append([]Container(nil), obs.Containers...)
	if obs.Proxy != nil {
		// The proxy is a container like the others while steps run (its
		// host ports collide with theirs), and apart again at the end, as
		// Observe has it.
		out.Containers = append(out.Containers, *obs.Proxy)
	}
	if obs.ProxyPorts != nil {
		out.Containers = append(out.Containers, *obs.ProxyPorts)
	}
	defer func() { out.Proxy, out.ProxyPorts, out.Containers = splitProxy(out.Containers) }()
	out.Networks = copyMap(obs.Networks)
	out.Volumes = copyMap(obs.Volumes)
	out.Images = map[string]string{}
	for k, v := range obs.Images {
		out.Images[k] = v
	}
	find := func(ref string) int {
		for i, c := range out.Containers {
			if c.ID == ref || c.Name == ref {
				return i
			}
		}
		t.Fatalf("plan refers to container %q, which does not exist", ref)
		return -1
	}
	var steps []Step
	steps = append(steps, plan.Setup...)
	for _, sp := range plan.Services {
		steps = append(steps, sp.Steps...)
	}
	steps = append(steps, plan.Teardown...)
	// What the hooks must have run before: a pre_stop hook before each stop
	// of a running container (in this run), a post_start hook since its
	// last start (in this run or an earlier one) before a wait on it.
	preStopped := map[string]bool{}
	setLabel := func(i int, k, v string) {
		labels := map[string]string{}
		for k, v := range out.Containers[i].Labels {
			labels[k] = v
		}
		labels[k] = v
		out.Containers[i].Labels = labels
	}
	for n, s := range flatten(steps) {
		if n == limit {
			break
		}
		switch a := s.Action.(type) {
		case RunHooks:
			c := out.Containers[find(a.Ref)]
			if a.Event == PreStop && c.Running() {
				preStopped[c.ID] = true
			}
			if a.Event == PostStart {
				setLabel(find(a.Ref), postStarted, "true")
				// The engine refuses an exec in a container that exited.
				if !c.Running() || bad == failingHook && c.Revision == 2 {
					sortContainers(out.Containers)
					return out, true
				}
			}
		case Wait:
			for _, ref := range a.Refs {
				c := out.Containers[find(ref)]
				if hooks, _ := specHooks(c.Labels[LabelSpec], PostStart); len(hooks) > 0 && c.Running() && c.Labels[postStarted] != "true" {
					t.Errorf("%s: waits on %s, started without its post_start hook", s, c.Name)
				}
				if c.Image == bad && c.State != "running" {
					sortContainers(out.Containers)
					return out, true
				}
			}
		case CreateNetwork:
			out.Networks[a.Spec.Name] = true
		case CreateVolume:
			out.Volumes[a.Spec.Name] = true
		case BuildImage:
			out.Images[NormalizeRef(a.Spec.Tag)] = "sha256:built"
		case PullImage:
			out.Images[NormalizeRef(a.Ref)] = "sha256:pulled"
		case CreateContainer:
			for _, c := range out.Containers {
				if c.Name == a.Request.Name {
					t.Fatalf("create %q: the name is taken", a.Request.Name)
				}
			}
			// The engine resolves volumes_from when it creates.
			for _, from := range a.Request.HostConfig.VolumesFrom {
				ref, _, _ := strings.Cut(from, ":")
				if !slices.ContainsFunc(out.Containers, func(c Container) bool { return c.ID == ref || c.Name == ref }) {
					t.Errorf("create %s: volumes_from %s, which does not exist", a.Request.Name, ref)
				}
			}
			labels := map[string]string{liveRestart: FormatRestartPolicy(a.Request.HostConfig.RestartPolicy)}
			for k, v := range a.Request.Config.Labels {
				labels[k] = v
			}
			c := Container{ID: a.Request.Name + "@" + a.Request.Config.Labels[LabelRevision], Name: a.Request.Name, State: "created", Labels: labels,
				Image: a.Request.Config.Image, ImageID: out.Images[NormalizeRef(a.Request.Config.Image)]}
			ContainerFromLabels(&c)
			for port, bindings := range a.Request.HostConfig.PortBindings {
				for _, b := range bindings {
					hp, _ := strconv.Atoi(b.HostPort)
					c.Ports = append(c.Ports, Port{HostIP: b.HostIP, HostPort: uint16(hp), Port: uint16(port.Int()), Protocol: port.Proto()})
				}
			}
			if addrs, ok := labels[LabelProxyPorts]; ok && labels[LabelProxy] == "" {
				// The proxy's launcher holds its host ports as it runs.
				var list []string
				if err := json.Unmarshal([]byte(addrs), &list); err != nil {
					t.Fatalf("create %s: %s: %v", a.Request.Name, LabelProxyPorts, err)
				}
				for _, addr := range list {
					host, port, _ := net.SplitHostPort(addr)
					hp, _ := strconv.Atoi(port)
					c.Ports = append(c.Ports, Port{HostIP: host, HostPort: uint16(hp), Port: uint16(hp), Protocol: "tcp"})
				}
			}
			out.Containers = append(out.Containers, c)
		case StartContainer:
			i := find(a.Ref)
			for _, p := range out.Containers[i].Ports {
				for _, c := range out.Containers {
					for _, q := range c.Ports {
						if c.Running() && p.HostPort != 0 && q.HostPort == p.HostPort {
							t.Fatalf("start %s: host port %d is taken by %s", a.Ref, p.HostPort, c.Name)
						}
					}
				}
			}
			out.Containers[i].State = "running"
			setLabel(i, postStarted, "")
			if out.Containers[i].Image == bad {
				out.Containers[i].State, out.Containers[i].ExitCode = "exited", 1
			}
		case StopContainer:
			c := out.Containers[find(a.Ref)]
			if hooks, _ := specHooks(c.Labels[LabelSpec], PreStop); len(hooks) > 0 && c.Running() && !preStopped[c.ID] {
				t.Errorf("%s: stops %s without its pre_stop hook", s, c.Name)
			}
			out.Containers[find(a.Ref)].State = "exited"
		case RemoveContainer:
			i := find(a.Ref)
			if _, ok := out.Containers[i].Labels[LabelProxy]; ok {
				out.ProxyTable = ProxyTable{}
			}
			out.Containers = append(out.Containers[:i], out.Containers[i+1:]...)
		case SetRestartPolicy:
			i := find(a.Ref)
			labels := map[string]string{}
			for k, v := range out.Containers[i].Labels {
				labels[k] = v
			}
			labels[liveRestart] = a.Policy
			out.Containers[i].Labels = labels
		case ProxyApply:
			i := find(a.Container)
			if !out.Containers[i].Running() {
				t.Fatalf("proxy switch: the proxy %s is %s", a.Container, out.Containers[i].State)
			}
			if launcher, ok := out.Containers[i].Labels[LabelProxyPorts]; ok {
				// Its published ports are the launcher's: without it
				// running, the proxy answers that it lacks them.
				if j := slices.IndexFunc(out.Containers, func(c Container) bool { return c.Name == launcher }); j < 0 || !out.Containers[j].Running() {
					t.Fatalf("proxy switch: the proxy's launcher %s does not run", launcher)
				}
			}
			table := ProxyTable{Generation: out.ProxyTable.Generation + 1}
			for _, r := range out.ProxyTable.Routes {
				if !slices.ContainsFunc(a.Routes, func(n ProxyTableRoute) bool { return n.Listen == r.Listen }) {
					table.Routes = append(table.Routes, r)
				}
			}
			out.ProxyTable = ProxyTable{Generation: table.Generation, Routes: append(table.Routes, a.Routes...)}
		case RenameContainer:
			for _, c := range out.Containers {
				if c.Name == a.Name {
					t.Fatalf("rename to %q: the name is taken", a.Name)
				}
			}
			out.Containers[find(a.Ref)].Name = a.Name
		}
	}
	sortContainers(out.Containers)
	return out, false
}

// failingHook, as simulateSteps' bad image, makes the post_start hooks of
// revision 2 fail.
const failingHook = "failing post_start hook"

// postStarted is where simulate notes that a container's post_start hook
// ran since its last start.
const postStarted = "test.post-started"

// liveRestart is where simulate keeps a container's restart policy as the
// engine would have it now (the Container type holds only the one it was
// made with).
const liveRestart = "test.live-restart"

func copyMap(m map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

package compose

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// cleanEnv keeps the caller's environment from leaking into a load.
func cleanEnv(t *testing.T) {
	for _, k := range []string{"COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "COMPOSE_PROFILES", "WEB_VERSION", "GREETING"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
}

func TestLoadGolden(t *testing.T) {
	cases := []struct {
		name string
		opts Options
	}{
		{"full", Options{}},
		{"full-profile", Options{Profiles: []string{"jobs"}}},
		{"v1rancher", Options{}},
		{"merge", Options{}},
		{"rancherv1", Options{}},
		{"rancherv2", Options{}},
		{"parity", Options{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			dir, _ := filepath.Abs(filepath.Join("testdata/projects", strings.TrimSuffix(tc.name, "-profile")))
			tc.opts.ProjectDir = dir
			p, err := Load(context.Background(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.MarshalYAML()
			if err != nil {
				t.Fatal(err)
			}
			checkGolden(t, filepath.Join("testdata/golden", tc.name+".yml"), strings.ReplaceAll(string(out), dir, "$DIR"))
		})
	}
}

// checkGolden compares config output with a golden file (-update rewrites
// it).
func checkGolden(t *testing.T, golden, got string) {
	t.Helper()
	if *update {
		os.MkdirAll(filepath.Dir(golden), 0o755)
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./compose -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("config output differs from %s (go test ./compose -update rewrites it):\n%s", golden, got)
	}
}

func TestLoadOrderAndScale(t *testing.T) {
	cleanEnv(t)
	p, err := Load(context.Background(), Options{ProjectDir: "testdata/projects/full", Profiles: []string{"jobs"}})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range p.Services {
		names = append(names, s.Name)
	}
	if got := strings.Join(names, ","); got != "db,worker,web" {
		t.Errorf("dependency order %s, want db,worker,web", got)
	}
	if p.Name != "fullstack" {
		t.Errorf("project name %q, want fullstack (from name:)", p.Name)
	}
	if !strings.HasSuffix(p.RancherFile, "testdata/projects/full/rancher-compose.yml") {
		t.Errorf("rancher file %q, want the one beside the compose file", p.RancherFile)
	}
	web, _ := p.Service("web")
	wantPolicy := Policy{StartFirst: true, BatchSize: 1, Interval: 500 * time.Millisecond, FailureAction: FailurePause, HealthTimeout: time.Minute, Monitor: 10 * time.Second}
	if web.Policy != wantPolicy {
		t.Errorf("web policy %+v, want %+v (rancher-compose over deploy.update_config)", web.Policy, wantPolicy)
	}
	if env := web.Config.Environment; env["FROM_ENV_FILE"] == nil || *env["FROM_ENV_FILE"] != "yes" || *env["GREETING"] != "bonjour" {
		t.Errorf("environment %v: want env_file and .env applied", env)
	}
}

func TestProjectName(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	sub := filepath.Join(dir, "My Site.v2")
	os.Mkdir(sub, 0o755)
	os.WriteFile(filepath.Join(sub, "docker-compose.yml"), []byte("services:\n  web:\n    image: x\n"), 0o644)
	p, err := Load(context.Background(), Options{ProjectDir: sub})
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "mysitev2" {
		t.Errorf("name %q, want mysitev2 (lower-cased, other characters dropped)", p.Name)
	}
	t.Setenv("COMPOSE_PROJECT_NAME", "fromenv")
	if p, _ = Load(context.Background(), Options{ProjectDir: sub}); p.Name != "fromenv" {
		t.Errorf("name %q, want fromenv", p.Name)
	}
	if p, _ = Load(context.Background(), Options{ProjectDir: sub, ProjectName: "flag"}); p.Name != "flag" {
		t.Errorf("name %q, want flag", p.Name)
	}
}

func TestScaleAndPolicyPrecedence(t *testing.T) {
	cleanEnv(t)
	p, err := Load(context.Background(), Options{ProjectDir: "testdata/projects/v1rancher"})
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.Service("web")
	api, _ := p.Service("api")
	if web.Scale != 3 {
		t.Errorf("web scale %d, want 3 (rancher-compose over deploy.replicas)", web.Scale)
	}
	if api.Scale != 4 {
		t.Errorf("api scale %d, want 4 (scale:)", api.Scale)
	}
	if !web.Policy.StartFirst || web.Policy.BatchSize != 2 || web.Policy.Interval != time.Second {
		t.Errorf("web policy %+v: want start_first from rancher-compose, defaults otherwise", web.Policy)
	}
	if def := DefaultPolicy(); api.Policy != def {
		t.Errorf("api policy %+v, want the defaults %+v", api.Policy, def)
	}
}

func TestLoadErrors(t *testing.T) {
	cases := []struct {
		name    string
		compose string // "" for no file at all
		rancher string
		want    string
	}{
		{"no compose file", "", "", "no compose file found"},
		{"yaml error", "services:\n  web:\n   image: x\n  bad\n", "", "docker-compose.yml"},
		{"unknown compose key", "services:\n  web:\n    image: x\n    imagee: y\n", "", "imagee"},
		{"unsupported key", "services:\n  web:\n    image: x\n    use_api_socket: true\n", "",
			`service "web": key "use_api_socket" is not supported by drover yet`},
		{"unsupported keys", "services:\n  web:\n    image: x\n    credential_spec: {file: c.json}\n    use_api_socket: true\n", "",
			`service "web": keys ["credential_spec" "use_api_socket"] are not supported by drover yet`},
		{"swarm placement", "services:\n  web:\n    image: x\n    deploy:\n      placement:\n        constraints: [node.role==manager]\n", "",
			`service "web": key "deploy.placement" is not supported by drover yet`},
		{"no image", "services:\n  web:\n    command: x\n", "", `docker-compose.yml:2: service "web": has neither an image nor a build context specified`},
		{"container_name and scale", "services:\n  web:\n    image: x\n    container_name: one\n    scale: 2\n", "",
			`can't set container_name and web as container name must be unique`},
		{"rancher service absent", "services:\n  web:\n    image: x\n", "services:\n  web: {}\n  ghost:\n    scale: 2\n",
			`rancher-compose.yml:3: service "ghost": service is not defined in the compose file`},
		{"rancher unknown key", "services:\n  web:\n    image: x\n", "services:\n  web:\n    scael: 2\n",
			`rancher-compose.yml:3: service "web": scael: unknown rancher-compose key`},
		{"history of one", "services:\n  web:\n    image: x\n    x-drover: {history: 1}\n", "",
			`docker-compose.yml:4: service "web": x-drover.history: expected a whole number of revisions from 2 to 50 (the current one and at least one to go back to), got 1`},
		{"history not a number", "services:\n  web:\n    image: x\n    x-drover: {history: many}\n", "",
			`service "web": x-drover.history: expected a whole number of revisions from 2 to 50`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			dir := t.TempDir()
			if tc.compose != "" {
				os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte(tc.compose), 0o644)
			}
			if tc.rancher != "" {
				os.WriteFile(filepath.Join(dir, "rancher-compose.yml"), []byte(tc.rancher), 0o644)
			}
			_, err := Load(context.Background(), Options{ProjectDir: dir})
			if err == nil {
				t.Fatalf("loaded without error; want %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestHistoryLimit(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte("services:\n  web:\n    image: x\n    x-drover: {history: 12}\n  db:\n    image: y\n"), 0o644)
	p, err := Load(context.Background(), Options{ProjectDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.Service("web")
	db, _ := p.Service("db")
	if web.History != 12 || db.History != DefaultHistory {
		t.Errorf("history limits %d and %d, want 12 and %d", web.History, db.History, DefaultHistory)
	}
	if web.Hash == "" || web.Spec == nil || strings.Contains(string(web.Spec), "history") {
		t.Errorf("x-drover.history is in the spec: %s", web.Spec)
	}
}

func TestNamedRancherFileMustExist(t *testing.T) {
	cleanEnv(t)
	_, err := Load(context.Background(), Options{ProjectDir: "testdata/projects/merge", RancherFile: "testdata/nope.yml"})
	if err == nil || !strings.Contains(err.Error(), "nope.yml") {
		t.Errorf("error %v, want one naming the missing rancher file", err)
	}
}

func TestRancherEraWarnings(t *testing.T) {
	cleanEnv(t)
	p, err := Load(context.Background(), Options{ProjectDir: "testdata/projects/rancherv1"})
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(p.Warnings, "\n")
	if strings.Contains(got, "health_check") {
		t.Errorf("a health_check with a port is run by the proxy, yet a warning names it:\n%s", got)
	}
	for _, want := range []string{
		`service "web": retain_ip: no effect`,
		`service "web": drain_timeout_ms: no effect: the service is not behind drover's front proxy`,
		`service "web": metadata: kept in the project, no effect`,
		`service "web": scale_policy: no effect`,
		`service "web": label io.rancher.scheduler.affinity:host_label: kept on the containers, no effect: Rancher's scheduler used it to place containers on hosts; one engine has one host`,
		`service "client": external_ips/hostname: no effect`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "pull_image") || strings.Contains(got, "start_once") || strings.Contains(got, "sidekicks") {
		t.Errorf("labels drover acts on are reported as having no effect:\n%s", got)
	}
	web, _ := p.Service("web")
	data, _ := p.Service("web-data")
	if web.Policy.HealthTimeout != time.Minute {
		t.Errorf("health timeout %s, want health_check.initializing_timeout (60000 ms)", web.Policy.HealthTimeout)
	}
	if !web.PullAlways() || !data.StartOnce() || web.Scale != 2 || !web.Policy.StartFirst {
		t.Errorf("web pull always %v, web-data start once %v, web scale %d, start-first %v", web.PullAlways(), data.StartOnce(), web.Scale, web.Policy.StartFirst)
	}
}

func TestConvertV1(t *testing.T) {
	cases := []struct {
		name, in, want, err string
	}{
		{"current layout untouched", "services:\n  web: {image: x}\n", "", ""},
		{"version 2 untouched", "version: '2'\nservices:\n  web: {image: x}\n", "", ""},
		{"not yaml", "web: [\n", "", ""},
		{"net", "web:\n  image: x\n  net: host\n", "map[services:map[web:map[image:x network_mode:host]]]", ""},
		{"log driver and options", "web:\n  image: x\n  log_driver: syslog\n  log_opt: {tag: w}\n", "map[services:map[web:map[image:x logging:map[driver:syslog options:map[tag:w]]]]]", ""},
		{"log options alone", "web:\n  image: x\n  log_opt: {tag: w}\n", "map[services:map[web:map[image:x logging:map[options:map[tag:w]]]]]", ""},
		{"dockerfile beside build", "web:\n  build: .\n  dockerfile: D\n", "map[services:map[web:map[build:map[context:. dockerfile:D]]]]", ""},
		{"keys of today stay", "web:\n  image: x\n  links: [db]\n  volumes_from: [db]\n  mem_limit: 1g\n", "map[services:map[web:map[image:x links:[db] mem_limit:1g volumes_from:[db]]]]", ""},
		{"service not a mapping", "web: nginx\n", "", `service "web": expected a mapping of keys (this file has the v1 layout: every top-level key is a service)`},
		{"dockerfile without build path", "web:\n  dockerfile: D\n", "", `service "web": dockerfile: needs build: to be a path, as in the v1 layout`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := convertV1([]byte(tc.in))
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Errorf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.want == "" && got != nil {
				t.Errorf("converted %v, want the file left alone", got)
			}
			if tc.want != "" && fmt.Sprint(got) != tc.want {
				t.Errorf("converted %v\nwant      %s", got, tc.want)
			}
		})
	}
}

// corpusSamples is the number of awesome-compose samples in
// ../shared/corpus (one folder each, at commit 18f59bd).
const corpusSamples = 39

// corpusRefusals lists the awesome-compose samples drover refuses, each with
// the part of the error that says why. Every other sample must load.
var corpusRefusals = map[string]string{}

// TestCorpus loads every compose file of the awesome-compose samples: each
// must load, or be listed in corpusRefusals and fail with that reason in one
// line that names the service and the key.
func TestCorpus(t *testing.T) {
	root := "../../shared/corpus/awesome-compose"
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Skipf("the awesome-compose corpus is not beside the checkout (%v): .ci/run requires it, go test skips", err)
	}
	cleanEnv(t)
	loaded, refused, samples := 0, 0, 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		samples++
		t.Run(d.Name(), func(t *testing.T) {
			_, err := Load(context.Background(), Options{ProjectDir: filepath.Join(root, d.Name())})
			reason, expected := corpusRefusals[d.Name()]
			switch {
			case err == nil && expected:
				t.Errorf("loads, but is listed as refused (%q): update corpusRefusals", reason)
			case err == nil:
				loaded++
			case !expected:
				t.Errorf("refused, and not listed in corpusRefusals: %v", err)
			default:
				refused++
				msg := err.Error()
				if !strings.Contains(msg, reason) {
					t.Errorf("refused with %q, want the listed reason %q", msg, reason)
				}
				if strings.Contains(msg, "\n") || !strings.Contains(msg, `service "`) || !strings.Contains(msg, "key") {
					t.Errorf("refused without one line naming the service and the key: %q", msg)
				}
			}
		})
	}
	if samples != corpusSamples {
		t.Errorf("%d samples in %s, want %d", samples, root, corpusSamples)
	}
	if loaded != corpusSamples-len(corpusRefusals) || refused != len(corpusRefusals) {
		t.Errorf("%d of %d samples load and %d are refused; want %d and %d", loaded, samples, refused, corpusSamples-len(corpusRefusals), len(corpusRefusals))
	}
	t.Logf("awesome-compose: %d of %d samples load, %d refused as listed", loaded, samples, refused)
}

func FuzzConvertV1(f *testing.F) {
	for _, seed := range []string{
		"web:\n  image: x\n  net: host\n  log_driver: syslog\n  log_opt: {tag: a}\n",
		"web:\n  build: .\n  dockerfile: D\n",
		"services:\n  web: {image: x}\n",
		"version: '2'\n",
		"web: 3\n",
		"- a\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := convertV1(data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "service ") {
				t.Errorf("error does not name the service: %v", err)
			}
			return
		}
		if out == nil {
			return
		}
		services, ok := out["services"].(map[string]any)
		if !ok || len(out) != 1 {
			t.Fatalf("converted to %v, want only services:", out)
		}
		for name, s := range services {
			svc := s.(map[string]any)
			for _, v1 := range []string{"net", "log_driver", "log_opt", "dockerfile"} {
				if _, left := svc[v1]; left {
					t.Errorf("service %q: v1 key %s left after conversion", name, v1)
				}
			}
		}
	})
}

// TestCheckProject: what the engine would refuse half-way through an up is
// refused while loading, naming both services.
func TestCheckProject(t *testing.T) {
	cases := []struct{ name, compose, want string }{
		{"duplicate container_name",
			"services:\n  a:\n    image: x\n    container_name: one\n  b:\n    image: x\n    container_name: one\n",
			`docker-compose.yml:7: service "b": container_name "one" is already the container name of service "a"`},
		{"one host port twice",
			"services:\n  a:\n    image: x\n    ports: ['8080:80']\n  b:\n    image: x\n    ports: ['127.0.0.1:8080:81']\n",
			`docker-compose.yml:7: service "b": host port 8080/tcp is also published by service "a"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadText(t, tc.compose, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	ok := map[string]string{
		"other protocol": "services:\n  a:\n    image: x\n    ports: ['53:53/udp']\n  b:\n    image: x\n    ports: ['53:53/tcp']\n",
		"other address":  "services:\n  a:\n    image: x\n    ports: ['127.0.0.1:80:80']\n  b:\n    image: x\n    ports: ['127.0.0.2:80:80']\n",
	}
	for name, text := range ok {
		if _, err := loadText(t, text, ""); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// TestConfigBuildSSH: build.ssh and build.secrets load, print, and what
// config prints loads back to the same.
func TestConfigBuildSSH(t *testing.T) {
	text := "services:\n  web:\n    build:\n      context: .\n      ssh: [default, key=/tmp/id]\n      secrets: [tok]\nsecrets:\n  tok: {file: ./tok}\n"
	p, err := loadText(t, text, "")
	if err != nil {
		t.Fatal(err)
	}
	out, err := p.MarshalYAML()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "ssh:\n        - default\n        - key=/tmp/id\n") || !strings.Contains(string(out), "- source: tok") {
		t.Errorf("config output:\n%s", out)
	}
	p2, err := loadText(t, string(out), "")
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.Service("web")
	web2, _ := p2.Service("web")
	if path, _ := web2.Config.Build.SSH.Get("key"); path != "/tmp/id" || len(web2.Config.Build.SSH) != len(web.Config.Build.SSH) {
		t.Errorf("ssh read back %+v, want %+v", web2.Config.Build.SSH, web.Config.Build.SSH)
	}
}

// TestConfigErrors: configs one engine cannot apply are refused while
// loading, at their line.
func TestConfigErrors(t *testing.T) {
	svc := "services:\n  web:\n    image: x\n    configs: [c]\n"
	cases := []struct{ name, compose, want string }{
		{"external", svc + "configs:\n  c:\n    external: true\n",
			`docker-compose.yml:6: configs.c: config "c" (used by service "web"): external configs are swarm objects`},
		{"environment unset", svc + "configs:\n  c:\n    environment: DROVER_TEST_UNSET\n",
			`config "c" (used by service "web"): environment variable DROVER_TEST_UNSET is not set`},
		{"file missing", svc + "configs:\n  c:\n    file: ./nope.conf\n",
			`config "c" (used by service "web"): file: open`},
		{"content in a read-only service", "services:\n  web:\n    image: x\n    read_only: true\n    configs: [c]\nconfigs:\n  c:\n    content: x\n",
			`docker-compose.yml:5: service "web": config "c": a content or environment config is copied into the container, which read_only: true forbids`},
		{"uid not a number", "services:\n  web:\n    image: x\n    configs: [{source: c, uid: app}]\nconfigs:\n  c:\n    content: x\n",
			`service "web": config "c": uid "app": expected a number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadText(t, tc.compose, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestContainerNameAtRancherScale: a scale above 1 from rancher-compose.yml
// beside a container_name loads, as on a Rancher 1.6 server, which named
// the containers itself: container_name is left out, with a note.
func TestContainerNameAtRancherScale(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docker-compose.yml", "services:\n  web:\n    image: x\n    container_name: one\n")
	write("rancher-compose.yml", "services:\n  web:\n    scale: 2\n")
	p, err := Load(context.Background(), Options{ProjectDir: dir, Files: []string{filepath.Join(dir, "docker-compose.yml")}, ProjectName: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	svc, _ := p.Service("web")
	if svc.Scale != 2 || svc.Config.ContainerName != "" || !slices.ContainsFunc(svc.NoEffect, func(n string) bool {
		return strings.HasPrefix(n, `container_name: "one": no effect at scale 2 from rancher-compose.yml`)
	}) {
		t.Errorf("scale %d, container_name %q, notes %q", svc.Scale, svc.Config.ContainerName, svc.NoEffect)
	}
}

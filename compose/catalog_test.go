package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/drover/drover/catalog"
)

// catalogCorpus is ../shared/corpus/rancher-catalog: 45 real catalog
// entries (rancher/community-catalog and rancher/rancher-catalog), one
// folder each under community/ and rancher/.
const (
	catalogCorpus      = "../../shared/corpus/rancher-catalog"
	catalogCorpusCases = 45
	// catalogCorpusLoads is how many of them load with their questions'
	// defaults (and the answers in testdata/catalog-answers where a
	// required question has none). Every other case is listed in
	// catalogRefusals.
	catalogCorpusLoads = 44
)

// catalogRefusal is why a corpus case is refused: whose work it waits for,
// and the part of the error that says what.
type catalogRefusal struct {
	kind   string
	reason string
}

// catalogRefusals are the cases drover refuses today. Each kind names the
// work that would make the case load; none is refused for a reason of
// this package's own (questions, answers, templates, interpolation).
var catalogRefusals = map[string]catalogRefusal{
	"community/nuxeo-0": {"lb", `load_balancer_config.lb_cookie_stickiness_policy: cookie stickiness is not done by drover's proxy`},
}

// catalogCases lists the corpus cases as "community/adminer-0".
func catalogCases(t *testing.T) []string {
	var cases []string
	for _, repo := range []string{"community", "rancher"} {
		dirs, err := os.ReadDir(filepath.Join(catalogCorpus, repo))
		if err != nil {
			t.Skipf("the rancher-catalog corpus is not beside the checkout (%v): .ci/run requires it, go test skips", err)
		}
		for _, d := range dirs {
			if d.IsDir() {
				cases = append(cases, repo+"/"+d.Name())
			}
		}
	}
	sort.Strings(cases)
	return cases
}

// catalogOptions are the options a corpus case loads with: its folder, and
// drover's own answers file when it has one.
func catalogOptions(c string) Options {
	o := Options{ProjectDir: filepath.Join(catalogCorpus, c)}
	answers := filepath.Join("testdata/catalog-answers", strings.ReplaceAll(c, "/", "-")+".txt")
	if _, err := os.Stat(answers); err == nil {
		o.Answers = []string{answers}
	}
	return o
}

var reServiceKey = regexp.MustCompile(`service "[^"]+": [a-z_.]+: `)

var reFileLine = regexp.MustCompile(`^[^ :]+(\.yml|\.tpl):\d+: `)

// TestCatalogCorpus renders and loads every catalog entry of the corpus
// with its questions' defaults: each loads, or is refused as listed in
// catalogRefusals, with one line naming the file, the line, the service
// and the key. It prints a table of the cases.
func TestCatalogCorpus(t *testing.T) {
	cases := catalogCases(t)
	cleanEnv(t)
	var table strings.Builder
	loaded := 0
	refusedBy := map[string]int{}
	for _, c := range cases {
		result, reason := "loads", ""
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic: %v", c, r)
					result = "PANIC"
				}
			}()
			p, err := Load(context.Background(), catalogOptions(c))
			want, listed := catalogRefusals[c]
			switch {
			case err == nil && listed:
				t.Errorf("%s: loads, but is listed as refused (%s: %q): update catalogRefusals", c, want.kind, want.reason)
			case err == nil:
				loaded++
				reason = fmt.Sprintf("%d services", len(p.Services))
			case !listed:
				t.Errorf("%s: refused, and not listed in catalogRefusals: %v", c, err)
				result, reason = "REFUSED", err.Error()
			default:
				refusedBy[want.kind]++
				result, reason = "refused: "+want.kind, err.Error()
				if !strings.Contains(err.Error(), want.reason) {
					t.Errorf("%s: refused with %q, want the listed reason %q", c, err, want.reason)
				}
				checkLocated(t, c, err)
			}
		}()
		fmt.Fprintf(&table, "%-36s %-24s %s\n", c, result, firstLine(reason))
	}
	t.Logf("rancher-catalog corpus:\n%s", table.String())
	t.Logf("%d of %d cases load; refused: %v", loaded, len(cases), refusedBy)
	if len(cases) != catalogCorpusCases {
		t.Errorf("%d cases in %s, want %d", len(cases), catalogCorpus, catalogCorpusCases)
	}
	if loaded != catalogCorpusLoads {
		t.Errorf("%d cases load, want %d", loaded, catalogCorpusLoads)
	}
	if catalogCorpusLoads+len(catalogRefusals) != catalogCorpusCases {
		t.Errorf("%d loads and %d listed refusals do not make the %d cases", catalogCorpusLoads, len(catalogRefusals), catalogCorpusCases)
	}
}

// checkLocated asserts that a refusal is one line naming the file and line,
// the service (or the top-level entry) and the key.
func checkLocated(t *testing.T, c string, err error) {
	t.Helper()
	msg := err.Error()
	if strings.Contains(msg, "\n") {
		t.Errorf("%s: refused in more than one line: %q", c, msg)
	}
	rel := strings.TrimPrefix(msg, filepath.Join(catalogCorpus, c)+"/")
	var fe *FileError
	if !reFileLine.MatchString(rel) && !(errors.As(err, &fe) && fe.Line > 0) {
		t.Errorf("%s: refused without a file and line: %q", c, msg)
	}
	if !strings.Contains(msg, `service "`) && !regexp.MustCompile(`: (volumes|networks)\.[^ ]+: `).MatchString(msg) {
		t.Errorf("%s: refused without naming the service or entry: %q", c, msg)
	}
	if !strings.Contains(msg, "key") && !reServiceKey.MatchString(msg) {
		t.Errorf("%s: refused without naming the key: %q", c, msg)
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// TestCatalogGolden compares `drover config` of six corpus entries with
// golden files: two templated, two of the v1 layout, one with a load
// balancer and one with sidekicks (both as the loader sees them today).
func TestCatalogGolden(t *testing.T) {
	for _, c := range []string{
		"rancher/container-crontab-3", // a template inside a plain docker-compose.yml
		"community/selenium-0",        // docker-compose.yml.tpl; scale: ${VAR} in rancher-compose
		"community/adminer-0",         // v1 layout
		"community/MongoDB-2",         // v1 layout, sidekicks with net: none
		"community/postgres-0",        // rancher/lb-service-haproxy with lb_config
		"community/meanshop-0",        // sidekicks
	} {
		t.Run(c, func(t *testing.T) {
			catalogCases(t) // skips without the corpus
			cleanEnv(t)
			o := catalogOptions(c)
			dir, _ := filepath.Abs(o.ProjectDir)
			o.ProjectDir = dir
			p, err := Load(context.Background(), o)
			if err != nil {
				t.Fatal(err)
			}
			out, err := p.MarshalYAML()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata/golden/catalog", strings.ReplaceAll(c, "/", "-")+".yml")
			checkGolden(t, golden, strings.ReplaceAll(string(out), dir, "$DIR"))
		})
	}
}

// TestLoadCatalogEntry loads a small catalog entry of ours: a template
// rendered with answers over the process environment over .env over the
// questions' defaults, and a rancher-compose.yml interpolated with the
// same environment.
func TestLoadCatalogEntry(t *testing.T) {
	cleanEnv(t)
	os.Unsetenv("PORT")
	dir := "testdata/projects/catalog"
	load := func(answers ...string) *Project {
		t.Helper()
		for i, a := range answers {
			answers[i] = filepath.Join(dir, a)
		}
		p, err := Load(context.Background(), Options{ProjectDir: dir, Answers: answers})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := load("answers.txt")
	web, _ := p.Service("web")
	worker, _ := p.Service("worker")
	env := func(s Service, k string) string {
		if v := s.Config.Environment[k]; v != nil {
			return *v
		}
		return "<unset>"
	}
	for _, c := range []struct{ what, got, want string }{
		{"image (template, default)", web.Config.Image, "drover-hello:v1"},
		{".Stack.Name", web.Config.Labels["stack"], "catalog"},
		{"GREETING (.env over the default)", env(web, "GREETING"), "from the .env file"},
		{"FROM_DOTENV", env(web, "FROM_DOTENV"), "dotenv"},
		{"bare ADMIN_PASSWORD (from the answers)", env(web, "ADMIN_PASSWORD"), "s3cret"},
		{"published port (answers)", fmt.Sprint(web.Config.Ports[0].HostIP, ":", web.Config.Ports[0].Published), "127.0.0.1:8991"},
		{"worker command (splitPreserveQuotes)", strings.Join(worker.Config.Command, " "), "/hello -probe http://web/healthz"},
		{"worker scale (${WORKERS} from a default)", fmt.Sprint(worker.Scale), "2"},
		{"web batch size (${BATCH:-1})", fmt.Sprint(web.Policy.BatchSize), "1"},
		{"web interval ($INTERVAL from .env)", web.Policy.Interval.String(), "250ms"},
		{"worker metadata ($$)", fmt.Sprint(worker.Rancher.Metadata["cost"]), "$5"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %q, want %q", c.what, c.got, c.want)
		}
	}
	var shown []string
	for _, q := range p.Questions {
		shown = append(shown, q.Variable+"="+q.Shown()+" ("+q.Source+")")
	}
	want := "VERSION=v1 (default), PUBLISH=true (default), PORT=8991 (testdata/projects/catalog/answers.txt:2), GREETING=from the .env file (environment), ADMIN_PASSWORD=******** (testdata/projects/catalog/answers.txt:3), WORKERS=2 (default), WORKER_ARGS=-probe http://web/healthz (default)"
	if got := strings.Join(shown, ", "); got != want {
		t.Errorf("questions:\n%s\nwant\n%s", got, want)
	}

	// The process environment wins over .env, answers over both; a later
	// answers file over an earlier one.
	t.Setenv("GREETING", "from the process")
	t.Setenv("VERSION", "v2")
	p = load("answers.txt")
	web, _ = p.Service("web")
	if env(web, "GREETING") != "from the process" || web.Config.Image != "drover-hello:v2" {
		t.Errorf("GREETING %q, image %q: want the process environment's", env(web, "GREETING"), web.Config.Image)
	}
	t.Setenv("VERSION", "v1")
	p = load("answers.txt", "answers.yml")
	web, _ = p.Service("web")
	if web.Config.Image != "drover-hello:v2" || len(web.Config.Ports) != 0 {
		t.Errorf("image %q, ports %v: want answers.yml's v2 and no ports", web.Config.Image, web.Config.Ports)
	}
}

func TestLoadCatalogEntryRefusesBeforeAnything(t *testing.T) {
	cleanEnv(t)
	os.Unsetenv("PORT")
	dir := "testdata/projects/catalog"
	bad := filepath.Join(t.TempDir(), "bad.txt")
	os.WriteFile(bad, []byte("PORT=80\nVERSION=v3\n"), 0o644)
	_, err := Load(context.Background(), Options{ProjectDir: dir, Answers: []string{bad}})
	want := `testdata/projects/catalog/rancher-compose.yml: 3 catalog questions have no acceptable value (answer with --answers FILE or the environment):
  line 6: "VERSION" (Version of the hello image) = "v3" from ` + bad + `:2: expected one of "v1", "v2"
  line 14: "PORT" = "80" from ` + bad + `:1: less than the minimum 1024
  line 22: "ADMIN_PASSWORD": required, with no default and no answer`
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestRancherInterpolation(t *testing.T) {
	env := map[string]string{"N": "3", "FIRST": "true", "MS": "250"}
	for _, tc := range []struct{ name, text, want string }{
		{"${VAR}", "web:\n  scale: ${N}\n", "scale 3"},
		{"$VAR", "web:\n  scale: $N\n", "scale 3"},
		{"${VAR:-default}", "web:\n  scale: ${UNSET:-4}\n", "scale 4"},
		{"in a block", "web:\n  upgrade_strategy:\n    start_first: ${FIRST}\n    interval_millis: \"${MS}\"\n", "start_first true, interval 250"},
		{"$$", "web:\n  metadata:\n    price: $$N\n", "metadata map[price:$N]"},
		{"catalog section untouched", ".catalog:\n  questions:\n    - variable: X\n      default: ${nope\nweb:\n  scale: 1\n", "scale 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rf, err := ParseRancherWith("r.yml", []byte(tc.text), env)
			if err != nil {
				t.Fatal(err)
			}
			w := rf.Services["web"]
			var got []string
			if w.Scale != nil {
				got = append(got, fmt.Sprint("scale ", *w.Scale))
			}
			if u := w.UpgradeStrategy; u != nil {
				got = append(got, fmt.Sprintf("start_first %v, interval %d", *u.StartFirst, *u.IntervalMillis))
			}
			if w.Metadata != nil {
				got = append(got, fmt.Sprint("metadata ", w.Metadata))
			}
			if strings.Join(got, "; ") != tc.want {
				t.Errorf("parsed %q, want %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, text, want string }{
		{"bad syntax keeps the line", "web:\n  scale: 1\napi:\n  scale: ${N\n", `r.yml:4: invalid interpolation in "${N": Invalid template: "${N"`},
		{"required", "web:\n\n  scale: ${GONE:?set the scale}\n", `r.yml:3: required variable GONE is missing a value: set the scale`},
		{"blank is not a scale", "web:\n  scale: ${GONE}\n", `r.yml:2: service "web": scale: expected an integer, got ""`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRancherWith("r.yml", []byte(tc.text), env)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
	rf, err := ParseRancherWith("r.yml", []byte("web:\n  metadata:\n    a: ${GONE}\n    b: ${GONE:-x}\n    c: $ALSO_GONE\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	want := "r.yml:3: variable GONE is not set: a blank string\nr.yml:5: variable ALSO_GONE is not set: a blank string"
	var unset []string
	for _, u := range rf.Unset {
		unset = append(unset, u.Error())
	}
	if got := strings.Join(unset, "\n"); got != want {
		t.Errorf("warnings:\n%s\nwant\n%s", got, want)
	}
}

// An error found in a rendered file names the template's line.
func TestRenderedErrorNamesTemplateLine(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "docker-compose.yml.tpl"), []byte("services:\n{{- if eq .Values.EXTRA \"true\" }}\n  extra:\n    image: x\n{{- end }}\n  web:\n    image: x\n    imgae: y\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rancher-compose.yml.tpl"), []byte(".catalog:\n  questions:\n    - variable: EXTRA\n      default: false\nweb:\n{{- if eq .Values.EXTRA \"true\" }}\n  scale: 2\n{{- end }}\n  scale: lots\n"), 0o644)
	_, err := Load(context.Background(), Options{ProjectDir: dir})
	want := filepath.Join(dir, "rancher-compose.yml.tpl") + `:9: service "web": scale: expected an integer, got "lots"`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
	os.WriteFile(filepath.Join(dir, "rancher-compose.yml.tpl"), []byte(".catalog:\n  questions:\n    - variable: EXTRA\n      default: false\n"), 0o644)
	_, err = Load(context.Background(), Options{ProjectDir: dir})
	want = filepath.Join(dir, "docker-compose.yml.tpl") + `:8: service "web": unknown key "imgae" (did you mean "image"?)`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
	// A variable that is not set is reported at the template's line too.
	os.WriteFile(filepath.Join(dir, "docker-compose.yml.tpl"), []byte("services:\n  web:\n    image: x\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rancher-compose.yml.tpl"), []byte(".catalog:\n  questions:\n    - variable: EXTRA\n      default: false\nweb:\n{{- if eq .Values.EXTRA \"true\" }}\n  scale: 2\n{{- end }}\n  metadata: {a: $NOPE}\n"), 0o644)
	p, err := Load(context.Background(), Options{ProjectDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	want = filepath.Join(dir, "rancher-compose.yml.tpl") + ":9: variable NOPE is not set: a blank string"
	if !strings.Contains(strings.Join(p.Warnings, "\n"), want) {
		t.Errorf("warnings %q, want %q", p.Warnings, want)
	}
}

func TestTemplateErrorNamesFileLineExpression(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "docker-compose.yml.tpl"), []byte("services:\n  web:\n    image: x:{{ .Values.VERSON }}\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rancher-compose.yml"), []byte(".catalog:\n  questions:\n    - variable: VERSION\n      default: v1\n"), 0o644)
	_, err := Load(context.Background(), Options{ProjectDir: dir})
	want := filepath.Join(dir, "docker-compose.yml.tpl") + `:3: template: {{.Values.VERSON}}: no question or answer named "VERSON"`
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant  %s", err, want)
	}
}

// FuzzCatalogLoad renders and loads a catalog entry made of a fuzzed
// docker-compose.yml.tpl and rancher-compose.yml: nothing panics, a
// template error names its file and line, and what loads loads the same
// way twice (a render that changed between runs would upgrade services
// that did not change).
func FuzzCatalogLoad(f *testing.F) {
	entry := "testdata/projects/catalog"
	tpl, _ := os.ReadFile(filepath.Join(entry, "docker-compose.yml.tpl"))
	rc, _ := os.ReadFile(filepath.Join(entry, "rancher-compose.yml"))
	f.Add(tpl, rc)
	for _, c := range []string{"community/gitea-0", "community/selenium-0", "rancher/ecr-1", "community/rancher-backup-1"} {
		tpl, err1 := os.ReadFile(filepath.Join(catalogCorpus, c, "docker-compose.yml.tpl"))
		rc, err2 := os.ReadFile(filepath.Join(catalogCorpus, c, "rancher-compose.yml"))
		if err1 == nil && err2 == nil {
			f.Add(tpl, rc)
		}
	}
	f.Add([]byte("services:\n  web:\n    image: x:{{ .Values.V | default \"1\" }}\n"), []byte(".catalog:\n  questions:\n    - variable: V\nweb:\n  scale: ${V:-1}\n"))
	f.Add([]byte("{{ if }}"), []byte("web: {scale: $$}"))
	f.Fuzz(func(t *testing.T, tpl, rc []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "docker-compose.yml.tpl"), tpl, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "rancher-compose.yml"), rc, 0o644); err != nil {
			t.Fatal(err)
		}
		o := Options{ProjectDir: dir, ProjectName: "fuzz", Answers: []string{filepath.Join(entry, "answers.txt")}}
		p, err := Load(context.Background(), o)
		if err != nil {
			var ce *catalog.Error
			if errors.As(err, &ce) && strings.HasPrefix(ce.Msg, "template: ") && (ce.Line == 0 || ce.File == "") {
				t.Errorf("a template error without its file and line: %q", err)
			}
			return
		}
		again, err := Load(context.Background(), o)
		if err != nil {
			t.Fatalf("loads once, then fails: %v", err)
		}
		for i, s := range p.Services {
			if again.Services[i].Hash != s.Hash {
				t.Errorf("service %q hashes %s, then %s", s.Name, s.Hash, again.Services[i].Hash)
			}
		}
	})
}

// A v1 file's named volume may be named by a question (Concrete5's
// ${cms_app_data}:/var/www): it is a named volume once interpolated.
func TestCatalogV1VolumeNamedByQuestion(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "docker-compose.yml"), []byte("app:\n  image: x\n  volumes:\n    - ${app_data}:/data\n    - ${HOST_DIR}:/host\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "rancher-compose.yml"), []byte(".catalog:\n  questions:\n    - variable: app_data\n      default: APP_DATA\n    - variable: HOST_DIR\n      default: /srv/app\n"), 0o644)
	p, err := Load(context.Background(), Options{ProjectDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	vols := p.Compose.Services["app"].Volumes
	if _, ok := p.Compose.Volumes["APP_DATA"]; !ok || vols[0].Type != "volume" || vols[0].Source != "APP_DATA" || vols[1].Type != "bind" || vols[1].Source != "/srv/app" {
		t.Errorf("volumes %+v, top-level %v: want the named volume APP_DATA and a bind of /srv/app", vols, p.Compose.Volumes)
	}
}

package tests

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// runIn runs a program in dir with extra environment and returns what it
// printed and how it ended.
func runIn(t *testing.T, dir string, env []string, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnviron(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", name, err)
	}
	return r
}

// make install puts drover in PREFIX/bin and links it as the Docker CLI
// plugin in DOCKER_CONFIG/cli-plugins; docker drover then answers through
// the plugin protocol, on the engine docker's own options choose. The
// plain binary reads the same context store (DOCKER_CONTEXT, docker
// context use), and DOCKER_HOST comes before a chosen context.
func TestDockerCLIPlugin(t *testing.T) {
	t.Parallel() // its own project, ports and images: runs beside the other parallel tests
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is not installed (Debian's docker.io, which .ci/run installs with the engine): " + err.Error())
	}
	tmp := t.TempDir()
	prefix, cfg := filepath.Join(tmp, "prefix"), filepath.Join(tmp, "docker")
	if out, err := exec.Command("make", "-C", "..", "install", "PREFIX="+prefix, "DOCKER_CONFIG="+cfg, "BIN="+filepath.Join(tmp, "drover")).CombinedOutput(); err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	installed := filepath.Join(prefix, "bin", "drover")
	if target, err := os.Readlink(filepath.Join(cfg, "cli-plugins", "docker-drover")); err != nil || target != installed {
		t.Fatalf("plugin link: %q, %v; want a link to %s", target, err, installed)
	}
	// The engine the tests use, by DOCKER_HOST; none for the contexts' part.
	env := []string{"DOCKER_CONFIG=" + cfg, "DOCKER_CONTEXT=", "DOCKER_HOST=" + docker.DaemonHost()}

	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n", "")
	r := runIn(t, p.dir, env, "docker", "drover", "version")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "drover version ") {
		t.Fatalf("docker drover version:\n%s", r)
	}
	if r = runIn(t, p.dir, env, "docker", "drover", "-p", p.name, "up"); r.code != 0 {
		t.Fatalf("docker drover up:\n%s", r)
	}
	r = runIn(t, p.dir, env, "docker", "drover", "-p", p.name, "ps")
	if r.code != 0 || !strings.Contains(r.stdout, p.name+"-web-1") {
		t.Errorf("docker drover ps does not list the container:\n%s", r)
	}
	if r = runIn(t, p.dir, env, "docker", "--help"); !strings.Contains(r.stdout, "drover*") {
		t.Errorf("docker --help does not list the plugin:\n%s", r)
	}

	// A context whose engine is nowhere: each way of choosing it must be
	// what the failure names.
	env[2] = "DOCKER_HOST="
	if r = runIn(t, p.dir, env, "docker", "context", "create", "nowhere", "--docker", "host=unix:///nonexistent/docker.sock"); r.code != 0 {
		t.Fatalf("docker context create:\n%s", r)
	}
	nowhere := `docker context "nowhere": cannot reach the Docker engine at unix:///nonexistent/docker.sock`
	for _, tc := range []struct {
		what string
		env  []string
		cmd  []string
	}{
		{"docker --context", nil, []string{"docker", "--context", "nowhere", "drover", "-p", p.name, "ps"}},
		{"DOCKER_CONTEXT, plugin", []string{"DOCKER_CONTEXT=nowhere"}, []string{"docker", "drover", "-p", p.name, "ps"}},
		{"DOCKER_CONTEXT, plain binary", []string{"DOCKER_CONTEXT=nowhere"}, []string{installed, "-p", p.name, "ps"}},
	} {
		r = runIn(t, p.dir, append(env, tc.env...), tc.cmd[0], tc.cmd[1:]...)
		if r.code != 1 || !strings.Contains(r.stderr, nowhere) {
			t.Errorf("%s: want exit 1 and %q:\n%s", tc.what, nowhere, r)
		}
	}
	if r = runIn(t, p.dir, env, "docker", "-H", "unix:///nonexistent/other.sock", "drover", "-p", p.name, "ps"); r.code != 1 || !strings.Contains(r.stderr, "unix:///nonexistent/other.sock") {
		t.Errorf("docker -H: want the engine at that host:\n%s", r)
	}
	if r = runIn(t, p.dir, env, "docker", "context", "use", "nowhere"); r.code != 0 {
		t.Fatalf("docker context use:\n%s", r)
	}
	if r = runIn(t, p.dir, env, installed, "-p", p.name, "ps"); r.code != 1 || !strings.Contains(r.stderr, nowhere) {
		t.Errorf("after docker context use nowhere: want exit 1 and %q:\n%s", nowhere, r)
	}
	// DOCKER_HOST comes before the context docker context use chose.
	env[2] = "DOCKER_HOST=" + docker.DaemonHost()
	r = runIn(t, p.dir, env, installed, "-p", p.name, "ps")
	if r.code != 0 || !strings.Contains(r.stdout, p.name+"-web-1") {
		t.Errorf("DOCKER_HOST over the current context:\n%s", r)
	}
}

// The bash completion script loads, and, driven as bash drives it,
// completes a service name of the project in the current directory;
// project names come from the engine, and a project given by -p alone
// completes its services from its containers.
func TestShellCompletion(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed: " + err.Error())
	}
	path := []string{"PATH=" + filepath.Dir(droverBin) + string(os.PathListSeparator) + os.Getenv("PATH")}
	p := newProject(t, "services:\n  web:\n    image: IMAGE:v1\n  worker:\n    image: IMAGE:v1\n  db:\n    image: IMAGE:v1\n", "")
	r := runIn(t, p.dir, path, bash, "-c", "source <(drover completion bash) && complete -p drover")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "complete -o default -F __start_drover drover" {
		t.Fatalf("the bash script does not load:\n%s", r)
	}
	// bash-completion's _get_comp_words_by_ref, reduced to what the script
	// asks of it, so that the test needs no package beyond bash.
	drive := `source <(drover completion bash)
_get_comp_words_by_ref() { cur="${COMP_WORDS[COMP_CWORD]}"; prev="${COMP_WORDS[COMP_CWORD-1]}"; words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD; }
compopt() { :; }
read -ra COMP_WORDS <<<"$1"; [ "${1: -1}" = " " ] && COMP_WORDS+=("")
COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$1"; COMP_POINT=${#COMP_LINE}
__start_drover
printf '%s\n' "${COMPREPLY[@]}"`
	complete := func(dir, line string) []string {
		t.Helper()
		r := runIn(t, dir, path, bash, "-c", drive, "drive", line)
		if r.code != 0 {
			t.Fatalf("completing %q:\n%s", line, r)
		}
		return strings.Fields(r.stdout)
	}
	if got := complete(p.dir, "drover up w"); strings.Join(got, " ") != "web worker" {
		t.Errorf("drover up w<TAB> offers %q, want web worker", got)
	}
	if got := complete(p.dir, "drover stop db "); strings.Join(got, " ") != "web worker" {
		t.Errorf("drover stop db <TAB> offers %q, want web worker", got)
	}

	p.mustDrover("up")
	if got := complete(p.dir, "drover -p "+p.name[:len(p.name)-3]); !slices.Contains(got, p.name) {
		t.Errorf("drover -p <TAB> offers %q, want %s among them", got, p.name)
	}
	elsewhere := t.TempDir()
	if got := complete(elsewhere, "drover -p "+p.name+" logs "); strings.Join(got, " ") != "db web worker" {
		t.Errorf("drover -p NAME logs <TAB>, without files, offers %q, want db web worker", got)
	}
}

// make release, from a clean checkout of HEAD, builds static binaries for
// linux/amd64 and linux/arm64 (darwin too by default; left out here for
// time) with the version, commit and date stamped in, and their SHA-256
// sums; the binary for this machine reports them.
func TestMakeRelease(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if out, err := exec.Command("git", "clone", "-q", "..", src).CombinedOutput(); err != nil {
		t.Skipf("no git checkout to clone (git clone ..: %v): %s", err, out)
	}
	head, err := exec.Command("git", "-C", src, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	commit := strings.TrimSpace(string(head))
	mk := exec.Command("make", "-C", src, "release", "PLATFORMS=linux/amd64 linux/arm64", "VERSION=9.9.9-test")
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	dist := filepath.Join(src, "dist")
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for arch, machine := range map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64} {
		bin := filepath.Join(dist, "drover-linux-"+arch)
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		if want := hex.EncodeToString(sum[:]) + "  drover-linux-" + arch; !strings.Contains(string(sums), want) {
			t.Errorf("SHA256SUMS lacks %q:\n%s", want, sums)
		}
		f, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", bin, err)
		}
		if f.Machine != machine {
			t.Errorf("%s is for %v, want %v", bin, f.Machine, machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked", bin)
			}
		}
		for _, s := range []string{"9.9.9-test", commit} {
			if !bytes.Contains(data, []byte(s)) {
				t.Errorf("%s does not carry %q", bin, s)
			}
		}
	}
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		return
	}
	r := runIn(t, src, nil, filepath.Join(dist, "drover-linux-"+runtime.GOARCH), "version", "--format", "json")
	var v struct {
		Client struct{ Version, Commit, Date, Platform string }
		Engine *struct{ Version, Arch, ProxyBinary string }
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil || r.code != 0 {
		t.Fatalf("version --format json: %v\n%s", err, r)
	}
	if _, err := time.Parse(time.RFC3339, v.Client.Date); err != nil || v.Client.Version != "9.9.9-test" || v.Client.Commit != commit || v.Client.Platform != "linux/"+runtime.GOARCH {
		t.Errorf("the binary reports %+v; want 9.9.9-test, commit %s, a date, linux/%s", v.Client, commit, runtime.GOARCH)
	}
	if v.Engine == nil || v.Engine.Version == "" || v.Engine.ProxyBinary != filepath.Join(dist, "drover-linux-"+runtime.GOARCH) {
		t.Errorf("engine part: %+v; want the engine's version and this binary for its proxy", v.Engine)
	}
}

// Package tests drives the real drover binary against the real Docker
// engine. Each test uses its own project name and removes everything it made,
// even when it fails. The images come from examples/hello, built here under
// a name unique to the run and removed at the end.
package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
)

var (
	droverBin string // the binary under test
	helloBin  string // the example server, for tests that build an image
	imageRepo string // hello images: imageRepo:v1, :v2, :broken
	docker    *client.Client
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	docker, err = client.NewClientWithOpts(client.FromEnv, client.WithAPIVersionNegotiation())
	if err == nil {
		_, err = docker.Ping(context.Background())
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "end-to-end tests need a Docker engine: %v\n", err)
		return 1
	}
	work, err := os.MkdirTemp("", "drover-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(work)
	droverBin = filepath.Join(work, "drover")
	helloBin = filepath.Join(work, "hello")
	for _, b := range []struct{ out, pkg string }{{droverBin, "../cmd/drover"}, {helloBin, "../examples/hello"}} {
		cmd := exec.Command("go", "build", "-o", b.out, b.pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n%s", b.pkg, err, out)
			return 1
		}
	}
	imageRepo = "drover-e2e-hello-" + randomHex(4)
	if out, err := exec.Command("../examples/hello/build-images.sh", imageRepo).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building images: %v\n%s", err, out)
		return 1
	}
	defer removeImages(imageRepo)
	// drover builds its proxy image on first use: remove those this run
	// made (by tag, for the reason removeImages gives).
	proxyTags := func() map[string]bool {
		out := map[string]bool{}
		list, _ := docker.ImageList(context.Background(), image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", "drover-proxy"))})
		for _, img := range list {
			for _, tag := range img.RepoTags {
				out[tag] = true
			}
		}
		return out
	}
	before := proxyTags()
	defer func() {
		for tag := range proxyTags() {
			if !before[tag] {
				_, _ = docker.ImageRemove(context.Background(), tag, image.RemoveOptions{PruneChildren: true})
			}
		}
	}()
	// drover loads its lease image on first use; a run that did not find
	// it leaves none behind (not forced: another run may hold a lease).
	if _, err := docker.ImageInspect(context.Background(), "drover-lease:1"); err != nil {
		defer func() { _, _ = docker.ImageRemove(context.Background(), "drover-lease:1", image.RemoveOptions{}) }()
	}
	defer stopRegistries()
	return m.Run()
}

// removeImages removes the tags of one repository. It removes by tag, not by
// ID: the build cache can give a test image the ID of an image the user
// built, and removing by ID would take the user's tags with it.
func removeImages(repo string) {
	ctx := context.Background()
	list, _ := docker.ImageList(ctx, image.ListOptions{Filters: filters.NewArgs(filters.Arg("reference", repo))})
	for _, img := range list {
		for _, tag := range img.RepoTags {
			if strings.HasPrefix(tag, repo+":") {
				_, _ = docker.ImageRemove(ctx, tag, image.RemoveOptions{PruneChildren: true})
			}
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// project is one test's compose project in its own directory.
type project struct {
	t    *testing.T
	name string
	dir  string
	// builtImages are repositories the project builds, removed at cleanup.
	builtImages []string
}

var nonName = regexp.MustCompile(`[^a-z0-9]+`)

// newProject makes a project directory with the given files; IMAGE in them
// stands for the test images' repository. Its cleanup removes whatever the
// project left on the engine.
func newProject(t *testing.T, composeYAML, rancherYAML string) *project {
	t.Helper()
	name := "e2e" + nonName.ReplaceAllString(strings.ToLower(t.Name()), "")
	if len(name) > 30 {
		name = name[:30]
	}
	p := &project{t: t, name: name + randomHex(3), dir: t.TempDir()}
	p.write("docker-compose.yml", composeYAML)
	if rancherYAML != "" {
		p.write("rancher-compose.yml", rancherYAML)
	}
	t.Cleanup(p.cleanup)
	return p
}

func (p *project) write(file, text string) {
	p.t.Helper()
	text = strings.ReplaceAll(text, "IMAGE", imageRepo)
	if err := os.WriteFile(filepath.Join(p.dir, file), []byte(text), 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// cleanup removes the project's containers, networks, volumes and images,
// whatever drover left.
func (p *project) cleanup() {
	ctx := context.Background()
	label := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+p.name))
	cs, _ := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: label})
	// A run the test killed leaves the project's lease behind; it carries
	// no Compose label.
	leases, _ := docker.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "io.drover.lease="+p.name))})
	for _, c := range append(cs, leases...) {
		_ = docker.ContainerRemove(ctx, c.ID, container.RemoveOptions{Force: true, RemoveVolumes: true})
	}
	ns, _ := docker.NetworkList(ctx, network.ListOptions{Filters: label})
	for _, n := range ns {
		_ = docker.NetworkRemove(ctx, n.ID)
	}
	vs, _ := docker.VolumeList(ctx, volume.ListOptions{Filters: label})
	for _, v := range vs.Volumes {
		_ = docker.VolumeRemove(ctx, v.Name, true)
	}
	for _, c := range p.builtImages {
		removeImages(c)
	}
	// What a build leaves behind carries the project's label, and the
	// project name is this test's alone.
	imgs, _ := docker.ImageList(ctx, image.ListOptions{All: true, Filters: label})
	for _, img := range imgs {
		_, _ = docker.ImageRemove(ctx, img.ID, image.RemoveOptions{Force: true, PruneChildren: true})
	}
}

// result is what one drover run printed and how it ended.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// drover runs the binary in the project directory with -p set.
func (p *project) drover(args ...string) result {
	p.t.Helper()
	return p.droverEnv(nil, append([]string{"-p", p.name}, args...)...)
}

func (p *project) droverEnv(env []string, args ...string) result {
	p.t.Helper()
	cmd := exec.Command(droverBin, args...)
	cmd.Dir = p.dir
	cmd.Env = append(cleanEnviron(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		p.t.Fatalf("running drover: %v", err)
	}
	return r
}

// mustDrover runs drover and fails the test unless it exits 0.
func (p *project) mustDrover(args ...string) result {
	p.t.Helper()
	r := p.drover(args...)
	if r.code != 0 {
		p.t.Fatalf("drover %s failed:\n%s", strings.Join(args, " "), r)
	}
	return r
}

func cleanEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "COMPOSE_") {
			env = append(env, kv)
		}
	}
	return env
}

// containers lists the project's containers, kept ones included: its
// services' and its front proxy, but not the proxy's launcher, which only
// opens the proxy's ports on the host (allContainers has it).
func (p *project) containers() []container.Summary {
	p.t.Helper()
	var out []container.Summary
	for _, c := range p.allContainers() {
		if _, launcher := c.Labels["io.drover.proxy-ports"]; !launcher || c.Labels["io.drover.proxy"] != "" {
			out = append(out, c)
		}
	}
	return out
}

// allContainers lists every container with the project's label.
func (p *project) allContainers() []container.Summary {
	p.t.Helper()
	cs, err := docker.ContainerList(context.Background(), container.ListOptions{All: true,
		Filters: filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+p.name))})
	if err != nil {
		p.t.Fatal(err)
	}
	return cs
}

// isProxyPart reports whether a container is the project's front proxy or
// its launcher (which opens the proxy's ports on the host).
func isProxyPart(labels map[string]string) bool {
	_, proxy := labels["io.drover.proxy"]
	_, launcher := labels["io.drover.proxy-ports"]
	return proxy || launcher
}

// ids maps container name to ID.
func (p *project) ids() map[string]string {
	out := map[string]string{}
	for _, c := range p.containers() {
		out[strings.TrimPrefix(c.Names[0], "/")] = c.ID
	}
	return out
}

// leftovers lists what the project has on the engine, for tests that expect
// nothing.
func (p *project) leftovers() []string {
	ctx := context.Background()
	label := filters.NewArgs(filters.Arg("label", "com.docker.compose.project="+p.name))
	var out []string
	for _, c := range p.allContainers() {
		out = append(out, "container "+c.Names[0])
	}
	ns, _ := docker.NetworkList(ctx, network.ListOptions{Filters: label})
	for _, n := range ns {
		out = append(out, "network "+n.Name)
	}
	vs, _ := docker.VolumeList(ctx, volume.ListOptions{Filters: label})
	for _, v := range vs.Volumes {
		out = append(out, "volume "+v.Name)
	}
	if nets, _ := docker.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("name", p.name+"_"))}); len(nets) > 0 {
		out = append(out, "network named "+nets[0].Name)
	}
	return out
}

// needDockerCompose skips a test that checks drover against docker-compose
// when it is not installed. .ci/run installs it, so CI runs these tests.
func needDockerCompose(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("docker-compose"); err != nil {
		t.Skip("docker-compose is not installed (Debian's docker-compose package, Compose 1.29; .ci/run installs it): " + err.Error())
	}
}

// freePort finds a loopback port nobody listens on.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// get fetches a URL on loopback and returns the body. Its connection is
// closed after the answer: an idle keep-alive connection left in a pool
// would hold the front proxy's drain of that container (TCP mode) for the
// whole drain timeout at the next upgrade.
func get(t *testing.T, url string) string {
	t.Helper()
	c := http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	var lastErr error
	for i := 0; i < 20; i++ {
		resp, err := c.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return string(body)
		}
		lastErr = err
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return ""
}

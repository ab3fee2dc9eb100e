package tests

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/registry"
	"golang.org/x/crypto/bcrypt"
)

// registryPackage is the Debian package that provides the registry binary;
// .ci/run installs it.
const registryPackage = "docker-registry"

// localRegistry is a registry (the CNCF distribution registry that Debian
// packages as docker-registry) run as a plain process on 127.0.0.1 with its
// storage in a temporary directory. The engine treats 127.0.0.0/8 as an
// insecure registry by default, so it pushes and pulls over plain HTTP.
type localRegistry struct {
	Addr string // 127.0.0.1:PORT, the prefix of its image references
	// User and Password are set when the registry asks for them (htpasswd).
	User, Password string
	cmd            *exec.Cmd
	dir            string
}

var registries struct {
	sync.Mutex
	open   map[string]*localRegistry // by kind: "plain", "auth"
	failed map[string]error
}

// startRegistry returns the test run's registry, starting it on first use;
// stopRegistries (at the end of the run) stops it and removes its storage
// and every local image tagged with its address. The test is skipped when
// the registry binary is not installed.
func startRegistry(t *testing.T) *localRegistry {
	t.Helper()
	return sharedRegistry(t, "plain", "", "")
}

// startAuthRegistry returns the test run's registry that asks for a user
// and password (htpasswd, basic auth over plain HTTP on 127.0.0.1).
func startAuthRegistry(t *testing.T) *localRegistry {
	t.Helper()
	return sharedRegistry(t, "auth", "drover", "s3cret-"+randomHex(6))
}

func sharedRegistry(t *testing.T, kind, user, password string) *localRegistry {
	t.Helper()
	bin, err := exec.LookPath(registryPackage)
	if err != nil {
		t.Skipf("needs a local registry: Debian's %s package is not installed (.ci/run installs it): %v", registryPackage, err)
	}
	registries.Lock()
	defer registries.Unlock()
	if r := registries.open[kind]; r != nil {
		return r
	}
	if err := registries.failed[kind]; err != nil {
		t.Fatal(err)
	}
	r, err := runRegistry(bin, user, password)
	if err != nil {
		if registries.failed == nil {
			registries.failed = map[string]error{}
		}
		registries.failed[kind] = err
		t.Fatal(err)
	}
	if registries.open == nil {
		registries.open = map[string]*localRegistry{}
	}
	registries.open[kind] = r
	return r
}

func runRegistry(bin, user, password string) (*localRegistry, error) {
	dir, err := os.MkdirTemp("", "drover-registry-")
	if err != nil {
		return nil, err
	}
	r := &localRegistry{dir: dir, User: user, Password: password}
	port, err := freeLoopbackPort()
	if err != nil {
		return nil, err
	}
	r.Addr = fmt.Sprintf("127.0.0.1:%d", port)
	auth := ""
	if user != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
			return nil, err
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: drover-test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	config := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
%s`, filepath.Join(dir, "storage"), r.Addr, auth)
	configFile := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "log"))
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	r.cmd = exec.Command(bin, "serve", configFile)
	r.cmd.Stdout, r.cmd.Stderr = logFile, logFile
	if err := r.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get("http://" + r.Addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return r, nil
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			r.stop()
			return nil, fmt.Errorf("the registry on %s did not answer within 10s (%v); its log:\n%s", r.Addr, err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopRegistries stops the run's registries, removes their storage and the
// local images tagged with their addresses.
func stopRegistries() {
	registries.Lock()
	defer registries.Unlock()
	for _, r := range registries.open {
		r.removeLocalImages()
		r.stop()
	}
	registries.open = nil
}

func (r *localRegistry) stop() {
	if r.cmd != nil && r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
		_ = r.cmd.Wait()
	}
	_ = os.RemoveAll(r.dir)
}

// removeLocalImages removes every local reference to the registry, by
// either of its names: tags, and the digests a pull or push left (an image
// is only deleted once none refers to it).
func (r *localRegistry) removeLocalImages() {
	ctx := context.Background()
	other := strings.Replace(r.Addr, "127.0.0.1:", "localhost:", 1)
	list, _ := docker.ImageList(ctx, image.ListOptions{All: true})
	for _, img := range list {
		for _, ref := range append(img.RepoTags, img.RepoDigests...) {
			if strings.HasPrefix(ref, r.Addr+"/") || strings.HasPrefix(ref, other+"/") {
				_, _ = docker.ImageRemove(ctx, ref, image.RemoveOptions{PruneChildren: true})
			}
		}
	}
}

// Ref is the registry's reference for a repository path and tag.
func (r *localRegistry) Ref(repoTag string) string {
	return r.Addr + "/" + repoTag
}

// authHeader is the engine's X-Registry-Auth for this registry: its
// credentials, or none (the engine still wants the header on a push).
func (r *localRegistry) authHeader() string {
	b, _ := json.Marshal(registry.AuthConfig{Username: r.User, Password: r.Password, ServerAddress: r.Addr})
	return base64.URLEncoding.EncodeToString(b)
}

// Push tags a local image as REGISTRY/repoTag, pushes it, and removes the
// local tag again unless keep, so that a pull has something to do. It
// returns the pushed reference.
func (r *localRegistry) Push(t *testing.T, local, repoTag string, keep bool) string {
	t.Helper()
	ctx := context.Background()
	ref := r.Ref(repoTag)
	if err := docker.ImageTag(ctx, local, ref); err != nil {
		t.Fatalf("tag %s as %s: %v", local, ref, err)
	}
	rc, err := docker.ImagePush(ctx, ref, image.PushOptions{RegistryAuth: r.authHeader()})
	if err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	if err := streamError(rc); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
	if !keep {
		r.Untag(t, ref)
	}
	return ref
}

// PushFromElsewhere pushes a local image as repoTag the way another machine
// would: through the registry's other name (localhost:PORT, the same
// registry to it, another one to the engine), so that the engine's own
// REGISTRY/repoTag stays where it was.
func (r *localRegistry) PushFromElsewhere(t *testing.T, local, repoTag string) {
	t.Helper()
	other := *r
	other.Addr = strings.Replace(r.Addr, "127.0.0.1:", "localhost:", 1)
	other.Push(t, local, repoTag, false)
}

// Untag removes a local tag, and the image when no other tag holds it
// (with the untagged parents a build left, so that a pull downloads its
// layers again).
func (r *localRegistry) Untag(t *testing.T, ref string) {
	t.Helper()
	if _, err := docker.ImageRemove(context.Background(), ref, image.RemoveOptions{PruneChildren: true}); err != nil && !strings.Contains(err.Error(), "No such image") {
		t.Fatalf("untag %s: %v", ref, err)
	}
}

// streamError drains an engine progress stream and returns its error.
func streamError(rc io.ReadCloser) error {
	defer rc.Close()
	dec := json.NewDecoder(rc)
	for {
		var m struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != "" {
			return fmt.Errorf("%s", m.Error)
		}
	}
}

// imageID is the local ID of ref, or "" when the engine does not have it.
func imageID(t *testing.T, ref string) string {
	t.Helper()
	img, err := docker.ImageInspect(context.Background(), ref)
	if err != nil {
		return ""
	}
	return img.ID
}

// TestRegistryHarness checks the harness itself: an image pushed to the
// local registry and untagged here comes back by a pull with the same ID;
// the engine pushes to the registry that asks for a password over plain
// HTTP on 127.0.0.1 (no TLS needed there).
func TestRegistryHarness(t *testing.T) {
	startAuthRegistry(t).Push(t, imageRepo+":v1", "harness/hello:v1", false)
	r := startRegistry(t)
	ref := r.Push(t, imageRepo+":v1", "harness/hello:v1", false)
	if id := imageID(t, ref); id != "" {
		t.Fatalf("%s is still tagged here after Push without keep", ref)
	}
	rc, err := docker.ImagePull(context.Background(), ref, image.PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := streamError(rc); err != nil {
		t.Fatal(err)
	}
	if got, want := imageID(t, ref), imageID(t, imageRepo+":v1"); got != want {
		t.Fatalf("pulled %s has ID %s, pushed %s", ref, got, want)
	}
}

// freeLoopbackPort finds a loopback port nobody listens on.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

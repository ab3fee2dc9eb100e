package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/drover/drover/reconcile"
)

// proxyDockerfile runs drover's own binary; the command (proxy serve ...)
// comes with the container.
const proxyDockerfile = "FROM scratch\nCOPY drover /drover\nENTRYPOINT [\"/drover\"]\n"

// BuildProxyImage builds the front proxy's image from the running drover
// binary (or, for an engine of another platform, the release's binary for
// it: ProxyBinary), which must be statically linked: the image has nothing
// else.
func (d *Docker) BuildProxyImage(ctx context.Context, tag string) error {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding drover's own binary: %w", err)
	}
	srv, err := d.Server(ctx)
	if err != nil {
		return err
	}
	if self, err = ProxyBinary(self, srv.OS, srv.Arch); err != nil {
		return err
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		return fmt.Errorf("reading drover's own binary: %w", err)
	}
	if err := static(self); err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{{"Dockerfile", 0o644, []byte(proxyDockerfile)}, {"drover", 0o755, bin}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := d.c.ImageBuild(ctx, &buf, build.ImageBuildOptions{Tags: []string{tag}, Remove: true, ForceRemove: true,
		Labels: map[string]string{"io.drover.proxy-image": tag}})
	if err != nil {
		return fmt.Errorf("building %s: %w", tag, err)
	}
	defer resp.Body.Close()
	if err := jsonStreamError(resp.Body); err != nil {
		return fmt.Errorf("building %s: %w", tag, err)
	}
	return nil
}

// ProxyImage tags the proxy's image with drover's version and the digest of
// the running binary, read once: a rebuilt drover builds its own proxy
// rather than run an older one under the same version.
func (d *Docker) ProxyImage() string {
	d.proxyTag.Do(func() {
		d.proxyImage = reconcile.ProxyImage
		self, err := os.Executable()
		if err != nil {
			return
		}
		f, err := os.Open(self)
		if err != nil {
			return
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err == nil {
			d.proxyImage += "-" + hex.EncodeToString(h.Sum(nil))[:12]
		}
	})
	return d.proxyImage
}

// static refuses a dynamically linked binary, which could not run in an
// image that holds nothing else.
func static(path string) error {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("reading drover's own binary: %w", err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("the front proxy runs drover's own binary in an empty image, but %s is dynamically linked: build drover with CGO_ENABLED=0 (make build does)", path)
		}
	}
	return nil
}

// Exec runs a command in a running container with stdin as its input and
// returns its standard output; a non-zero exit is an error carrying its
// standard error.
func (d *Docker) Exec(ctx context.Context, ref string, cmd []string, stdin []byte) ([]byte, error) {
	created, err := d.c.ContainerExecCreate(ctx, ref, container.ExecOptions{Cmd: cmd, AttachStdin: true, AttachStdout: true, AttachStderr: true})
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", ref, err)
	}
	att, err := d.c.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return nil, fmt.Errorf("exec in %s: POST /exec/%s/start: %w", ref, created.ID, err)
	}
	defer att.Close()
	if _, err := att.Conn.Write(stdin); err != nil {
		return nil, fmt.Errorf("exec in %s: writing its input: %w", ref, err)
	}
	if err := att.CloseWrite(); err != nil {
		return nil, fmt.Errorf("exec in %s: %w", ref, err)
	}
	var out, errOut bytes.Buffer
	if _, err := stdcopy.StdCopy(&out, &errOut, att.Reader); err != nil {
		return nil, fmt.Errorf("exec in %s: POST /exec/%s/start: reading its output: %w", ref, created.ID, err)
	}
	info, err := d.c.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return nil, fmt.Errorf("exec in %s: %w", ref, err)
	}
	if info.ExitCode != 0 {
		return out.Bytes(), fmt.Errorf("%s in %s exited with status %d: %s", strings.Join(cmd, " "), ref, info.ExitCode, strings.TrimSpace(errOut.String()))
	}
	return out.Bytes(), nil
}

package engine

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/client"

	"github.com/drover/drover/lease"
)

// LeaseImage is the image lease containers are created from: no layers, a
// command that does not exist (the container is never started; started by
// hand, it fails at once and, never having run, is not restarted). It is
// loaded on demand from a tarball made here, so it needs no registry, and
// its ID is the same wherever drover loads it.
const LeaseImage = "drover-lease:1"

// Leases is the lease store on this engine: a lease is a container named
// lease.Name(project), created and never started, labelled with its holder.
// Creating a container is atomic on its name (the engine reserves names
// under a lock; of eight creates at once, one succeeds and seven get a
// conflict, checked on 20.10), which networks are not (eight network
// creates of one name at once all succeed there) and volumes cannot be (a
// create of an existing volume returns it). The heartbeat is the only field
// of a container the engine lets one change after creation that has no
// effect on a container that never runs: the restart policy's
// MaximumRetryCount, in milliseconds.
type Leases struct{ d *Docker }

// Leases returns the engine's lease store.
func (d *Docker) Leases() Leases { return Leases{d: d} }

var _ lease.Store = Leases{}

// Create makes the project's lease container, loading the lease image
// first if the engine lacks it (or if it went between load and create).
func (l Leases) Create(ctx context.Context, project string, labels map[string]string) (string, error) {
	cfg := &container.Config{Image: LeaseImage, Labels: labels}
	host := &container.HostConfig{
		NetworkMode:   "none",
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyOnFailure},
	}
	var lastErr error
	for range 3 {
		resp, err := l.d.c.ContainerCreate(ctx, cfg, host, nil, nil, lease.Name(project))
		switch {
		case err == nil:
			return resp.ID, nil
		case cerrdefs.IsConflict(err):
			return "", lease.ErrTaken
		case !cerrdefs.IsNotFound(err):
			return "", fmt.Errorf("creating container %s: %w", lease.Name(project), err)
		}
		lastErr = err
		if err := l.d.loadLeaseImage(ctx); err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("creating container %s: %w", lease.Name(project), lastErr)
}

// Inspect reads the project's lease container.
func (l Leases) Inspect(ctx context.Context, project string) (lease.Lease, error) {
	info, err := l.d.c.ContainerInspect(ctx, lease.Name(project))
	if cerrdefs.IsNotFound(err) {
		return lease.Lease{}, lease.ErrGone
	}
	if err != nil {
		return lease.Lease{}, fmt.Errorf("inspecting container %s: %w", lease.Name(project), err)
	}
	var labels map[string]string
	if info.Config != nil {
		labels = info.Config.Labels
	}
	out, err := lease.FromLabels(project, labels)
	if err != nil {
		return lease.Lease{}, err
	}
	out.ID = info.ID
	if out.Created, err = time.Parse(time.RFC3339Nano, info.Created); err != nil {
		return lease.Lease{}, fmt.Errorf("container %s: creation time %q: %w", lease.Name(project), info.Created, err)
	}
	if info.HostConfig != nil {
		out.Renewed = time.Duration(info.HostConfig.RestartPolicy.MaximumRetryCount) * time.Millisecond
	}
	return out, nil
}

// Now is the engine's clock.
func (l Leases) Now(ctx context.Context) (time.Time, error) {
	info, err := l.d.c.Info(ctx)
	if err != nil {
		return time.Time{}, fmt.Errorf("engine info: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, info.SystemTime)
	if err != nil {
		return time.Time{}, fmt.Errorf("engine info: system time %q: %w", info.SystemTime, err)
	}
	return t, nil
}

// Renew writes the heartbeat into the lease container of that ID.
func (l Leases) Renew(ctx context.Context, id string, renewed time.Duration) error {
	_, err := l.d.c.ContainerUpdate(ctx, id, container.UpdateConfig{RestartPolicy: container.RestartPolicy{
		Name: container.RestartPolicyOnFailure, MaximumRetryCount: int(renewed.Milliseconds()),
	}})
	if cerrdefs.IsNotFound(err) {
		return lease.ErrGone
	}
	if err != nil {
		return fmt.Errorf("renewing lease container %.12s: %w", id, err)
	}
	return nil
}

// Remove removes the lease container of that ID.
func (l Leases) Remove(ctx context.Context, id string) error {
	err := l.d.c.ContainerRemove(ctx, id, container.RemoveOptions{Force: true})
	if cerrdefs.IsNotFound(err) {
		return lease.ErrGone
	}
	if err != nil {
		return fmt.Errorf("removing lease container %.12s: %w", id, err)
	}
	return nil
}

// loadLeaseImage loads LeaseImage. Two runs loading it at once load the
// same image (same config, same ID), so neither leaves a dangling one.
func (d *Docker) loadLeaseImage(ctx context.Context) error {
	resp, err := d.c.ImageLoad(ctx, bytes.NewReader(leaseImageTar()), client.ImageLoadWithQuiet(true))
	if err != nil {
		return fmt.Errorf("loading image %s: %w", LeaseImage, err)
	}
	defer resp.Body.Close()
	if err := jsonStreamError(resp.Body); err != nil {
		return fmt.Errorf("loading image %s: %w", LeaseImage, err)
	}
	return nil
}

// leaseImageTar is LeaseImage as docker save writes it: a manifest and an
// image config, no layers. The config is fixed (even its creation date), so
// the image ID is too.
func leaseImageTar() []byte {
	cfg, _ := json.Marshal(map[string]any{
		"os": "linux", "architecture": "amd64", "created": "2000-01-01T00:00:00Z",
		"config": map[string]any{
			"Cmd":    []string{"/drover-lease-is-never-started"},
			"Labels": map[string]string{"io.drover.lease.image": "1"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{}},
	})
	sum := sha256.Sum256(cfg)
	cfgName := hex.EncodeToString(sum[:]) + ".json"
	manifest, _ := json.Marshal([]map[string]any{{"Config": cfgName, "RepoTags": []string{LeaseImage}, "Layers": []string{}}})
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range []struct {
		name string
		data []byte
	}{{cfgName, cfg}, {"manifest.json", manifest}} {
		_ = tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg, ModTime: time.Unix(946684800, 0)})
		_, _ = tw.Write(f.data)
	}
	_ = tw.Close()
	return b.Bytes()
}

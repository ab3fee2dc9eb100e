// Package engine talks to a Docker engine through its API: it implements
// reconcile.Engine, and the few reads the command line needs beyond it
// (logs). It makes no decisions.
package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/image"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/volume"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/jsonmessage"
	archive "github.com/moby/go-archive"
	"github.com/moby/patternmatcher/ignorefile"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/drover/drover/reconcile"
)

// Docker is a reconcile.Engine backed by the Docker API.
type Docker struct {
	c *client.Client
	// proxyImage is computed once, on first use (ProxyImage).
	proxyTag   sync.Once
	proxyImage string
	// The Docker CLI's configuration, read on first use (registryAuth).
	authOnce sync.Once
	authFile *configfile.ConfigFile
	authErr  error
}

// Connect makes a client from the environment (DOCKER_HOST and friends)
// and the endpoint's options (a docker context's host and TLS, which come
// after the environment's), negotiates the API version and checks that the engine answers. Each call
// is bounded in time and the safe ones are repeated (transport.go).
func Connect(ctx context.Context, endpoint ...client.Opt) (*Docker, error) {
	timeout, err := EngineTimeout()
	if err != nil {
		return nil, err
	}
	opts := append([]client.Opt{client.FromEnv}, endpoint...)
	opts = append(opts, client.WithAPIVersionNegotiation(), withFaultTolerance(timeout))
	c, err := client.NewClientWithOpts(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker client: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := c.Ping(pingCtx); err != nil {
		c.Close()
		return nil, fmt.Errorf("cannot reach the Docker engine at %s: %w", c.DaemonHost(), err)
	}
	c.NegotiateAPIVersion(ctx)
	return &Docker{c: c}, nil
}

// Close releases the client.
func (d *Docker) Close() error { return d.c.Close() }

// Host names the engine, for keying locks.
func (d *Docker) Host() string { return d.c.DaemonHost() }

// APIVersion is the negotiated API version.
func (d *Docker) APIVersion() string { return d.c.ClientVersion() }

func (d *Docker) ListContainers(ctx context.Context, project string) ([]reconcile.Container, error) {
	list, err := d.c.ContainerList(ctx, container.ListOptions{
		All:     true,
		Filters: filters.NewArgs(filters.Arg("label", reconcile.LabelProject+"="+project)),
	})
	if err != nil {
		return nil, err
	}
	out := make([]reconcile.Container, 0, len(list))
	for _, s := range list {
		c := reconcile.Container{
			ID:       s.ID,
			Image:    s.Image,
			ImageID:  s.ImageID,
			State:    s.State,
			Health:   reconcile.HealthFromStatus(s.Status),
			ExitCode: reconcile.ExitCodeFromStatus(s.Status),
			Labels:   s.Labels,
			Created:  time.Unix(s.Created, 0).UTC(),
		}
		if len(s.Names) > 0 {
			c.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		for _, p := range s.Ports {
			c.Ports = append(c.Ports, reconcile.Port{HostIP: p.IP, HostPort: p.PublicPort, Port: p.PrivatePort, Protocol: p.Type})
		}
		reconcile.ContainerFromLabels(&c)
		if _, ok := c.Labels[reconcile.LabelRestart]; !ok {
			// Made by docker compose or an older drover: the policy is
			// only in the container's host config.
			info, err := d.c.ContainerInspect(ctx, s.ID)
			if err != nil && !errdefs.IsNotFound(err) {
				return nil, fmt.Errorf("inspecting %s: %w", c.Name, err)
			}
			if err == nil && info.HostConfig != nil {
				c.RestartPolicy = reconcile.FormatRestartPolicy(info.HostConfig.RestartPolicy)
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func (d *Docker) ListImages(ctx context.Context) (map[string]string, error) {
	list, err := d.c.ImageList(ctx, image.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, img := range list {
		// Every reference that names the image: its tags, its repo
		// digests, and its ID (tagged or not: a container may run it).
		out[img.ID] = img.ID
		for _, ref := range append(img.RepoTags, img.RepoDigests...) {
			if ref != "<none>:<none>" && ref != "<none>@<none>" {
				out[ref] = img.ID
			}
		}
	}
	return out, nil
}

func (d *Docker) ListNetworks(ctx context.Context) (map[string]bool, error) {
	list, err := d.c.NetworkList(ctx, network.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, n := range list {
		out[n.Name] = true
	}
	return out, nil
}

func (d *Docker) ListVolumes(ctx context.Context) (map[string]bool, error) {
	list, err := d.c.VolumeList(ctx, volume.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, v := range list.Volumes {
		out[v.Name] = true
	}
	return out, nil
}

// ProjectNetworks and ProjectVolumes list what carries the project's label,
// for down.
func (d *Docker) ProjectNetworks(ctx context.Context, project string) ([]string, error) {
	list, err := d.c.NetworkList(ctx, network.ListOptions{Filters: filters.NewArgs(filters.Arg("label", reconcile.LabelProject+"="+project))})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range list {
		out = append(out, n.Name)
	}
	return out, nil
}

func (d *Docker) ProjectVolumes(ctx context.Context, project string) ([]string, error) {
	list, err := d.c.VolumeList(ctx, volume.ListOptions{Filters: filters.NewArgs(filters.Arg("label", reconcile.LabelProject+"="+project))})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, v := range list.Volumes {
		out = append(out, v.Name)
	}
	return out, nil
}

func (d *Docker) RemoveNetwork(ctx context.Context, name string) error {
	return d.c.NetworkRemove(ctx, name)
}

func (d *Docker) RemoveVolume(ctx context.Context, name string) error {
	return d.c.VolumeRemove(ctx, name, false)
}

func (d *Docker) CreateNetwork(ctx context.Context, s reconcile.NetworkSpec) error {
	opts := network.CreateOptions{Driver: s.Driver, Options: s.Options, Labels: s.Labels, Internal: s.Internal, Attachable: s.Attachable}
	if s.EnableIPv6 {
		opts.EnableIPv6 = &s.EnableIPv6
	}
	_, err := d.c.NetworkCreate(ctx, s.Name, opts)
	return err
}

func (d *Docker) CreateVolume(ctx context.Context, s reconcile.VolumeSpec) error {
	_, err := d.c.VolumeCreate(ctx, volume.CreateOptions{Name: s.Name, Driver: s.Driver, DriverOpts: s.Options, Labels: s.Labels})
	return err
}

// BuildImage sends the build context (minus what .dockerignore excludes)
// to the engine's build API and reports the first build error.
func (d *Docker) BuildImage(ctx context.Context, s reconcile.BuildSpec) error {
	dockerfile := s.Dockerfile
	if dockerfile == "" {
		dockerfile = "Dockerfile"
	}
	excludes, err := readDockerignore(s.Context)
	if err != nil {
		return err
	}
	tar, err := archive.TarWithOptions(s.Context, &archive.TarOptions{ExcludePatterns: excludes})
	if err != nil {
		return fmt.Errorf("build context %s: %w", s.Context, err)
	}
	defer tar.Close()
	resp, err := d.c.ImageBuild(ctx, tar, build.ImageBuildOptions{
		Tags: []string{s.Tag}, Dockerfile: dockerfile, BuildArgs: s.Args, Target: s.Target,
		Labels: s.Labels, Remove: true, ForceRemove: true, NoCache: s.NoCache, PullParent: s.Pull,
	})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return jsonStreamError(resp.Body)
}

func readDockerignore(dir string) ([]string, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ignorefile.ReadAll(f)
}

// pullError says, in one line, whether the image is on this machine and
// whether a registry answered: "not on this machine, and no registry
// answered" is the common case of an image that was never built or pulled
// here, and the daemon's own words come after it, for the detail.
func (d *Docker) pullError(ctx context.Context, ref, user string, err error) error {
	cause := strings.TrimPrefix(err.Error(), "Error response from daemon: ")
	host := registryHost(ref)
	registry := "the registry " + host + " refused it"
	if unauthorized(cause) {
		return registryError(ref, user, err)
	}
	if unreachable(cause) {
		registry = "the registry " + host + " did not answer"
	} else if notFound(cause) {
		registry = "the registry " + host + " does not have it (or wants a login)"
	}
	if _, ierr := d.c.ImageInspect(ctx, ref); ierr == nil {
		return fmt.Errorf("%s: %s", registry, cause)
	}
	return fmt.Errorf("not on this machine, and %s: %s", registry, cause)
}

func unreachable(msg string) bool {
	for _, s := range []string{"dial tcp", "no such host", "connection refused", "i/o timeout", "TLS handshake timeout", "network is unreachable", "Client.Timeout"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func notFound(msg string) bool {
	for _, s := range []string{"manifest unknown", "not found", "pull access denied", "repository does not exist"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// jsonStreamError drains a build or pull progress stream and returns the
// error it carries, if any.
func jsonStreamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonmessage.JSONMessage
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != nil {
			return errors.New(strings.TrimSpace(m.Error.Message))
		}
	}
}

func (d *Docker) CreateContainer(ctx context.Context, req reconcile.CreateRequest) (string, error) {
	var platform *ocispec.Platform
	if req.Platform != "" {
		parts := strings.SplitN(req.Platform, "/", 3)
		platform = &ocispec.Platform{OS: parts[0]}
		if len(parts) > 1 {
			platform.Architecture = parts[1]
		}
		if len(parts) > 2 {
			platform.Variant = parts[2]
		}
	}
	resp, err := d.c.ContainerCreate(ctx, req.Config, req.HostConfig, req.Networking, platform, req.Name)
	if err != nil {
		return "", err
	}
	for _, name := range sortedNames(req.ExtraNetworks) {
		if err := d.c.NetworkConnect(ctx, name, resp.ID, req.ExtraNetworks[name]); err != nil {
			return resp.ID, fmt.Errorf("connecting to network %s: %w", name, err)
		}
	}
	if err := d.copyFiles(ctx, resp.ID, req.Files); err != nil {
		// A container without its configs must not be started by a later
		// run, which would take it for complete: remove it.
		if rmErr := d.c.ContainerRemove(ctx, resp.ID, container.RemoveOptions{Force: true}); rmErr != nil {
			return resp.ID, fmt.Errorf("%w (and removing the container: %v)", err, rmErr)
		}
		return "", err
	}
	return resp.ID, nil
}

func (d *Docker) StartContainer(ctx context.Context, ref string) error {
	return d.c.ContainerStart(ctx, ref, container.StartOptions{})
}

func (d *Docker) StopContainer(ctx context.Context, ref string, timeout *time.Duration) error {
	opts := container.StopOptions{}
	if timeout != nil {
		secs := int(timeout.Seconds())
		opts.Timeout = &secs
	}
	return d.c.ContainerStop(ctx, ref, opts)
}

func (d *Docker) RemoveContainer(ctx context.Context, ref string, volumes bool) error {
	return d.c.ContainerRemove(ctx, ref, container.RemoveOptions{RemoveVolumes: volumes, Force: true})
}

func (d *Docker) RenameContainer(ctx context.Context, ref, name string) error {
	return d.c.ContainerRename(ctx, ref, name)
}

func (d *Docker) SetRestartPolicy(ctx context.Context, ref, policy string) error {
	_, err := d.c.ContainerUpdate(ctx, ref, container.UpdateConfig{RestartPolicy: reconcile.ParseRestartPolicy(policy)})
	return err
}

func (d *Docker) InspectContainer(ctx context.Context, ref string) (reconcile.ContainerStatus, error) {
	info, err := d.c.ContainerInspect(ctx, ref)
	if err != nil {
		return reconcile.ContainerStatus{}, err
	}
	st := reconcile.ContainerStatus{Name: strings.TrimPrefix(info.Name, "/"), RestartCount: info.RestartCount}
	if info.State != nil {
		st.State = info.State.Status
		st.ExitCode = info.State.ExitCode
		if h := info.State.Health; h != nil {
			st.Health = h.Status
			if n := len(h.Log); n > 0 && h.Log[n-1].ExitCode != 0 {
				st.HealthLog = strings.TrimSpace(h.Log[n-1].Output)
			}
		}
	}
	return st, nil
}

// Logs streams a container's output, stdout and stderr multiplexed as the
// engine sends them (see stdcopy) unless the container has a TTY.
func (d *Docker) Logs(ctx context.Context, ref string, follow bool, tail string) (io.ReadCloser, bool, error) {
	info, err := d.c.ContainerInspect(ctx, ref)
	if err != nil {
		return nil, false, err
	}
	rc, err := d.c.ContainerLogs(ctx, ref, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow, Tail: tail})
	return rc, info.Config != nil && info.Config.Tty, err
}

func sortedNames[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}

package reconcile

import (
	"context"
	"fmt"
	"time"
)

// Engine is what drover needs of a container engine. The Docker client type
// in package engine implements it.
type Engine interface {
	Observer
	CreateNetwork(ctx context.Context, spec NetworkSpec) error
	CreateVolume(ctx context.Context, spec VolumeSpec) error
	BuildImage(ctx context.Context, spec BuildSpec) error
	// PullImage pulls ref from its registry, reporting how far it got.
	PullImage(ctx context.Context, ref string, progress func(Progress)) error
	// PushImage pushes ref to its registry, reporting how far it got.
	PushImage(ctx context.Context, ref string, progress func(Progress)) error
	// BuildProxyImage builds the front proxy's image out of drover's own
	// (statically linked) binary.
	BuildProxyImage(ctx context.Context, tag string) error
	// CreateContainer creates a container and attaches its extra networks;
	// it returns the container's ID.
	CreateContainer(ctx context.Context, req CreateRequest) (string, error)
	StartContainer(ctx context.Context, ref string) error
	// StopContainer stops gracefully: the stop signal, then after timeout
	// (nil: the container's own) a kill.
	StopContainer(ctx context.Context, ref string, timeout *time.Duration) error
	RemoveContainer(ctx context.Context, ref string, volumes bool) error
	RenameContainer(ctx context.Context, ref, name string) error
	// SetRestartPolicy changes a container's restart policy in place
	// (no, always, unless-stopped, on-failure[:N]).
	SetRestartPolicy(ctx context.Context, ref, policy string) error
	InspectContainer(ctx context.Context, ref string) (ContainerStatus, error)
	RemoveNetwork(ctx context.Context, name string) error
	// RunHook runs a lifecycle hook in a running container through the
	// exec API and returns its exit code and the last lines of its output
	// (stderr preferred); ErrNotRunning when the container does not run.
	RunHook(ctx context.Context, ref string, h Hook) (exitCode int, output string, err error)
	RemoveVolume(ctx context.Context, name string) error
}

// Progress is how far a pull or push of one image has got.
type Progress struct {
	Layers     int   `json:"layers"`
	LayersDone int   `json:"layers_done"`
	Bytes      int64 `json:"bytes"` // of the layers whose size is known so far
	BytesDone  int64 `json:"bytes_done"`
}

func (p Progress) String() string {
	return fmt.Sprintf("%d/%d layers, %s/%s", p.LayersDone, p.Layers, megabytes(p.BytesDone), megabytes(p.Bytes))
}

func megabytes(n int64) string {
	return fmt.Sprintf("%.1f MB", float64(n)/1e6)
}

// ContainerStatus is the live state of one container.
type ContainerStatus struct {
	Name     string
	State    string // created, running, exited ...
	Health   string // "" when the container has no health check
	ExitCode int
	// RestartCount is how many times the engine restarted it by its
	// restart policy.
	RestartCount int
	// HealthLog is the output of the last failed health probe, if any.
	HealthLog string
}

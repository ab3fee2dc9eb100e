package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/errdefs"

	"github.com/drover/drover/reconcile"
)

// InspectSpec reads what drover compares of a container another tool made:
// its configuration (one container inspect) and the defaults of the image it
// runs (one image inspect), since the engine has merged those into the
// container's and only the image tells them apart from what the service
// asked for. diff calls it only for containers without io.drover.spec.
func (d *Docker) InspectSpec(ctx context.Context, ref string) (reconcile.InspectedSpec, error) {
	info, err := d.c.ContainerInspect(ctx, ref)
	if err != nil {
		return reconcile.InspectedSpec{}, fmt.Errorf("inspecting container %s: %w", ref, err)
	}
	var nets map[string]*network.EndpointSettings
	if info.NetworkSettings != nil {
		nets = info.NetworkSettings.Networks
	}
	spec := reconcile.SpecFromConfig(info.Config, info.HostConfig, nets)
	img, err := d.c.ImageInspect(ctx, info.Image)
	switch {
	case errdefs.IsNotFound(err):
		// The image was removed under the container (docker rmi -f): no
		// defaults to tell apart, the comparison shows them as the
		// container's own.
		return spec, nil
	case err != nil:
		return reconcile.InspectedSpec{}, fmt.Errorf("inspecting image %s of container %s: %w", info.Image, strings.TrimPrefix(info.Name, "/"), err)
	}
	if c := img.Config; c != nil {
		spec.ImageDefaults = reconcile.ImageDefaults{
			Cmd: c.Cmd, Entrypoint: c.Entrypoint, Env: c.Env,
			WorkingDir: c.WorkingDir, User: c.User, Labels: c.Labels,
			Volumes: slices.Sorted(maps.Keys(c.Volumes)),
		}
		if h := c.Healthcheck; h != nil {
			spec.ImageDefaults.Healthcheck = &reconcile.SpecHealth{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, Retries: h.Retries}
		}
	}
	return spec, nil
}

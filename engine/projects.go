package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/drover/drover/reconcile"
)

// AllProjects lists every container that carries a Compose project label,
// whatever the project, in one list call: for drover ls, and to say which
// projects exist when one is asked for that does not.
func (d *Docker) AllProjects(ctx context.Context) ([]reconcile.Container, error) {
	list, err := d.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", reconcile.LabelProject))})
	if err != nil {
		return nil, fmt.Errorf("listing the engine's projects: %w", err)
	}
	out := make([]reconcile.Container, 0, len(list))
	for _, s := range list {
		c := reconcile.Container{ID: s.ID, Image: s.Image, State: s.State, Labels: s.Labels,
			Health: reconcile.HealthFromStatus(s.Status), ExitCode: reconcile.ExitCodeFromStatus(s.Status)}
		if len(s.Names) > 0 {
			c.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		reconcile.ContainerFromLabels(&c)
		out = append(out, c)
	}
	return out, nil
}

package engine

import (
	"context"
	"fmt"
	"io"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/docker/api/types/swarm"
	"github.com/docker/docker/errdefs"

	dswarm "github.com/drover/drover/swarm"
)

// The swarm.Cluster calls: a swarm manager's services, tasks, nodes,
// secrets and configs, over the same client (and the same bounded,
// retrying transport) as the single-engine calls.

var _ dswarm.Cluster = (*Docker)(nil)

func (d *Docker) SwarmState(ctx context.Context) (dswarm.State, error) {
	info, err := d.c.Info(ctx)
	if err != nil {
		return dswarm.State{}, err
	}
	return dswarm.State{
		Active:  info.Swarm.LocalNodeState == swarm.LocalNodeStateActive,
		Manager: info.Swarm.ControlAvailable,
		NodeID:  info.Swarm.NodeID,
	}, nil
}

func (d *Docker) Nodes(ctx context.Context) ([]swarm.Node, error) {
	return d.c.NodeList(ctx, swarm.NodeListOptions{})
}

func (d *Docker) Services(ctx context.Context, project string) ([]swarm.Service, error) {
	return d.c.ServiceList(ctx, swarm.ServiceListOptions{Filters: filters.NewArgs(filters.Arg("label", dswarm.LabelNamespace+"="+project))})
}

func (d *Docker) Tasks(ctx context.Context, serviceIDs []string) ([]swarm.Task, error) {
	args := filters.NewArgs()
	for _, id := range serviceIDs {
		args.Add("service", id)
	}
	tasks, err := d.c.TaskList(ctx, swarm.TaskListOptions{Filters: args})
	if errdefs.IsNotFound(err) {
		return nil, nil // a service removed has no tasks left
	}
	return tasks, err
}

func (d *Docker) ServiceContainers(ctx context.Context, serviceID string) (int, error) {
	list, err := d.c.ContainerList(ctx, container.ListOptions{All: true, Filters: filters.NewArgs(filters.Arg("label", "com.docker.swarm.service.id="+serviceID))})
	return len(list), err
}

func (d *Docker) InspectService(ctx context.Context, id string) (swarm.Service, error) {
	s, _, err := d.c.ServiceInspectWithRaw(ctx, id, swarm.ServiceInspectOptions{})
	return s, err
}

func (d *Docker) CreateService(ctx context.Context, spec swarm.ServiceSpec) (string, error) {
	resp, err := d.c.ServiceCreate(ctx, spec, swarm.ServiceCreateOptions{})
	return resp.ID, err
}

func (d *Docker) UpdateService(ctx context.Context, id string, version uint64, spec swarm.ServiceSpec, rollback bool) error {
	opts := swarm.ServiceUpdateOptions{}
	if rollback {
		// The engine takes the previous spec itself; the spec sent must
		// still be the current one.
		cur, _, err := d.c.ServiceInspectWithRaw(ctx, id, swarm.ServiceInspectOptions{})
		if err != nil {
			return err
		}
		if cur.Version.Index != version {
			return fmt.Errorf("service %s changed since it was read (version %d, now %d): run again", id, version, cur.Version.Index)
		}
		spec, opts.Rollback = cur.Spec, "previous"
	}
	_, err := d.c.ServiceUpdate(ctx, id, swarm.Version{Index: version}, spec, opts)
	return err
}

func (d *Docker) RemoveService(ctx context.Context, id string) error {
	return d.c.ServiceRemove(ctx, id)
}

func (d *Docker) CreateOverlay(ctx context.Context, name string, labels map[string]string, attachable bool) error {
	_, err := d.c.NetworkCreate(ctx, name, network.CreateOptions{Driver: "overlay", Attachable: attachable, Labels: labels})
	return err
}

func (d *Docker) Objects(ctx context.Context, kind string) (map[string]string, error) {
	return d.objects(ctx, kind, filters.NewArgs())
}

func (d *Docker) ProjectObjects(ctx context.Context, kind, project string) (map[string]string, error) {
	return d.objects(ctx, kind, filters.NewArgs(filters.Arg("label", dswarm.LabelNamespace+"="+project)))
}

func (d *Docker) objects(ctx context.Context, kind string, f filters.Args) (map[string]string, error) {
	out := map[string]string{}
	switch kind {
	case "secret":
		list, err := d.c.SecretList(ctx, swarm.SecretListOptions{Filters: f})
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			out[s.Spec.Name] = s.ID
		}
	case "config":
		list, err := d.c.ConfigList(ctx, swarm.ConfigListOptions{Filters: f})
		if err != nil {
			return nil, err
		}
		for _, c := range list {
			out[c.Spec.Name] = c.ID
		}
	default:
		return nil, fmt.Errorf("unknown object kind %q", kind)
	}
	return out, nil
}

func (d *Docker) CreateObject(ctx context.Context, kind, name string, labels map[string]string, data []byte) (string, error) {
	ann := swarm.Annotations{Name: name, Labels: labels}
	switch kind {
	case "secret":
		resp, err := d.c.SecretCreate(ctx, swarm.SecretSpec{Annotations: ann, Data: data})
		return resp.ID, err
	case "config":
		resp, err := d.c.ConfigCreate(ctx, swarm.ConfigSpec{Annotations: ann, Data: data})
		return resp.ID, err
	}
	return "", fmt.Errorf("unknown object kind %q", kind)
}

func (d *Docker) RemoveObject(ctx context.Context, kind, id string) error {
	switch kind {
	case "secret":
		return d.c.SecretRemove(ctx, id)
	case "config":
		return d.c.ConfigRemove(ctx, id)
	}
	return fmt.Errorf("unknown object kind %q", kind)
}

// ServiceLogs streams a service's logs (multiplexed: no service has a TTY
// here unless its file asks for one).
func (d *Docker) ServiceLogs(ctx context.Context, id string, follow bool, tail string) (io.ReadCloser, error) {
	return d.c.ServiceLogs(ctx, id, container.LogsOptions{ShowStdout: true, ShowStderr: true, Follow: follow, Tail: tail, Details: false})
}

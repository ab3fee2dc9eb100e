package swarm

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/swarm"

	"github.com/drover/drover/reconcile"
)

// Cluster is what the adapter needs of a swarm manager; engine.Docker
// implements it over the Docker API.
type Cluster interface {
	// SwarmState says whether the engine is a manager of an active swarm.
	SwarmState(ctx context.Context) (State, error)
	Nodes(ctx context.Context) ([]swarm.Node, error)
	// Services lists the services labelled with the project's namespace.
	Services(ctx context.Context, project string) ([]swarm.Service, error)
	// Tasks lists the tasks of the services named.
	Tasks(ctx context.Context, serviceIDs []string) ([]swarm.Task, error)
	// ServiceContainers counts the containers of a service's tasks on the
	// manager's node, whatever their state.
	ServiceContainers(ctx context.Context, serviceID string) (int, error)
	InspectService(ctx context.Context, id string) (swarm.Service, error)
	CreateService(ctx context.Context, spec swarm.ServiceSpec) (string, error)
	// UpdateService replaces a service's spec at that version; with
	// rollback, Swarm's previous spec comes back instead (spec unused).
	UpdateService(ctx context.Context, id string, version uint64, spec swarm.ServiceSpec, rollback bool) error
	RemoveService(ctx context.Context, id string) error
	ListNetworks(ctx context.Context) (map[string]bool, error)
	CreateOverlay(ctx context.Context, name string, labels map[string]string, attachable bool) error
	RemoveNetwork(ctx context.Context, name string) error
	ProjectNetworks(ctx context.Context, project string) ([]string, error)
	ProjectVolumes(ctx context.Context, project string) ([]string, error)
	RemoveVolume(ctx context.Context, name string) error
	ListImages(ctx context.Context) (map[string]string, error)
	// Objects maps the names of the swarm's secrets (kind "secret") or
	// configs to their IDs.
	Objects(ctx context.Context, kind string) (map[string]string, error)
	// ProjectObjects lists the names of the project's secrets or configs.
	ProjectObjects(ctx context.Context, kind, project string) (map[string]string, error)
	CreateObject(ctx context.Context, kind, name string, labels map[string]string, data []byte) (string, error)
	RemoveObject(ctx context.Context, kind, id string) error
}

// State is the engine's place in a swarm.
type State struct {
	Active  bool // the engine is in a swarm
	Manager bool // and may change it
	NodeID  string
}

// Observed is what a swarm runs of one project.
type Observed struct {
	Project  string
	Nodes    []swarm.Node
	Services map[string]Service // by compose service name
	Tasks    []Task
	Networks map[string]bool   // every network name on the manager
	Images   map[string]string // tag, repo digest or ID -> image ID on the manager's node
	Secrets  map[string]string // name -> ID
	Configs  map[string]string
}

// ImageID is the ID of the image a reference names on the manager's node,
// "" when it has none. The engine lists tags in their familiar form with
// the tag (hello:latest, not hello or docker.io/library/hello), so the
// reference is looked up in that form, as on one engine.
func (o Observed) ImageID(ref string) string {
	return o.Images[reconcile.NormalizeRef(ref)]
}

// Pushed says whether the image a reference names on the manager's node
// has been in the reference's repository. The engine lists an image's repo
// digests (repo@sha256:...) with its tags: it records one for a
// repository it pushed the image to or pulled it from, and none for an
// image built, loaded or tagged here, whatever the name says. So a tag
// moved to another image since its push names an image without that
// digest, and a digest of another repository (the same image pushed under
// another name) does not count.
func (o Observed) Pushed(ref string) bool {
	id := o.ImageID(ref)
	named, err := reference.ParseNormalizedNamed(ref)
	if id == "" || err != nil {
		return false
	}
	for r, rid := range o.Images {
		repo, _, digested := strings.Cut(r, "@")
		if rid != id || !digested {
			continue
		}
		if d, err := reference.ParseNormalizedNamed(repo); err == nil && d.Name() == named.Name() {
			return true
		}
	}
	return false
}

// Service is one Swarm service of the project, with what drover reads from
// its labels.
type Service struct {
	ID       string
	Name     string // <project>_<service>
	Service  string
	Version  uint64
	Spec     swarm.ServiceSpec
	Previous *swarm.ServiceSpec
	Update   *swarm.UpdateStatus
	Revision int
	// PreviousRevision is the revision of Swarm's previous spec, 0 when
	// there is none.
	PreviousRevision int
	Confirmed        bool // the current revision's upgrade was confirmed
	Hash             string
	ImageID          string
}

// Replicas is the number of tasks the service asks for; -1 for a global
// service (one per eligible node).
func (s Service) Replicas() int {
	if r := s.Spec.Mode.Replicated; r != nil && r.Replicas != nil {
		return int(*r.Replicas)
	}
	return -1
}

// Task is one task of a project service.
type Task struct {
	ID       string
	Service  string // compose service name
	Slot     int
	NodeID   string
	Node     string // the node's hostname
	Revision int
	Image    string
	State    swarm.TaskState
	Desired  swarm.TaskState
	Err      string
	Message  string
}

// Name is the task as docker service ps shows it: web.2, or web.<node> for
// a global service.
func (t Task) Name() string {
	if t.Slot == 0 {
		return t.Service + "." + t.Node
	}
	return fmt.Sprintf("%s.%d", t.Service, t.Slot)
}

// Running says whether the task runs (and, with a health check, is
// healthy: Swarm reports running only then).
func (t Task) Running() bool { return t.State == swarm.TaskStateRunning }

// Observe reads the project from the swarm: its services, their tasks, the
// nodes, the networks, secrets and configs, and the manager's images.
func Observe(ctx context.Context, c Cluster, project string) (Observed, error) {
	obs := Observed{Project: project, Services: map[string]Service{}}
	var err error
	if obs.Nodes, err = c.Nodes(ctx); err != nil {
		return obs, err
	}
	svcs, err := c.Services(ctx, project)
	if err != nil {
		return obs, err
	}
	var ids []string
	byID := map[string]string{}
	for _, s := range svcs {
		o := observeService(s)
		if o.Service == "" {
			continue // labelled for the stack by another tool: not drover's
		}
		obs.Services[o.Service] = o
		ids = append(ids, s.ID)
		byID[s.ID] = o.Service
	}
	if len(ids) > 0 {
		tasks, err := c.Tasks(ctx, ids)
		if err != nil {
			return obs, err
		}
		obs.Tasks = observeTasks(tasks, byID, obs.Nodes)
	}
	if obs.Networks, err = c.ListNetworks(ctx); err != nil {
		return obs, err
	}
	if obs.Images, err = c.ListImages(ctx); err != nil {
		return obs, err
	}
	if obs.Secrets, err = c.Objects(ctx, "secret"); err != nil {
		return obs, err
	}
	if obs.Configs, err = c.Objects(ctx, "config"); err != nil {
		return obs, err
	}
	return obs, nil
}

func observeService(s swarm.Service) Service {
	l := s.Spec.Labels
	o := Service{
		ID: s.ID, Name: s.Spec.Name, Service: l[reconcile.LabelService], Version: s.Version.Index,
		Spec: s.Spec, Previous: s.PreviousSpec, Update: s.UpdateStatus,
		Hash: l[reconcile.LabelConfigHash],
	}
	o.Revision, _ = strconv.Atoi(l[reconcile.LabelRevision])
	o.Confirmed = l[LabelConfirmed] != "" && l[LabelConfirmed] == l[reconcile.LabelRevision]
	if cs := s.Spec.TaskTemplate.ContainerSpec; cs != nil {
		o.ImageID = cs.Labels[LabelImageID]
	}
	if s.PreviousSpec != nil {
		o.PreviousRevision, _ = strconv.Atoi(s.PreviousSpec.Labels[reconcile.LabelRevision])
	}
	return o
}

func observeTasks(tasks []swarm.Task, byID map[string]string, nodes []swarm.Node) []Task {
	hostname := map[string]string{}
	for _, n := range nodes {
		hostname[n.ID] = n.Description.Hostname
	}
	var out []Task
	for _, t := range tasks {
		svc, ok := byID[t.ServiceID]
		if !ok {
			continue
		}
		o := Task{
			ID: t.ID, Service: svc, Slot: t.Slot, NodeID: t.NodeID, Node: hostname[t.NodeID],
			State: t.Status.State, Desired: t.DesiredState, Err: t.Status.Err, Message: t.Status.Message,
		}
		if cs := t.Spec.ContainerSpec; cs != nil {
			o.Revision, _ = strconv.Atoi(cs.Labels[reconcile.LabelRevision])
			o.Image = cs.Image
		}
		if o.Node == "" {
			o.Node = t.NodeID
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Slot != b.Slot {
			return a.Slot < b.Slot
		}
		if a.Node != b.Node {
			return a.Node < b.Node
		}
		return a.Revision > b.Revision
	})
	return out
}

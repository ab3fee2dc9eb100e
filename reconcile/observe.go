// Package reconcile decides and carries out what it takes to bring a Docker
// engine in step with a project: Observe reads the engine into plain data,
// Plan (a pure function) turns project and observation into steps, and Apply
// runs the steps against an Engine, reporting each as an event.
package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Labels drover writes on every container. The Compose ones let `docker
// compose ps` and `logs` see a drover project; drover's own carry the state
// that upgrades and rollbacks are derived from.
const (
	LabelProject     = "com.docker.compose.project"
	LabelService     = "com.docker.compose.service"
	LabelNumber      = "com.docker.compose.container-number"
	LabelOneOff      = "com.docker.compose.oneoff"
	LabelConfigHash  = "com.docker.compose.config-hash"
	LabelWorkingDir  = "com.docker.compose.project.working_dir"
	LabelConfigFiles = "com.docker.compose.project.config_files"
	LabelNetwork     = "com.docker.compose.network"
	LabelVolume      = "com.docker.compose.volume"
	LabelRevision    = "io.drover.revision"
	LabelSpec        = "io.drover.spec"
	LabelVersion     = "io.drover.version"
	// LabelScale is the service's scale when the container was made: how
	// many new containers an upgrade needs, for commands run without files.
	LabelScale = "io.drover.scale"
	// LabelRestart is the restart policy the container was made with
	// (always, on-failure:3): a kept container runs with policy "no", and
	// a rollback gives it this one back.
	LabelRestart = "io.drover.restart"
	// LabelReplacesRestart is, on a new container, the restart policy of the
	// old container of its slot, for old containers that carry no
	// LabelRestart (made by docker compose, or by an older drover).
	LabelReplacesRestart = "io.drover.replaces-restart"
)

// Container is one container as a single list call shows it.
type Container struct {
	ID       string
	Name     string
	Service  string
	Number   int
	Revision int
	Hash     string
	Image    string // the reference it was created from
	ImageID  string
	State    string // created, running, paused, restarting, exited, dead
	ExitCode int    // of an exited container
	Health   string // "", "starting", "healthy", "unhealthy"
	Ports    []Port
	Labels   map[string]string
	// Created is when the engine made it (to the second).
	Created time.Time
	// RestartPolicy is the policy the container was made with (its
	// LabelRestart, or what the engine reported for a container without
	// it); "" when unknown.
	RestartPolicy string
}

// Port is a published port of a container.
type Port struct {
	HostIP   string
	HostPort uint16
	Port     uint16
	Protocol string
}

func (p Port) String() string {
	if p.HostPort == 0 {
		return fmt.Sprintf("%d/%s", p.Port, p.Protocol)
	}
	return fmt.Sprintf("%s:%d->%d/%s", p.HostIP, p.HostPort, p.Port, p.Protocol)
}

// Running reports whether the container's process is up.
func (c Container) Running() bool {
	return c.State == "running" || c.State == "restarting" || c.State == "paused"
}

// Completed reports whether the container ran and exited with status 0.
func (c Container) Completed() bool { return c.State == "exited" && c.ExitCode == 0 }

// Target names a container the way drover prints it: web#2.
func (c Container) Target() string { return fmt.Sprintf("%s#%d", c.Service, c.Number) }

// Observed is what the engine holds of one project, as plain data.
type Observed struct {
	Project    string
	Containers []Container
	// Images maps every reference of each image on the engine to its ID:
	// the familiar tag (drover-hello:v1), the repo digest
	// (drover-hello@sha256:…) and the ID itself.
	Images   map[string]string
	Networks map[string]bool
	Volumes  map[string]bool
	// APIVersion is the engine API version the client negotiated.
	APIVersion string
	// Proxy is the project's front proxy container, nil when it has none;
	// ProxyTable is the table it holds (read when it runs).
	Proxy      *Container
	ProxyTable ProxyTable
	// ProxyPorts is the proxy's launcher, which opens its ports on the
	// host; nil for a proxy of an older drover, whose ports Docker
	// publishes.
	ProxyPorts *Container
	// ProxyProtocol is the control protocol the running proxy speaks (1
	// when it does not say).
	ProxyProtocol int
	// ProxyImage is the tag of the proxy image this drover would run; the
	// command line sets it for projects with proxied services, since it
	// costs a read of drover's own binary.
	ProxyImage string
	// Warnings are about containers that carry the project's label but
	// that drover cannot account for: they are left out of Containers, so
	// that no plan ever touches them.
	Warnings []string
}

// Observer is the part of an Engine that reads.
type Observer interface {
	ListContainers(ctx context.Context, project string) ([]Container, error)
	ListImages(ctx context.Context) (map[string]string, error)
	ListNetworks(ctx context.Context) (map[string]bool, error)
	ListVolumes(ctx context.Context) (map[string]bool, error)
	APIVersion() string
	// Exec runs a command in a running container, feeding it stdin, and
	// returns what it printed; an exit status other than 0 is an error.
	Exec(ctx context.Context, ref string, cmd []string, stdin []byte) ([]byte, error)
}

// Observe reads everything the planner needs in four list calls, whatever
// the number of containers: a no-op run must stay cheap.
func Observe(ctx context.Context, e Observer, project string) (Observed, error) {
	o := Observed{Project: project, APIVersion: e.APIVersion()}
	var err error
	if o.Containers, err = e.ListContainers(ctx, project); err != nil {
		return o, fmt.Errorf("listing containers of project %q: %w", project, err)
	}
	o.Proxy, o.ProxyPorts, o.Containers = splitProxy(o.Containers)
	o.Containers, o.Warnings = accountable(o.Containers)
	sortContainers(o.Containers)
	if o.Proxy != nil && o.Proxy.State == "running" {
		if o.ProxyTable, o.ProxyProtocol, err = readProxyTable(ctx, e, o.Proxy.ID); err != nil {
			return o, fmt.Errorf("reading the front proxy's table: %w", err)
		}
	}
	if o.Images, err = e.ListImages(ctx); err != nil {
		return o, fmt.Errorf("listing images: %w", err)
	}
	if o.Networks, err = e.ListNetworks(ctx); err != nil {
		return o, fmt.Errorf("listing networks: %w", err)
	}
	if o.Volumes, err = e.ListVolumes(ctx); err != nil {
		return o, fmt.Errorf("listing volumes: %w", err)
	}
	return o, nil
}

// splitProxy takes the project's front proxy and its launcher out of its
// containers.
func splitProxy(cs []Container) (proxy, launcher *Container, rest []Container) {
	rest = cs[:0:0]
	for i, c := range cs {
		_, isProxy := c.Labels[LabelProxy]
		_, ports := c.Labels[LabelProxyPorts]
		switch {
		case isProxy && proxy == nil:
			proxy = &cs[i]
		case ports && !isProxy && launcher == nil:
			launcher = &cs[i]
		default:
			rest = append(rest, c)
		}
	}
	return proxy, launcher, rest
}

// readProxyTable asks the proxy for its table, and the control protocol it
// speaks.
func readProxyTable(ctx context.Context, e Observer, ref string) (ProxyTable, int, error) {
	out, err := e.Exec(ctx, ref, proxyCtl(), []byte(`{"op":"get"}`))
	if err != nil {
		return ProxyTable{}, 0, err
	}
	var resp struct {
		OK       bool        `json:"ok"`
		Error    string      `json:"error"`
		Protocol int         `json:"protocol"`
		Table    *ProxyTable `json:"table"`
	}
	if err := json.Unmarshal(out, &resp); err != nil {
		return ProxyTable{}, 0, fmt.Errorf("the proxy answered %q: %w", out, err)
	}
	if !resp.OK {
		return ProxyTable{}, 0, fmt.Errorf("the proxy refused: %s", resp.Error)
	}
	protocol := max(resp.Protocol, 1)
	if resp.Table == nil {
		return ProxyTable{}, protocol, nil
	}
	return *resp.Table, protocol, nil
}

// proxyCtl is the command, inside the proxy's container, that talks to
// the proxy over its control socket: a request on stdin, the answer on
// stdout.
func proxyCtl() []string { return []string{"/drover", "proxy", "ctl", "--control", ProxySocket} }

// accountable keeps the containers drover or docker compose made for a
// service, and says why each other one is left out: a container with the
// project's label but no service, no slot number, or a revision that is not
// a positive integer was made by something else (another tool reusing the
// project name, or a hand-made container), and drover neither counts nor
// touches it. One-off containers (docker compose run) hold no slot and are
// left out without a word.
func accountable(cs []Container) ([]Container, []string) {
	var out []Container
	var warnings []string
	for _, c := range cs {
		why := ""
		rev, hasRev := c.Labels[LabelRevision]
		n, numErr := strconv.Atoi(c.Labels[LabelNumber])
		switch {
		case c.Labels[LabelOneOff] == "True":
			continue // a one-off run (compose run) holds no slot
		case c.Service == "":
			why = "it has no " + LabelService + " label"
		case numErr != nil || n < 1:
			why = fmt.Sprintf("its %s label %q is not a slot number", LabelNumber, c.Labels[LabelNumber])
		case hasRev && c.Revision < 1:
			why = fmt.Sprintf("its %s label %q is not a revision", LabelRevision, rev)
		}
		if why != "" {
			warnings = append(warnings, fmt.Sprintf("container %s carries the project's label but %s: drover leaves it alone", c.Name, why))
			continue
		}
		out = append(out, c)
	}
	return out, warnings
}

// slotConflict refuses a service whose containers claim one slot of one
// revision twice: which of them to keep is the user's call, not drover's.
func slotConflict(service string, cs []Container) error {
	seen := map[[2]int]string{}
	for _, c := range cs {
		key := [2]int{c.Number, c.Revision}
		if other, dup := seen[key]; dup {
			return fmt.Errorf("service %q: containers %s and %s both claim slot %d of revision %d; remove the one that should not be there (docker rm), then run drover again", service, other, c.Name, c.Number, c.Revision)
		}
		seen[key] = c.Name
	}
	return nil
}

// ContainerFromLabels fills the fields drover derives from labels.
func ContainerFromLabels(c *Container) {
	c.Service = c.Labels[LabelService]
	c.Number, _ = strconv.Atoi(c.Labels[LabelNumber])
	if rev, ok := c.Labels[LabelRevision]; ok {
		if n, err := strconv.Atoi(rev); err == nil && n > 0 {
			c.Revision = n
		} else {
			c.Revision = -1 // garbage: accountable leaves it out
		}
	} else {
		c.Revision = 1 // a container made by docker compose: its first revision
	}
	c.Hash = c.Labels[LabelConfigHash]
	if ref := c.Labels[LabelImage]; ref != "" {
		// Made again from a recorded revision, it was created from the
		// image ID; the reference is the one its revision was made from.
		c.Image = ref
	}
	if p, ok := c.Labels[LabelRestart]; ok {
		c.RestartPolicy = p
	}
}

// HealthFromStatus reads the health out of the status text of a container
// list ("Up 3 minutes (healthy)"), which spares an inspect per container.
func HealthFromStatus(status string) string {
	switch {
	case strings.Contains(status, "(healthy)"):
		return "healthy"
	case strings.Contains(status, "(unhealthy)"):
		return "unhealthy"
	case strings.Contains(status, "(health: starting)"):
		return "starting"
	}
	return ""
}

// ExitCodeFromStatus reads the exit status out of the status text of a
// container list ("Exited (2) 5 seconds ago"); -1 when there is none.
func ExitCodeFromStatus(status string) int {
	rest, ok := strings.CutPrefix(status, "Exited (")
	if !ok {
		return -1
	}
	code, _, ok := strings.Cut(rest, ")")
	if n, err := strconv.Atoi(code); ok && err == nil {
		return n
	}
	return -1
}

func sortContainers(cs []Container) {
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if a.Service != b.Service {
			return a.Service < b.Service
		}
		if a.Revision != b.Revision {
			return a.Revision > b.Revision
		}
		if a.Number != b.Number {
			return a.Number < b.Number
		}
		return a.ID < b.ID
	})
}

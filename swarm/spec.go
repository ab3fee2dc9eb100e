// Package swarm runs a drover project on Docker Swarm (--engine swarm).
//
// Swarm already has what drover builds on one engine: services with
// replicas, rolling updates gated on health (update_config), and a rollback
// to the previous spec. So this package is an adapter, not a second
// scheduler: the same loader (compose.Project), the same upgrade policy
// (compose.Policy, mapped to Swarm's update_config), the same progress
// events (reconcile.Event) and status vocabulary (reconcile.UpgradeState),
// with a planner of its own because Swarm's unit is a service, not a
// container. ServiceSpec maps a compose service to a Swarm service spec
// (pure); Observe reads the project's services, tasks and nodes; the
// planners (Up, Upgrade, Rollback, Confirm, Down) turn both into a Plan
// (pure); Apply carries it out over a Cluster and watches each update.
package swarm

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/swarm"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

// Labels. The stack namespace is what docker stack ps/services filter on;
// the Compose labels and drover's own go on the service only, so that the
// single-engine commands never take a task's container for one of theirs.
const (
	LabelNamespace = "com.docker.stack.namespace"
	LabelStackImg  = "com.docker.stack.image"
	// LabelImageID is the image ID the tag named when the spec was made
	// (on the task template, so that a rebuilt tag makes new tasks).
	LabelImageID = "io.drover.image-id"
	// LabelConfirmed holds the revision whose upgrade was confirmed: a
	// rollback is refused from then on.
	LabelConfirmed = "io.drover.confirmed"
	// LabelSettled holds when drover last changed an active service's
	// labels only so that Swarm removes a slot's second task (see
	// onSurplus): a change of labels is what makes Swarm's updater look
	// at the service again.
	LabelSettled = "io.drover.settled"
)

// ServiceName is the Swarm name of a compose service, as docker stack
// deploy names it.
func ServiceName(project, service string) string { return project + "_" + service }

// Target is what the spec of a service is made from, besides the files.
type Target struct {
	Revision int
	// ImageID is the ID of the image the tag names on this node, "" when
	// the node does not have it (a registry image the nodes pull).
	ImageID string
}

// ServiceSpec maps a compose service to the spec of its Swarm service. It
// is pure: every refusal is an error naming the service and the key, found
// before anything changes (Check runs it for every service first).
func ServiceSpec(p *compose.Project, s compose.Service, t Target) (swarm.ServiceSpec, error) {
	cfg := s.Config
	if err := refused(s); err != nil {
		return swarm.ServiceSpec{}, err
	}
	if cfg.Image == "" {
		return swarm.ServiceSpec{}, fmt.Errorf("service %q: no image: a swarm cannot build; build and tag the image first, and set image:", s.Name)
	}
	cs := &swarm.ContainerSpec{
		Image:      cfg.Image,
		Command:    cfg.Entrypoint,
		Args:       cfg.Command,
		Env:        environment(cfg.Environment),
		Dir:        cfg.WorkingDir,
		User:       cfg.User,
		Hostname:   cfg.Hostname,
		TTY:        cfg.Tty,
		OpenStdin:  cfg.StdinOpen,
		ReadOnly:   cfg.ReadOnly,
		Init:       cfg.Init,
		StopSignal: cfg.StopSignal,
		Labels: map[string]string{
			LabelNamespace:          p.Name,
			reconcile.LabelRevision: strconv.Itoa(t.Revision),
		},
		CapabilityAdd:  cfg.CapAdd,
		CapabilityDrop: cfg.CapDrop,
		Sysctls:        cfg.Sysctls,
		Healthcheck:    healthcheck(cfg.HealthCheck),
		Hosts:          hosts(cfg.ExtraHosts),
	}
	for k, v := range cfg.Labels {
		cs.Labels[k] = v
	}
	if t.ImageID != "" {
		cs.Labels[LabelImageID] = t.ImageID
	}
	if cfg.StopGracePeriod != nil {
		d := time.Duration(*cfg.StopGracePeriod)
		cs.StopGracePeriod = &d
	}
	if len(cfg.DNS) > 0 || len(cfg.DNSSearch) > 0 || len(cfg.DNSOpts) > 0 {
		cs.DNSConfig = &swarm.DNSConfig{Nameservers: cfg.DNS, Search: cfg.DNSSearch, Options: cfg.DNSOpts}
	}
	mounts, err := mounts(p, s)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	cs.Mounts = mounts

	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{Name: ServiceName(p.Name, s.Name), Labels: serviceLabels(p, s, t)},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Resources:     resources(cfg),
			RestartPolicy: restartPolicy(cfg),
			Networks:      networks(p, s),
		},
		UpdateConfig:   updateConfig(s.Policy),
		RollbackConfig: rollbackConfig(cfg, s.Policy),
	}
	if cfg.Logging != nil && cfg.Logging.Driver != "" {
		spec.TaskTemplate.LogDriver = &swarm.Driver{Name: cfg.Logging.Driver, Options: cfg.Logging.Options}
	}
	if spec.TaskTemplate.Placement, err = placement(s); err != nil {
		return swarm.ServiceSpec{}, err
	}
	if spec.EndpointSpec, err = endpoint(s); err != nil {
		return swarm.ServiceSpec{}, err
	}
	if global(s) {
		spec.Mode = swarm.ServiceMode{Global: &swarm.GlobalService{}}
	} else {
		n := uint64(s.Scale)
		spec.Mode = swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &n}}
	}
	if cs.Secrets, err = secretRefs(p, s); err != nil {
		return swarm.ServiceSpec{}, err
	}
	if cs.Configs, err = configRefs(p, s); err != nil {
		return swarm.ServiceSpec{}, err
	}
	return spec, nil
}

// serviceLabels are the labels of the service itself: docker stack
// deploy's, Compose's, drover's, and the files' deploy.labels.
func serviceLabels(p *compose.Project, s compose.Service, t Target) map[string]string {
	l := map[string]string{
		LabelNamespace:             p.Name,
		LabelStackImg:              s.Config.Image,
		reconcile.LabelProject:     p.Name,
		reconcile.LabelService:     s.Name,
		reconcile.LabelConfigHash:  s.Hash,
		reconcile.LabelWorkingDir:  p.WorkingDir,
		reconcile.LabelConfigFiles: strings.Join(p.ConfigFiles, ","),
		reconcile.LabelRevision:    strconv.Itoa(t.Revision),
		reconcile.LabelSpec:        string(s.Spec),
		reconcile.LabelVersion:     reconcile.Version,
	}
	if d := s.Config.Deploy; d != nil {
		for k, v := range d.Labels {
			l[k] = v
		}
	}
	return l
}

// refusedKeys are the keys a swarm cannot honour, with why.
var refusedKeys = []struct {
	set func(types.ServiceConfig) bool
	key string
	why string
}{
	{func(c types.ServiceConfig) bool { return c.ContainerName != "" }, "container_name", "Swarm names a service's containers itself"},
	{func(c types.ServiceConfig) bool { return len(c.Links) > 0 }, "links", "use the service name on the project network"},
	{func(c types.ServiceConfig) bool { return len(c.ExternalLinks) > 0 }, "external_links", "attach to the other project's network instead"},
	{func(c types.ServiceConfig) bool { return len(c.VolumesFrom) > 0 }, "volumes_from", "Swarm has no volumes_from"},
	{func(c types.ServiceConfig) bool { return c.NetworkMode != "" }, "network_mode", "Swarm services join networks (networks:)"},
	{func(c types.ServiceConfig) bool { return c.Privileged }, "privileged", "Swarm services cannot run privileged"},
	{func(c types.ServiceConfig) bool {
		return c.CPUShares != 0 || c.CPUQuota != 0 || c.CPUPeriod != 0 || c.CPUSet != ""
	}, "cpu_shares/cpu_quota/cpu_period/cpuset", "use deploy.resources.limits.cpus"},
	{func(c types.ServiceConfig) bool { return c.MemSwapLimit != 0 }, "memswap_limit", "Swarm has no swap limit"},
	{func(c types.ServiceConfig) bool { return c.ShmSize != 0 }, "shm_size", "use a tmpfs volume on /dev/shm"},
	{func(c types.ServiceConfig) bool { return len(c.SecurityOpt) > 0 }, "security_opt", "Swarm services take no security options"},
	{func(c types.ServiceConfig) bool { return c.Platform != "" }, "platform", "use deploy.placement.constraints on node.platform"},
	{func(c types.ServiceConfig) bool { return c.Runtime != "" }, "runtime", "Swarm services use the engine's default runtime"},
	{func(c types.ServiceConfig) bool { return c.DomainName != "" }, "domainname", "Swarm services take no domainname"},
	{func(c types.ServiceConfig) bool { return len(c.Ulimits) > 0 }, "ulimits", "not mapped by drover on a swarm yet"},
	{func(c types.ServiceConfig) bool { return c.PidsLimit != 0 }, "pids_limit", "use deploy.resources.limits.pids"},
	{func(c types.ServiceConfig) bool { return len(c.Tmpfs) > 0 }, "tmpfs", "use a volume of type tmpfs"},
}

// refused names the first key of s that a swarm cannot honour.
func refused(s compose.Service) error {
	for _, r := range refusedKeys {
		if r.set(s.Config) {
			return fmt.Errorf("service %q: key %q has no effect on a swarm (%s): remove it, or run with --engine docker", s.Name, r.key, r.why)
		}
	}
	// The front proxy is the default on one engine; only asking for it
	// by name is an error here.
	if ext, ok := s.Config.Extensions["x-drover"].(map[string]any); ok && ext["proxy"] == true {
		return fmt.Errorf("service %q: x-drover proxy is for one engine: on a swarm, Swarm's routing mesh and start-first updates keep the port served; remove it, or run with --engine docker", s.Name)
	}
	if d := s.Config.Deploy; d != nil {
		if r := d.Resources.Reservations; r != nil && (len(r.Devices) > 0 || len(r.GenericResources) > 0) {
			return fmt.Errorf("service %q: key %q is not mapped by drover on a swarm yet", s.Name, "deploy.resources.reservations.devices")
		}
		if d.EndpointMode != "" && d.EndpointMode != "vip" && d.EndpointMode != "dnsrr" {
			return fmt.Errorf("service %q: deploy.endpoint_mode %q: expected vip or dnsrr", s.Name, d.EndpointMode)
		}
	}
	return nil
}

// environment is the service's environment as KEY=VALUE, sorted; a
// variable without a value is left out, as Compose does.
func environment(env types.MappingWithEquals) []string {
	var out []string
	for k, v := range env {
		if v != nil {
			out = append(out, k+"="+*v)
		}
	}
	sort.Strings(out)
	return out
}

func hosts(h types.HostsList) []string {
	var out []string
	for host, ips := range h {
		for _, ip := range ips {
			out = append(out, ip+" "+host)
		}
	}
	sort.Strings(out)
	return out
}

func healthcheck(hc *types.HealthCheckConfig) *container.HealthConfig {
	if hc == nil {
		return nil
	}
	if hc.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}
	}
	out := &container.HealthConfig{Test: hc.Test}
	if hc.Interval != nil {
		out.Interval = time.Duration(*hc.Interval)
	}
	if hc.Timeout != nil {
		out.Timeout = time.Duration(*hc.Timeout)
	}
	if hc.StartPeriod != nil {
		out.StartPeriod = time.Duration(*hc.StartPeriod)
	}
	if hc.Retries != nil {
		out.Retries = int(*hc.Retries)
	}
	return out
}

// mounts maps volumes: a named volume is the project's (per node: Swarm
// makes it on each node a task lands on), a bind path must exist on every
// node, tmpfs is tmpfs.
func mounts(p *compose.Project, s compose.Service) ([]mount.Mount, error) {
	var out []mount.Mount
	for _, v := range s.Config.Volumes {
		m := mount.Mount{Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeVolume:
			m.Type = mount.TypeVolume
			if v.Source != "" {
				vol, ok := p.Compose.Volumes[v.Source]
				if !ok {
					return nil, fmt.Errorf("service %q: volume %q is not declared under the top-level volumes:", s.Name, v.Source)
				}
				m.Source = vol.Name
				m.VolumeOptions = &mount.VolumeOptions{Labels: map[string]string{LabelNamespace: p.Name, reconcile.LabelProject: p.Name, reconcile.LabelVolume: v.Source}}
				if vol.Driver != "" || len(vol.DriverOpts) > 0 {
					m.VolumeOptions.DriverConfig = &mount.Driver{Name: vol.Driver, Options: vol.DriverOpts}
				}
			}
		case types.VolumeTypeBind:
			m.Type, m.Source = mount.TypeBind, v.Source
		case types.VolumeTypeTmpfs:
			m.Type = mount.TypeTmpfs
			if v.Tmpfs != nil && v.Tmpfs.Size != 0 {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size)}
			}
		default:
			return nil, fmt.Errorf("service %q: volume %q: type %q is not mapped on a swarm", s.Name, v.Target, v.Type)
		}
		out = append(out, m)
	}
	return out, nil
}

func resources(cfg types.ServiceConfig) *swarm.ResourceRequirements {
	var r swarm.ResourceRequirements
	lim := swarm.Limit{NanoCPUs: int64(cfg.CPUS * 1e9), MemoryBytes: int64(cfg.MemLimit)}
	res := swarm.Resources{MemoryBytes: int64(cfg.MemReservation)}
	if d := cfg.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil {
			lim = swarm.Limit{NanoCPUs: int64(l.NanoCPUs * 1e9), MemoryBytes: int64(l.MemoryBytes), Pids: l.Pids}
		}
		if rv := d.Resources.Reservations; rv != nil {
			res = swarm.Resources{NanoCPUs: int64(rv.NanoCPUs * 1e9), MemoryBytes: int64(rv.MemoryBytes)}
		}
	}
	if lim != (swarm.Limit{}) {
		r.Limits = &lim
	}
	if res.NanoCPUs != 0 || res.MemoryBytes != 0 {
		r.Reservations = &res
	}
	if r.Limits == nil && r.Reservations == nil {
		return nil
	}
	return &r
}

// restartPolicy is deploy.restart_policy, else the compose restart: key
// in Swarm's terms. Swarm replaces an exited task whatever its exit code by
// default (any), as docker stack deploy leaves it; restart: on-failure is
// the one value that narrows that, and restart: "no" is not taken to mean
// "let replicas die" (Swarm's condition none), since docker stack deploy
// ignores restart: altogether.
func restartPolicy(cfg types.ServiceConfig) *swarm.RestartPolicy {
	if d := cfg.Deploy; d != nil && d.RestartPolicy != nil {
		rp := d.RestartPolicy
		out := &swarm.RestartPolicy{Condition: swarm.RestartPolicyCondition(rp.Condition), MaxAttempts: rp.MaxAttempts}
		if rp.Delay != nil {
			dl := time.Duration(*rp.Delay)
			out.Delay = &dl
		}
		if rp.Window != nil {
			w := time.Duration(*rp.Window)
			out.Window = &w
		}
		return out
	}
	if strings.HasPrefix(cfg.Restart, "on-failure") {
		out := &swarm.RestartPolicy{Condition: swarm.RestartPolicyConditionOnFailure}
		if _, n, ok := strings.Cut(cfg.Restart, ":"); ok {
			if m, err := strconv.ParseUint(n, 10, 64); err == nil {
				out.MaxAttempts = &m
			}
		}
		return out
	}
	return nil
}

// networks attaches the service to its networks (the project's default
// when it names none), with the service name as alias, as Compose does.
func networks(p *compose.Project, s compose.Service) []swarm.NetworkAttachmentConfig {
	keys := make([]string, 0, len(s.Config.Networks))
	for k := range s.Config.Networks {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		keys = []string{"default"}
	}
	sort.Strings(keys)
	var out []swarm.NetworkAttachmentConfig
	for _, k := range keys {
		aliases := []string{s.Name}
		if nc := s.Config.Networks[k]; nc != nil {
			aliases = append(aliases, nc.Aliases...)
		}
		out = append(out, swarm.NetworkAttachmentConfig{Target: NetworkName(p, k), Aliases: aliases})
	}
	return out
}

// NetworkName is the engine name of a project network.
func NetworkName(p *compose.Project, key string) string {
	if n, ok := p.Compose.Networks[key]; ok && n.Name != "" {
		return n.Name
	}
	return p.Name + "_" + key
}

// endpoint maps ports. Swarm publishes on every address of every node (the
// routing mesh), or, in mode host, on every address of the node a task
// runs on: neither honours a host IP, so one is refused rather than
// widened silently.
func endpoint(s compose.Service) (*swarm.EndpointSpec, error) {
	var e swarm.EndpointSpec
	if d := s.Config.Deploy; d != nil && d.EndpointMode != "" {
		e.Mode = swarm.ResolutionMode(d.EndpointMode)
	}
	for _, pc := range s.Config.Ports {
		if pc.HostIP != "" {
			return nil, fmt.Errorf("service %q: port %d: host_ip %s cannot be honoured on a swarm: Swarm publishes on every address (the routing mesh, or mode: host on the task's node); remove host_ip, or reach the service over an attachable network", s.Name, pc.Target, pc.HostIP)
		}
		pp := swarm.PortConfig{Name: pc.Name, Protocol: swarm.PortConfigProtocol(orDefault(pc.Protocol, "tcp")), TargetPort: pc.Target, PublishMode: swarm.PortConfigPublishModeIngress}
		if pc.Mode == "host" {
			pp.PublishMode = swarm.PortConfigPublishModeHost
		}
		if pc.Published != "" {
			n, err := strconv.ParseUint(pc.Published, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("service %q: port %d: published %q: a swarm takes one port, not a range", s.Name, pc.Target, pc.Published)
			}
			pp.PublishedPort = uint32(n)
		}
		e.Ports = append(e.Ports, pp)
	}
	if e.Mode == "" && len(e.Ports) == 0 {
		return nil, nil
	}
	return &e, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Rancher scheduling labels.
const (
	labelGlobal      = "io.rancher.scheduler.global"
	labelAffinityPfx = "io.rancher.scheduler.affinity:"
	labelHostLabel   = labelAffinityPfx + "host_label"
	labelHostLabelNe = labelAffinityPfx + "host_label_ne"
)

// global says whether the service runs one task per node: deploy.mode:
// global, or Rancher's io.rancher.scheduler.global.
func global(s compose.Service) bool {
	return s.Config.Deploy != nil && s.Config.Deploy.Mode == "global" || s.Config.Labels[labelGlobal] == "true"
}

// placement is deploy.placement plus Rancher's host-label affinities as
// constraints on node labels: host_label=k=v -> node.labels.k==v,
// host_label_ne -> !=. Rancher's other affinities (soft ones, container
// labels, container names) have no Swarm equivalent and are refused.
func placement(s compose.Service) (*swarm.Placement, error) {
	var pl swarm.Placement
	if d := s.Config.Deploy; d != nil {
		pl.Constraints = append(pl.Constraints, d.Placement.Constraints...)
		for _, pr := range d.Placement.Preferences {
			pl.Preferences = append(pl.Preferences, swarm.PlacementPreference{Spread: &swarm.SpreadOver{SpreadDescriptor: pr.Spread}})
		}
		pl.MaxReplicas = d.Placement.MaxReplicas
	}
	keys := make([]string, 0, len(s.Config.Labels))
	for k := range s.Config.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.HasPrefix(k, labelAffinityPfx) {
			continue
		}
		op := ""
		switch k {
		case labelHostLabel:
			op = "=="
		case labelHostLabelNe:
			op = "!="
		default:
			return nil, fmt.Errorf("service %q: label %s has no Swarm equivalent (only host_label and host_label_ne map, to constraints on node labels); remove it, or use deploy.placement", s.Name, k)
		}
		for _, kv := range strings.Split(s.Config.Labels[k], ",") {
			name, value, ok := strings.Cut(strings.TrimSpace(kv), "=")
			if !ok || name == "" {
				return nil, fmt.Errorf("service %q: label %s: %q: expected key=value", s.Name, k, kv)
			}
			pl.Constraints = append(pl.Constraints, fmt.Sprintf("node.labels.%s%s%s", name, op, value))
		}
	}
	if len(pl.Constraints) == 0 && len(pl.Preferences) == 0 && pl.MaxReplicas == 0 {
		return nil, nil
	}
	return &pl, nil
}

// updateConfig is the upgrade policy in Swarm's terms: batch_size ->
// parallelism, interval -> delay, start_first -> order, failure_action ->
// failure action, monitor -> monitor. Swarm gates each batch itself: a
// task counts once it runs (healthy, where the image or file has a health
// check) and keeps running for the monitor period.
func updateConfig(pol compose.Policy) *swarm.UpdateConfig {
	u := &swarm.UpdateConfig{
		Parallelism:   uint64(max(pol.BatchSize, 1)),
		Delay:         pol.Interval,
		Monitor:       pol.Monitor,
		Order:         swarm.UpdateOrderStopFirst,
		FailureAction: swarm.UpdateFailureActionRollback,
	}
	if pol.StartFirst {
		u.Order = swarm.UpdateOrderStartFirst
	}
	if pol.FailureAction == compose.FailurePause {
		u.FailureAction = swarm.UpdateFailureActionPause
	}
	return u
}

// rollbackConfig is deploy.rollback_config, else the update's batches and
// order, pausing if the rollback itself fails (a failed rollback must stop
// where a human can look, not loop).
func rollbackConfig(cfg types.ServiceConfig, pol compose.Policy) *swarm.UpdateConfig {
	r := updateConfig(pol)
	r.Delay = 0
	r.FailureAction = swarm.UpdateFailureActionPause
	if cfg.Deploy != nil && cfg.Deploy.RollbackConfig != nil {
		rc := cfg.Deploy.RollbackConfig
		if rc.Parallelism != nil {
			r.Parallelism = *rc.Parallelism
		}
		r.Delay = time.Duration(rc.Delay)
		if rc.Monitor != 0 {
			r.Monitor = time.Duration(rc.Monitor)
		}
		if rc.Order != "" {
			r.Order = rc.Order
		}
		if rc.FailureAction != "" {
			r.FailureAction = rc.FailureAction
		}
	}
	return r
}

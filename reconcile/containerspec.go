package reconcile

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/blkiodev"
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"
	"github.com/docker/go-connections/nat"
	"github.com/docker/go-units"

	"github.com/drover/drover/compose"
)

// Version is drover's version, written on every container it creates.
const Version = "0.1.0"

// CreateRequest is everything the engine needs to create one container. The
// API 1.41 engine attaches a container to a single network at creation, so
// the others are connected right after.
type CreateRequest struct {
	Name          string
	Platform      string // os/arch[/variant], "" for the engine's own
	Config        *container.Config
	HostConfig    *container.HostConfig
	Networking    *network.NetworkingConfig
	ExtraNetworks map[string]*network.EndpointSettings
	// Files are copied into the container once it is created, before it
	// starts: configs of content: or environment:, as docker compose does.
	Files []FileCopy
}

// FileCopy is one file copied into a new container.
type FileCopy struct {
	Path     string // absolute
	Content  []byte
	UID, GID string // "" keeps root
	Mode     int64
}

// ImageRef is the image a service's containers run: its image:, or for a
// service that only has build:, the name Compose gives it.
func ImageRef(project string, s types.ServiceConfig) string {
	if s.Image != "" {
		return s.Image
	}
	return project + "-" + s.Name
}

// ContainerName is the name of slot number n of a service.
func ContainerName(project string, s types.ServiceConfig, n int) string {
	if s.ContainerName != "" {
		return s.ContainerName
	}
	return fmt.Sprintf("%s-%s-%d", project, s.Name, n)
}

// specInput is what a container's create request is computed from.
type specInput struct {
	project    *compose.Project
	service    compose.Service
	number     int
	revision   int
	apiVersion string
	// peers names, for the members of the service's unit (its primary and
	// sidekicks), the container of this slot to take volumes and
	// namespaces from when it is not the slot's name: in an upgrade, the
	// new sidekick, created under its pending name just before.
	peers map[string]string
}

// peer is the container a reference to another service (volumes_from,
// links, service: namespaces) names: the first container of the service,
// as docker compose does, or, for a member of the same unit, the container
// of the same slot, as Rancher did with sidekicks.
func (in specInput) peer(service string) string {
	if ref, ok := in.peers[service]; ok {
		return ref
	}
	p := in.project
	dep, found := p.Service(service)
	if !found {
		dep.Config = types.ServiceConfig{Name: service}
	}
	if found && p.SameUnit(in.service.Name, service) {
		return ContainerName(p.Name, dep.Config, in.number)
	}
	return ContainerName(p.Name, dep.Config, 1)
}

// newCreateRequest turns a service into an engine create request. It is pure:
// the engine's API version comes in as data, because fields newer than the
// engine must be dropped rather than refused.
func newCreateRequest(in specInput) (CreateRequest, []string, error) {
	p, s := in.project, in.service.Config
	var warnings []string
	labels := map[string]string{}
	for k, v := range s.Labels {
		labels[k] = v
	}
	labels[LabelProject] = p.Name
	labels[LabelService] = s.Name
	labels[LabelNumber] = strconv.Itoa(in.number)
	labels[LabelOneOff] = "False"
	labels[LabelConfigHash] = in.service.Hash
	labels[LabelWorkingDir] = p.WorkingDir
	labels[LabelConfigFiles] = strings.Join(p.ConfigFiles, ",")
	labels[LabelRevision] = strconv.Itoa(in.revision)
	labels[LabelSpec] = string(in.service.Spec)
	labels[LabelVersion] = Version
	labels[LabelScale] = strconv.Itoa(in.service.Scale)
	labels[LabelRestart] = FormatRestartPolicy(restartPolicy(s))

	cfg := &container.Config{
		Image:        ImageRef(p.Name, s),
		Labels:       labels,
		Env:          environment(s.Environment),
		Cmd:          []string(s.Command),
		Entrypoint:   []string(s.Entrypoint),
		WorkingDir:   s.WorkingDir,
		User:         s.User,
		Hostname:     s.Hostname,
		Domainname:   s.DomainName,
		StopSignal:   s.StopSignal,
		Tty:          s.Tty,
		OpenStdin:    s.StdinOpen,
		ExposedPorts: nat.PortSet{},
		// API 1.41 sets a MAC address on the container, not per endpoint.
		MacAddress: s.MacAddress,
	}
	if s.StopGracePeriod != nil {
		secs := int(time.Duration(*s.StopGracePeriod).Seconds())
		cfg.StopTimeout = &secs
	}
	hc, w := healthConfig(s.HealthCheck, in.apiVersion)
	cfg.Healthcheck = hc
	if w != "" {
		warnings = append(warnings, fmt.Sprintf("service %q: %s", s.Name, w))
	}

	host := &container.HostConfig{
		PortBindings:   nat.PortMap{},
		CapAdd:         s.CapAdd,
		CapDrop:        s.CapDrop,
		Privileged:     s.Privileged,
		ReadonlyRootfs: s.ReadOnly,
		Init:           s.Init,
		ExtraHosts:     s.ExtraHosts.AsList(":"),
		DNS:            s.DNS,
		DNSSearch:      s.DNSSearch,
		DNSOptions:     s.DNSOpts,
		SecurityOpt:    s.SecurityOpt,
		Sysctls:        map[string]string(s.Sysctls),
		ShmSize:        int64(s.ShmSize),
		RestartPolicy:  restartPolicy(s),
		Resources:      resources(s),
		GroupAdd:       s.GroupAdd,
		OomScoreAdj:    int(s.OomScoreAdj),
		StorageOpt:     s.StorageOpt,
		UsernsMode:     container.UsernsMode(s.UserNSMode),
		UTSMode:        container.UTSMode(s.Uts),
		CgroupnsMode:   container.CgroupnsMode(s.Cgroup),
		Isolation:      container.Isolation(s.Isolation),
		VolumeDriver:   s.VolumeDriver,
		PidMode:        container.PidMode(in.serviceRef(s.Pid)),
		IpcMode:        container.IpcMode(in.serviceRef(s.Ipc)),
	}
	if len(s.Annotations) > 0 {
		if versionAtLeast(in.apiVersion, 1, 43) {
			host.Annotations = map[string]string(s.Annotations)
		} else {
			warnings = append(warnings, fmt.Sprintf("service %q: annotations need engine API 1.43, this engine speaks %s: left out", s.Name, in.apiVersion))
		}
	}
	if s.Logging != nil {
		host.LogConfig = container.LogConfig{Type: s.Logging.Driver, Config: s.Logging.Options}
	}
	for _, e := range s.Expose {
		port, err := nat.NewPort(protocolOf(e), strings.Split(e, "/")[0])
		if err != nil {
			return CreateRequest{}, nil, fmt.Errorf("service %q: expose %q: %w", s.Name, e, err)
		}
		cfg.ExposedPorts[port] = struct{}{}
	}
	for _, sp := range s.Ports {
		proto := sp.Protocol
		if proto == "" {
			proto = "tcp"
		}
		port, err := nat.NewPort(proto, strconv.Itoa(int(sp.Target)))
		if err != nil {
			return CreateRequest{}, nil, fmt.Errorf("service %q: port %d: %w", s.Name, sp.Target, err)
		}
		cfg.ExposedPorts[port] = struct{}{}
		if in.service.Proxy && sp.Published != "" {
			labels[LabelProxied] = "true"
			continue // the front proxy publishes it
		}
		host.PortBindings[port] = append(host.PortBindings[port], nat.PortBinding{HostIP: sp.HostIP, HostPort: sp.Published})
	}
	if err := mounts(p, s, host, in.apiVersion); err != nil {
		return CreateRequest{}, nil, err
	}
	if err := secrets(p, s, host); err != nil {
		return CreateRequest{}, nil, err
	}
	files := configs(append(slices.Clone(in.service.Configs), in.service.Secrets...), host)
	host.Runtime = s.Runtime
	for _, from := range s.VolumesFrom {
		host.VolumesFrom = append(host.VolumesFrom, in.volumesFrom(from))
	}
	req := CreateRequest{Name: ContainerName(p.Name, s, in.number), Platform: s.Platform, Config: cfg, HostConfig: host, Files: files}
	if err := networking(in, &req); err != nil {
		return CreateRequest{}, nil, err
	}
	// An alias that survives renames (web-1 → web-1-r2 and back): the
	// front proxy reaches its backends by it.
	alias := PendingName(req.Name, in.revision)
	if req.Networking != nil {
		for _, ep := range req.Networking.EndpointsConfig {
			ep.Aliases = append(ep.Aliases, alias)
		}
	}
	for _, ep := range req.ExtraNetworks {
		ep.Aliases = append(ep.Aliases, alias)
	}
	return req, warnings, nil
}

func protocolOf(portSpec string) string {
	if i := strings.Index(portSpec, "/"); i >= 0 {
		return portSpec[i+1:]
	}
	return "tcp"
}

// environment renders the resolved environment; a variable without a value
// (listed but unset in the shell) is left out, as Compose does.
func environment(env types.MappingWithEquals) []string {
	var out []string
	for _, k := range sortedKeys(env) {
		if v := env[k]; v != nil {
			out = append(out, k+"="+*v)
		}
	}
	return out
}

func healthConfig(h *types.HealthCheckConfig, apiVersion string) (*container.HealthConfig, string) {
	if h == nil {
		return nil, ""
	}
	if h.Disable {
		return &container.HealthConfig{Test: []string{"NONE"}}, ""
	}
	hc := &container.HealthConfig{Test: h.Test}
	if h.Interval != nil {
		hc.Interval = time.Duration(*h.Interval)
	}
	if h.Timeout != nil {
		hc.Timeout = time.Duration(*h.Timeout)
	}
	if h.StartPeriod != nil {
		hc.StartPeriod = time.Duration(*h.StartPeriod)
	}
	if h.Retries != nil {
		hc.Retries = int(*h.Retries)
	}
	if h.StartInterval != nil {
		if versionAtLeast(apiVersion, 1, 44) {
			hc.StartInterval = time.Duration(*h.StartInterval)
		} else {
			return hc, fmt.Sprintf("healthcheck.start_interval needs engine API 1.44, this engine speaks %s: left out", apiVersion)
		}
	}
	return hc, ""
}

func versionAtLeast(v string, major, minor int) bool {
	a, b, _ := strings.Cut(v, ".")
	ma, _ := strconv.Atoi(a)
	mi, _ := strconv.Atoi(b)
	return ma > major || (ma == major && mi >= minor)
}

// FormatRestartPolicy writes a policy the way compose files do: no,
// always, unless-stopped, on-failure, on-failure:3.
func FormatRestartPolicy(p container.RestartPolicy) string {
	switch {
	case p.Name == "":
		return "no"
	case p.MaximumRetryCount > 0:
		return fmt.Sprintf("%s:%d", p.Name, p.MaximumRetryCount)
	}
	return string(p.Name)
}

// ParseRestartPolicy reads what FormatRestartPolicy wrote.
func ParseRestartPolicy(s string) container.RestartPolicy {
	name, count, _ := strings.Cut(s, ":")
	n, _ := strconv.Atoi(count)
	if name == "" {
		name = "no"
	}
	return container.RestartPolicy{Name: container.RestartPolicyMode(name), MaximumRetryCount: n}
}

func restartPolicy(s types.ServiceConfig) container.RestartPolicy {
	if s.Restart != "" {
		return ParseRestartPolicy(s.Restart)
	}
	if s.Deploy != nil && s.Deploy.RestartPolicy != nil {
		rp := s.Deploy.RestartPolicy
		switch rp.Condition {
		case "none":
			return container.RestartPolicy{Name: container.RestartPolicyDisabled}
		case "on-failure":
			p := container.RestartPolicy{Name: container.RestartPolicyOnFailure}
			if rp.MaxAttempts != nil {
				p.MaximumRetryCount = int(*rp.MaxAttempts)
			}
			return p
		default:
			return container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}
		}
	}
	return container.RestartPolicy{Name: container.RestartPolicyDisabled}
}

func resources(s types.ServiceConfig) container.Resources {
	r := container.Resources{
		NanoCPUs:           int64(s.CPUS * 1e9),
		CPUShares:          s.CPUShares,
		CPUQuota:           s.CPUQuota,
		CPUPeriod:          s.CPUPeriod,
		CpusetCpus:         s.CPUSet,
		Memory:             int64(s.MemLimit),
		MemoryReservation:  int64(s.MemReservation),
		MemorySwap:         int64(s.MemSwapLimit),
		CgroupParent:       s.CgroupParent,
		CPUCount:           s.CPUCount,
		CPUPercent:         int64(s.CPUPercent),
		CPURealtimePeriod:  s.CPURTPeriod,
		CPURealtimeRuntime: s.CPURTRuntime,
		DeviceCgroupRules:  s.DeviceCgroupRules,
		Devices:            devices(s.Devices),
		DeviceRequests:     deviceRequests(s),
	}
	if s.PidsLimit != 0 {
		r.PidsLimit = &s.PidsLimit
	}
	if s.MemSwappiness != 0 {
		v := int64(s.MemSwappiness)
		r.MemorySwappiness = &v
	}
	if s.OomKillDisable {
		r.OomKillDisable = &s.OomKillDisable
	}
	blkio(s.BlkioConfig, &r)
	if d := s.Deploy; d != nil {
		if l := d.Resources.Limits; l != nil {
			if l.NanoCPUs != 0 {
				r.NanoCPUs = int64(l.NanoCPUs.Value() * 1e9)
			}
			if l.MemoryBytes != 0 {
				r.Memory = int64(l.MemoryBytes)
			}
			if l.Pids != 0 {
				r.PidsLimit = &l.Pids
			}
		}
		if rs := d.Resources.Reservations; rs != nil && rs.MemoryBytes != 0 {
			r.MemoryReservation = int64(rs.MemoryBytes)
		}
	}
	for _, name := range sortedKeys(s.Ulimits) {
		u := s.Ulimits[name]
		soft, hard := int64(u.Soft), int64(u.Hard)
		if u.Single != 0 {
			soft, hard = int64(u.Single), int64(u.Single)
		}
		r.Ulimits = append(r.Ulimits, &units.Ulimit{Name: name, Soft: soft, Hard: hard})
	}
	return r
}

// devices maps host devices into the container; a CDI name (vendor/class=name
// as both source and target) is left to deviceRequests.
func devices(ds []types.DeviceMapping) []container.DeviceMapping {
	var out []container.DeviceMapping
	for _, d := range ds {
		if isCDI(d) {
			continue
		}
		out = append(out, container.DeviceMapping{PathOnHost: d.Source, PathInContainer: d.Target, CgroupPermissions: d.Permissions})
	}
	return out
}

func isCDI(d types.DeviceMapping) bool {
	return d.Source == d.Target && !strings.HasPrefix(d.Source, "/") && strings.Contains(d.Source, "=")
}

// deviceRequests are the devices a driver hands out: CDI devices, gpus and
// deploy.resources.reservations.devices, as docker compose requests them.
func deviceRequests(s types.ServiceConfig) []container.DeviceRequest {
	var out []container.DeviceRequest
	var cdi []string
	for _, d := range s.Devices {
		if isCDI(d) {
			cdi = append(cdi, d.Source)
		}
	}
	if len(cdi) > 0 {
		out = append(out, container.DeviceRequest{Driver: "cdi", DeviceIDs: cdi})
	}
	for _, g := range s.Gpus {
		out = append(out, container.DeviceRequest{Driver: g.Driver, Count: int(g.Count), DeviceIDs: g.IDs,
			Capabilities: [][]string{append(append([]string{}, g.Capabilities...), "gpu")}, Options: g.Options})
	}
	if d := s.Deploy; d != nil && d.Resources.Reservations != nil {
		for _, dev := range d.Resources.Reservations.Devices {
			out = append(out, container.DeviceRequest{Driver: dev.Driver, Count: int(dev.Count), DeviceIDs: dev.IDs,
				Capabilities: [][]string{dev.Capabilities}, Options: dev.Options})
		}
	}
	return out
}

func blkio(b *types.BlkioConfig, r *container.Resources) {
	if b == nil {
		return
	}
	r.BlkioWeight = b.Weight
	for _, d := range b.WeightDevice {
		r.BlkioWeightDevice = append(r.BlkioWeightDevice, &blkiodev.WeightDevice{Path: d.Path, Weight: d.Weight})
	}
	throttle := func(ds []types.ThrottleDevice) []*blkiodev.ThrottleDevice {
		var out []*blkiodev.ThrottleDevice
		for _, d := range ds {
			out = append(out, &blkiodev.ThrottleDevice{Path: d.Path, Rate: uint64(d.Rate)})
		}
		return out
	}
	r.BlkioDeviceReadBps = throttle(b.DeviceReadBps)
	r.BlkioDeviceReadIOps = throttle(b.DeviceReadIOps)
	r.BlkioDeviceWriteBps = throttle(b.DeviceWriteBps)
	r.BlkioDeviceWriteIOps = throttle(b.DeviceWriteIOps)
}

func mounts(p *compose.Project, s types.ServiceConfig, host *container.HostConfig, apiVersion string) error {
	for _, t := range s.Tmpfs {
		if host.Tmpfs == nil {
			host.Tmpfs = map[string]string{}
		}
		dst, opts, _ := strings.Cut(t, ":")
		host.Tmpfs[dst] = opts
	}
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			if b, ok := bindString(v); ok {
				// The legacy Binds form creates a missing host path, as
				// docker compose does by default; API 1.41 has no mount
				// option for that.
				host.Binds = append(host.Binds, b)
				continue
			}
			m := mount.Mount{Type: mount.TypeBind, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly, Consistency: mount.Consistency(v.Consistency)}
			m.BindOptions = &mount.BindOptions{Propagation: mount.Propagation(v.Bind.Propagation)}
			switch v.Bind.Recursive {
			case "disabled":
				m.BindOptions.NonRecursive = true
			case "writable", "readonly":
				if !versionAtLeast(apiVersion, 1, 44) {
					return fmt.Errorf("service %q: volume %q: bind.recursive %q needs engine API 1.44, this engine speaks %s", s.Name, v.Target, v.Bind.Recursive, apiVersion)
				}
				m.BindOptions.ReadOnlyNonRecursive = v.Bind.Recursive == "writable"
				m.BindOptions.ReadOnlyForceRecursive = v.Bind.Recursive == "readonly"
			}
			host.Mounts = append(host.Mounts, m)
		case types.VolumeTypeVolume:
			m := mount.Mount{Type: mount.TypeVolume, Target: v.Target, ReadOnly: v.ReadOnly, Consistency: mount.Consistency(v.Consistency)}
			if v.Source != "" {
				vol, ok := p.Compose.Volumes[v.Source]
				if !ok {
					return fmt.Errorf("service %q: volume %q is not declared under the top-level volumes:", s.Name, v.Source)
				}
				m.Source = vol.Name
			}
			if v.Volume != nil {
				if v.Volume.Subpath != "" && !versionAtLeast(apiVersion, 1, 45) {
					// An older engine ignores the field and would mount
					// the whole volume.
					return fmt.Errorf("service %q: volume %q: volume.subpath needs engine API 1.45, this engine speaks %s", s.Name, v.Target, apiVersion)
				}
				m.VolumeOptions = &mount.VolumeOptions{NoCopy: v.Volume.NoCopy, Subpath: v.Volume.Subpath, Labels: v.Volume.Labels}
			}
			host.Mounts = append(host.Mounts, m)
		case types.VolumeTypeTmpfs:
			m := mount.Mount{Type: mount.TypeTmpfs, Target: v.Target}
			if v.Tmpfs != nil {
				m.TmpfsOptions = &mount.TmpfsOptions{SizeBytes: int64(v.Tmpfs.Size), Mode: os.FileMode(v.Tmpfs.Mode)}
			}
			host.Mounts = append(host.Mounts, m)
		case types.VolumeTypeNamedPipe:
			host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeNamedPipe, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly})
		case types.VolumeTypeImage:
			return fmt.Errorf("service %q: volume %q: type image needs engine API 1.48, this engine speaks %s", s.Name, v.Target, apiVersion)
		default:
			return fmt.Errorf("service %q: volume %q: type %q is not supported by drover yet", s.Name, v.Target, v.Type)
		}
	}
	return nil
}

// bindString renders a bind mount in the legacy Binds form
// (src:dst:ro,z,rshared) when its options fit there: that form creates a
// missing host path. create_host_path: false or bind.recursive need the
// Mounts form, which refuses a missing source.
func bindString(v types.ServiceVolumeConfig) (string, bool) {
	if v.Bind != nil && (!bool(v.Bind.CreateHostPath) || v.Bind.Recursive != "") {
		return "", false
	}
	var opts []string
	if v.ReadOnly {
		opts = append(opts, "ro")
	}
	if v.Bind != nil && v.Bind.SELinux != "" {
		opts = append(opts, v.Bind.SELinux)
	}
	if v.Bind != nil && v.Bind.Propagation != "" {
		opts = append(opts, v.Bind.Propagation)
	}
	b := v.Source + ":" + v.Target
	if len(opts) > 0 {
		b += ":" + strings.Join(opts, ",")
	}
	return b, true
}

// networking attaches the container to its networks, the service name always
// among its aliases so that other services reach it by name.
func networking(in specInput, req *CreateRequest) error {
	p, s := in.project, in.service.Config
	switch mode := s.NetworkMode; {
	case mode == "":
	default:
		req.HostConfig.NetworkMode = container.NetworkMode(in.serviceRef(mode))
		return nil
	}
	nets := s.NetworksByPriority()
	for i, key := range nets {
		n, ok := p.Compose.Networks[key]
		if !ok {
			return fmt.Errorf("service %q: network %q is not declared under the top-level networks:", s.Name, key)
		}
		ep := &network.EndpointSettings{Aliases: []string{s.Name}}
		if c := s.Networks[key]; c != nil {
			ep.Aliases = append(ep.Aliases, c.Aliases...)
			if c.Ipv4Address != "" || c.Ipv6Address != "" {
				ep.IPAMConfig = &network.EndpointIPAMConfig{IPv4Address: c.Ipv4Address, IPv6Address: c.Ipv6Address}
			}
		}
		if i == 0 {
			// Legacy links (v1 files) become links of the first network,
			// which is what Docker does with them on a user network.
			ep.Links = in.links()
			req.HostConfig.NetworkMode = container.NetworkMode(n.Name)
			req.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{n.Name: ep}}
			continue
		}
		if req.ExtraNetworks == nil {
			req.ExtraNetworks = map[string]*network.EndpointSettings{}
		}
		req.ExtraNetworks[n.Name] = ep
	}
	return nil
}

// serviceRef turns a namespace mode naming a service (network_mode, pid or
// ipc "service:db") into one naming its first container, as docker compose
// does; any other mode is returned as it is. compose-go has already refused
// an unknown service.
func (in specInput) serviceRef(mode string) string {
	name, ok := strings.CutPrefix(mode, "service:")
	if !ok {
		// Rancher files wrote net: container:SIDEKICK, naming the
		// sidekick's service: the container of the same slot.
		if name, ok = strings.CutPrefix(mode, "container:"); !ok || !in.project.SameUnit(in.service.Name, name) {
			return mode
		}
	}
	return "container:" + in.peer(name)
}

// links renders links (service[:alias]) and external_links
// (container[:alias]) as container:alias pairs; a service's link points at
// its first container.
func (in specInput) links() []string {
	p, s := in.project, in.service.Config
	var out []string
	for _, l := range s.Links {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		if dep, found := p.Service(name); found {
			// By the slot's name, not a peer's pending one: a link
			// follows a name at each lookup, and the new sidekick takes
			// the slot's name once it passes.
			n := 1
			if p.SameUnit(s.Name, dep.Name) {
				n = in.number
			}
			name = ContainerName(p.Name, dep.Config, n)
		}
		out = append(out, name+":"+alias)
	}
	for _, l := range s.ExternalLinks {
		name, alias, ok := strings.Cut(l, ":")
		if !ok {
			alias = name
		}
		out = append(out, name+":"+alias)
	}
	return out
}

// volumesFrom renders a volumes_from entry: a service's first container, or
// container:NAME, with an optional :ro or :rw.
func (in specInput) volumesFrom(from string) string {
	ref, mode, _ := strings.Cut(from, ":")
	if ref == "container" {
		ref, mode, _ = strings.Cut(mode, ":")
	} else if _, ok := in.project.Service(ref); ok {
		ref = in.peer(ref)
	}
	if mode != "" {
		return ref + ":" + mode
	}
	return ref
}

// secrets mounts file-based secrets read-only under /run/secrets, as
// docker compose does without swarm.
func secrets(p *compose.Project, s types.ServiceConfig, host *container.HostConfig) error {
	for _, ref := range s.Secrets {
		def, ok := p.Compose.Secrets[ref.Source]
		if !ok {
			return fmt.Errorf("service %q: secret %q is not declared under the top-level secrets:", s.Name, ref.Source)
		}
		if def.Environment != "" {
			continue // copied in, with the configs
		}
		if def.File == "" {
			return fmt.Errorf("service %q: secret %q: only secrets of file: or environment: apply on one engine", s.Name, ref.Source)
		}
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		if !strings.HasPrefix(target, "/") {
			target = "/run/secrets/" + target
		}
		host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: def.File, Target: target, ReadOnly: true})
	}
	return nil
}

// configs bind-mounts file: configs read-only and returns the others (and
// the secrets of environment:), to be copied into the container (mode 0444
// unless given), as docker compose applies them without swarm. A mount the service already has at a
// target wins, as in docker compose.
func configs(cs []compose.ConfigFile, host *container.HostConfig) []FileCopy {
	taken := map[string]bool{}
	for _, m := range host.Mounts {
		taken[m.Target] = true
	}
	for _, b := range host.Binds {
		if parts := strings.Split(b, ":"); len(parts) >= 2 {
			taken[parts[1]] = true
		}
	}
	var files []FileCopy
	for _, c := range cs {
		if taken[c.Target] {
			continue
		}
		if c.Source != "" {
			host.Mounts = append(host.Mounts, mount.Mount{Type: mount.TypeBind, Source: c.Source, Target: c.Target, ReadOnly: true})
			continue
		}
		mode := int64(0o444)
		if c.Mode != nil {
			mode = int64(*c.Mode)
		}
		files = append(files, FileCopy{Path: c.Target, Content: c.Content, UID: c.UID, GID: c.GID, Mode: mode})
	}
	return files
}

package reconcile

import (
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/drover/drover/compose"
)

// InspectedSpec is what drover compares of a container that another tool
// made (docker-compose 1.29, docker compose): such a container carries no
// io.drover.spec, so its inspect data is the only account of what it was
// made with. The values are the engine's, with the image's defaults already
// merged in; ImageDefaults holds those defaults so that a comparison can
// tell what the image brought from what the service asked for.
type InspectedSpec struct {
	Image       string // the reference it was created from
	Command     []string
	Entrypoint  []string
	Env         []string // KEY=VALUE
	WorkingDir  string
	User        string
	Ports       []PublishedPort
	Restart     string // no, always, unless-stopped, on-failure:3
	Mounts      []SpecMount
	Labels      map[string]string   // without com.docker.compose.* and io.drover.*
	Networks    map[string][]string // network name → aliases
	Healthcheck *SpecHealth
	// ImageDefaults is the configuration of the image the container runs.
	ImageDefaults ImageDefaults
}

// PublishedPort is one host binding asked for at creation (what was asked,
// not the port the engine picked for an empty HostPort).
type PublishedPort struct {
	HostIP   string
	HostPort string // "" when the engine picks one
	Target   int
	Protocol string
}

func (p PublishedPort) String() string {
	host := p.HostPort
	if p.HostIP != "" {
		host = p.HostIP + ":" + host
	}
	if host == "" {
		return fmt.Sprintf("%d/%s", p.Target, p.Protocol)
	}
	return fmt.Sprintf("%s:%d/%s", host, p.Target, p.Protocol)
}

// SpecMount is one mount: a bind, a volume (Source "" when anonymous) or a
// tmpfs.
type SpecMount struct {
	Type     string // bind, volume, tmpfs
	Source   string
	Target   string
	ReadOnly bool
}

func (m SpecMount) String() string {
	s := fmt.Sprintf("%s %s:%s", m.Type, m.Source, m.Target)
	if m.ReadOnly {
		s += ":ro"
	}
	return s
}

// SpecHealth is the part of a health check drover compares.
type SpecHealth struct {
	Test     []string
	Interval time.Duration
	Timeout  time.Duration
	Retries  int
}

func (h *SpecHealth) String() string {
	if h == nil {
		return ""
	}
	return fmt.Sprintf("test=%s interval=%s timeout=%s retries=%d", jsonList(h.Test), h.Interval, h.Timeout, h.Retries)
}

// ImageDefaults is what an image gives a container that does not set it.
type ImageDefaults struct {
	Cmd         []string
	Entrypoint  []string
	Env         []string
	WorkingDir  string
	User        string
	Labels      map[string]string
	Volumes     []string // VOLUME targets: anonymous volumes unless mounted over
	Healthcheck *SpecHealth
}

// SpecFromConfig reads a container configuration, the engine's or drover's
// own create request, into the form both are compared in. Reading both
// sides with one function keeps format differences (Binds against Mounts,
// a port map against a list) out of the comparison.
func SpecFromConfig(cfg *container.Config, host *container.HostConfig, nets map[string]*network.EndpointSettings) InspectedSpec {
	if cfg == nil {
		cfg = &container.Config{}
	}
	if host == nil {
		host = &container.HostConfig{}
	}
	s := InspectedSpec{
		Image:      cfg.Image,
		Command:    cfg.Cmd,
		Entrypoint: cfg.Entrypoint,
		Env:        cfg.Env,
		WorkingDir: cfg.WorkingDir,
		User:       cfg.User,
		Restart:    FormatRestartPolicy(host.RestartPolicy),
		Labels:     serviceLabels(cfg.Labels),
		Networks:   map[string][]string{},
		Mounts:     specMounts(cfg, host),
	}
	for port, bindings := range host.PortBindings {
		for _, b := range bindings {
			s.Ports = append(s.Ports, PublishedPort{HostIP: b.HostIP, HostPort: b.HostPort, Target: port.Int(), Protocol: port.Proto()})
		}
	}
	for name, ep := range nets {
		var aliases []string
		if ep != nil {
			aliases = slices.Clone(ep.Aliases)
		}
		s.Networks[name] = aliases
	}
	if h := cfg.Healthcheck; h != nil {
		s.Healthcheck = &SpecHealth{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, Retries: h.Retries}
	}
	return s
}

// serviceLabels drops the labels that are a tool's bookkeeping (docker
// compose's or drover's) rather than the service's own.
func serviceLabels(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if !strings.HasPrefix(k, "com.docker.compose.") && !strings.HasPrefix(k, "io.drover.") {
			out[k] = v
		}
	}
	return out
}

// specMounts lists the mounts of a configuration: the
// legacy Binds (docker-compose 1.29 puts named volumes there too), Mounts,
// Tmpfs, and the Volumes targets that none of them covers, which the engine
// makes anonymous volumes.
func specMounts(cfg *container.Config, host *container.HostConfig) []SpecMount {
	var out []SpecMount
	covered := map[string]bool{}
	add := func(m SpecMount) {
		out = append(out, m)
		covered[m.Target] = true
	}
	for _, b := range host.Binds {
		parts := strings.Split(b, ":")
		if len(parts) < 2 {
			continue
		}
		m := SpecMount{Type: "volume", Source: parts[0], Target: parts[1]}
		if strings.HasPrefix(m.Source, "/") {
			m.Type = "bind"
		}
		if len(parts) > 2 {
			m.ReadOnly = slices.Contains(strings.Split(parts[2], ","), "ro")
		}
		add(m)
	}
	for _, m := range host.Mounts {
		add(SpecMount{Type: string(m.Type), Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly})
	}
	for target := range host.Tmpfs {
		add(SpecMount{Type: "tmpfs", Target: target})
	}
	for target := range cfg.Volumes {
		if !covered[target] {
			add(SpecMount{Type: "volume", Target: target})
		}
	}
	return out
}

// Adopted returns, by service, the newest container of each service of the
// files that another tool made (it has no io.drover.spec) and whose config
// hash is not the files': the containers whose inspect data diff reads to
// say key by key what drover would change. It picks the container Diff
// reports on, so the two accounts are of one container.
func Adopted(p *compose.Project, obs Observed) map[string]Container {
	out := map[string]Container{}
	groups := byService(obs.Containers)
	for _, svc := range p.Services {
		view := viewOf(groups[svc.Name], svc.Scale)
		if len(view.Current) == 0 {
			continue
		}
		c := view.Current[0]
		if _, ok := c.Labels[LabelSpec]; !ok && c.Hash != svc.Hash {
			out[svc.Name] = c
		}
	}
	return out
}

// WithInspected returns d with the key-by-key changes between the adopted
// container c (as inspected: got) and the container drover would create for
// the service; keys d already names (image) are not repeated.
func WithInspected(p *compose.Project, d ServiceDiff, c Container, got InspectedSpec, apiVersion string) (ServiceDiff, error) {
	svc, ok := p.Service(d.Service)
	if !ok {
		return d, fmt.Errorf("no such service: %q", d.Service)
	}
	more, err := InspectedChanges(p, svc, c, got, apiVersion)
	if err != nil {
		return d, err
	}
	out := d
	out.Changes = slices.Clone(d.Changes)
	for _, ch := range more {
		if !slices.ContainsFunc(out.Changes, func(x Change) bool { return x.Key == ch.Key }) {
			out.Changes = append(out.Changes, ch)
		}
	}
	return out, nil
}

// InspectedChanges compares a container another tool made (got, from its
// inspect data) with the container drover would create for svc in its slot,
// key by key, with the keys and forms of DiffSpecs: Old is the container's
// value, New drover's. What is drover's own doing is left out: its labels,
// the alias it gives every container, and the restart policy of a container
// under its revision's name (pending or kept: drover runs those with policy
// "no"). The image's defaults are merged into drover's side as the engine
// would merge them, so a value the image brings is no difference.
func InspectedChanges(p *compose.Project, svc compose.Service, c Container, got InspectedSpec, apiVersion string) ([]Change, error) {
	if svc.Proxy && slices.ContainsFunc(got.Ports, func(p PublishedPort) bool { return p.HostPort != "" }) {
		// It keeps its ports until up --upgrade moves it behind the
		// proxy; the move is told apart (movingNote), not as a change.
		svc.Proxy = false
	}
	revision := c.Revision + 1
	req, _, err := newCreateRequest(specInput{project: p, service: svc, number: c.Number, revision: revision, apiVersion: apiVersion})
	if err != nil {
		return nil, fmt.Errorf("service %q: the container drover would create: %w", svc.Name, err)
	}
	want := withImageDefaults(SpecFromConfig(req.Config, req.HostConfig, requestNetworks(req)), got.ImageDefaults)
	own := PendingName(req.Name, revision)
	for name, aliases := range want.Networks {
		want.Networks[name] = slices.DeleteFunc(slices.Clone(aliases), func(a string) bool { return a == own })
	}
	got = withoutEngineAliases(got, c)
	if c.Name == KeptName(c.Name, c.Revision) {
		want.Restart = got.Restart
	}
	return compareSpecs(got, want), nil
}

// requestNetworks is every network a create request attaches to; in a
// network mode without endpoints (host, none, bridge) the engine reports the
// mode as the network.
func requestNetworks(req CreateRequest) map[string]*network.EndpointSettings {
	out := map[string]*network.EndpointSettings{}
	if req.Networking != nil {
		for name, ep := range req.Networking.EndpointsConfig {
			out[name] = ep
		}
	}
	for name, ep := range req.ExtraNetworks {
		out[name] = ep
	}
	mode := container.NetworkMode("")
	if req.HostConfig != nil {
		mode = req.HostConfig.NetworkMode
	}
	switch {
	case len(out) > 0 || mode.IsContainer():
	case mode == "" || mode.IsDefault():
		out["bridge"] = nil
	default:
		out[string(mode)] = nil
	}
	return out
}

// withoutEngineAliases drops the aliases the engine (its short ID) or docker
// compose (its name) give a container on its own.
func withoutEngineAliases(s InspectedSpec, c Container) InspectedSpec {
	nets := make(map[string][]string, len(s.Networks))
	for name, aliases := range s.Networks {
		nets[name] = slices.DeleteFunc(slices.Clone(aliases), func(a string) bool {
			return a == c.Name || (len(a) >= 12 && strings.HasPrefix(c.ID, a))
		})
	}
	s.Networks = nets
	return s
}

// withImageDefaults is what the engine makes of a create request on an
// image: the rules of the engine's own merge (daemon/commit.go). The
// request's environment wins key by key; an entrypoint set in the request
// drops the image's command too.
func withImageDefaults(s InspectedSpec, img ImageDefaults) InspectedSpec {
	if s.User == "" {
		s.User = img.User
	}
	if s.WorkingDir == "" {
		s.WorkingDir = img.WorkingDir
	}
	env, asked := slices.Clone(s.Env), envMap(s.Env)
	for _, kv := range img.Env {
		if _, ok := asked[envKey(kv)]; !ok {
			env = append(env, kv)
		}
	}
	s.Env = env
	labels := serviceLabels(img.Labels)
	for k, v := range s.Labels {
		labels[k] = v
	}
	s.Labels = labels
	if len(s.Entrypoint) == 0 {
		if len(s.Command) == 0 {
			s.Command = img.Cmd
		}
		if s.Entrypoint == nil {
			s.Entrypoint = img.Entrypoint
		}
	}
	if h := img.Healthcheck; h != nil {
		if s.Healthcheck == nil {
			s.Healthcheck = h
		} else {
			merged := *s.Healthcheck
			if len(merged.Test) == 0 {
				merged.Test = h.Test
			}
			if merged.Interval == 0 {
				merged.Interval = h.Interval
			}
			if merged.Timeout == 0 {
				merged.Timeout = h.Timeout
			}
			if merged.Retries == 0 {
				merged.Retries = h.Retries
			}
			s.Healthcheck = &merged
		}
	}
	mounts := slices.Clone(s.Mounts)
	for _, target := range img.Volumes {
		if !slices.ContainsFunc(s.Mounts, func(m SpecMount) bool { return m.Target == target }) {
			mounts = append(mounts, SpecMount{Type: "volume", Target: target})
		}
	}
	s.Mounts = mounts
	return s
}

// compareSpecs lists the keys where got (the container) and want (drover's)
// differ, in the compose file's key names.
func compareSpecs(got, want InspectedSpec) []Change {
	var out []Change
	add := func(key, old, new string) {
		if old != new {
			out = append(out, Change{Key: key, Old: old, New: new})
		}
	}
	add("image", NormalizeRef(got.Image), NormalizeRef(want.Image))
	add("command", jsonList(got.Command), jsonList(want.Command))
	add("entrypoint", jsonList(got.Entrypoint), jsonList(want.Entrypoint))
	out = append(out, envChanges(got.Env, want.Env)...)
	add("working_dir", got.WorkingDir, want.WorkingDir)
	add("user", got.User, want.User)
	add("ports", joined(got.Ports), joined(want.Ports))
	add("restart", got.Restart, want.Restart)
	add("volumes", joined(got.Mounts), joined(want.Mounts))
	add("labels", jsonValue(serviceLabels(got.Labels)), jsonValue(serviceLabels(want.Labels)))
	add("networks", networkList(got.Networks), networkList(want.Networks))
	add("healthcheck", got.Healthcheck.String(), want.Healthcheck.String())
	return out
}

// envChanges compares two environments variable by variable, each change
// secret, as DiffSpecs does.
func envChanges(got, want []string) []Change {
	a, b := envMap(got), envMap(want)
	var out []Change
	for _, k := range unionKeys(a, b) {
		if string(a[k]) != string(b[k]) {
			out = append(out, Change{Key: "environment." + k, Old: string(a[k]), New: string(b[k]), Secret: true})
		}
	}
	return out
}

// envMap keys KEY=VALUE entries by KEY (a json.RawMessage only to share
// unionKeys with DiffSpecs).
func envMap(env []string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(env))
	for _, kv := range env {
		_, v, _ := strings.Cut(kv, "=")
		out[envKey(kv)] = json.RawMessage(v)
	}
	return out
}

func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

func jsonList(xs []string) string {
	if len(xs) == 0 {
		return ""
	}
	return jsonValue(xs)
}

func jsonValue(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if s := string(b); s != "{}" && s != "null" {
		return s
	}
	return ""
}

// networkList renders networks and their aliases: "proj_default (web, db)".
func networkList(nets map[string][]string) string {
	var parts []string
	for _, name := range sortedKeys(nets) {
		if len(nets[name]) == 0 {
			parts = append(parts, name)
			continue
		}
		aliases := slices.Sorted(slices.Values(nets[name]))
		parts = append(parts, fmt.Sprintf("%s (%s)", name, strings.Join(aliases, ", ")))
	}
	return strings.Join(parts, ", ")
}

// joined renders a list in a fixed order, so that the order the engine
// reports it in is no difference.
func joined[T fmt.Stringer](xs []T) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = x.String()
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

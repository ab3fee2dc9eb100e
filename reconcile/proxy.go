package reconcile

import (
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/mount"
	"github.com/docker/docker/api/types/network"

	"github.com/drover/drover/compose"
)

// The front proxy: a container per project, run from an image drover builds
// out of its own binary, that owns the published host ports of the services
// that ask for it (x-drover: {proxy: true}). drover pushes its backend table
// (ProxyApply, through an exec of the proxy's own binary in its container);
// the proxy never watches the engine. The table is derived from the
// containers: Observe reads the proxy's table, the planners push what the
// containers say it should be, so a run killed between steps is repaired by
// the next one.
const (
	// LabelProxy marks a project's proxy container; its value is the routes
	// (JSON), so that a rollback without files knows them.
	LabelProxy = "io.drover.proxy"
	// ProxySocket and ProxyState are where the proxy keeps its control
	// socket and its table inside its container.
	ProxySocket = "/run/drover-proxy.sock"
	ProxyState  = "/var/lib/drover-proxy/table.json"
	// DefaultDrainTimeout bounds how long a switch waits for the
	// connections of the backends it takes out (drain_timeout_ms).
	DefaultDrainTimeout = 30 * time.Second
	// ProxyMaxPause bounds how long a stop-first switch holds new
	// connections while no backend serves.
	ProxyMaxPause = 30 * time.Second
)

// ProxyImage is the image of the proxy when the engine names none: drover's
// own binary, tagged with drover's version. The engine tags it with the
// binary's digest too (Observed.ProxyImage), so that a rebuilt drover
// brings its own proxy.
const ProxyImage = "drover-proxy:" + Version

func proxyImage(obs Observed) string {
	if obs.ProxyImage != "" {
		return obs.ProxyImage
	}
	return ProxyImage
}

// ProxyName is the name of a project's proxy container.
func ProxyName(project string) string { return project + "-proxy" }

// The proxy's published ports are opened on the host by a second, tiny
// container on the host network (the launcher, drover proxy ports), which
// hands the listening sockets to the proxy over a unix socket on a volume
// both mount. Had Docker published them, a client on the host would go
// through docker-proxy and then the proxy: two hops in user space, where a
// port published directly has one. The proxy itself stays on the project's
// networks, where backends are reached by name and load balancers' internal
// ports by the balancer's name.
const (
	// LabelProxyPorts, on the launcher, lists the host addresses it opens
	// (JSON); on a proxy, it says the proxy takes its ports from the
	// launcher (a proxy of an older drover has Docker publish them).
	LabelProxyPorts = "io.drover.proxy-ports"
	// ProxyPortsSocket is where the launcher hands the sockets over.
	ProxyPortsSocket = proxyShareDir + "/ports.sock"
	proxyShareDir    = "/run/drover-proxy"
)

// ProxyPortsName is the name of a project's launcher container.
func ProxyPortsName(project string) string { return project + "-proxy-ports" }

// LauncherPorts are the host ports a launcher opens for the proxy, as ps
// shows published ports (127.0.0.1:8991->8991/tcp).
func LauncherPorts(launcher *Container) []string {
	if launcher == nil {
		return nil
	}
	var addrs, out []string
	_ = json.Unmarshal([]byte(launcher.Labels[LabelProxyPorts]), &addrs)
	for _, a := range addrs {
		host, port, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		if host == "" {
			host = "0.0.0.0"
		}
		out = append(out, fmt.Sprintf("%s:%s->%s/tcp", host, port, port))
	}
	return out
}

// ProxyVolume is the volume the proxy and its launcher share.
func ProxyVolume(project string) string { return project + "_drover-proxy" }

// proxyAddrs are the host addresses of the routes the proxy publishes.
func proxyAddrs(routes []ProxyRoute) []string {
	out := []string{}
	for _, r := range routes {
		if !r.Internal {
			out = append(out, net.JoinHostPort(r.HostIP, strconv.Itoa(r.Listen)))
		}
	}
	return out
}

// ProxyRoute is one published port the proxy owns.
type ProxyRoute struct {
	Listen  int    `json:"listen"`
	HostIP  string `json:"host_ip,omitempty"`
	Service string `json:"service"`
	Target  int    `json:"target"`
	Mode    string `json:"mode"` // tcp or http
	// Rules are a load balancer's (Service) on this port; Target is then 0.
	Rules []ProxyRule `json:"rules,omitempty"`
	// Internal: the proxy listens on the port without publishing it; the
	// project's services reach it by the balancer's name.
	Internal bool `json:"internal,omitempty"`
}

// The proxy's control protocol, as JSON (package proxy holds the server).
type (
	ProxyBackend struct {
		Addr  string `json:"addr"`
		State string `json:"state"` // serving or draining
	}
	ProxyTableRoute struct {
		Listen   int            `json:"listen"`
		Mode     string         `json:"mode"`
		Backends []ProxyBackend `json:"backends"`
		Paused   bool           `json:"paused"`
		Rules    []ProxyRule    `json:"rules,omitempty"`
	}
	ProxyTable struct {
		Generation int64               `json:"generation"`
		Routes     []ProxyTableRoute   `json:"routes"`
		Sets       map[string]ProxySet `json:"sets,omitempty"`
	}
)

// ProxyApply sets the routes and backend sets of one service in the proxy
// (the others are left as they are) and, when some of its backends are
// draining, returns once their connections are done or the drain timeout
// has passed.
type ProxyApply struct {
	Container    string
	Routes       []ProxyTableRoute
	Sets         map[string]ProxySet
	DrainTimeout time.Duration
}

func (ProxyApply) Kind() string { return "proxy-switch" }

// proxyRoutes lists the published ports of the proxied services.
func proxyRoutes(p *compose.Project) []ProxyRoute {
	var out []ProxyRoute
	for _, svc := range p.Services {
		if !svc.Proxy {
			continue
		}
		for _, port := range svc.Config.Ports {
			if port.Published == "" {
				continue
			}
			listen, err := strconv.Atoi(port.Published)
			if err != nil {
				continue // a range: refused by checkProxyPorts
			}
			mode := "tcp"
			if port.AppProtocol == "http" {
				mode = "http"
			}
			out = append(out, ProxyRoute{Listen: listen, HostIP: port.HostIP, Service: svc.Name, Target: int(port.Target), Mode: mode})
		}
	}
	return append(out, balancerRoutes(p)...)
}

// RoutesOf reads the routes a proxy container was made with.
func RoutesOf(proxy *Container) []ProxyRoute {
	if proxy == nil {
		return nil
	}
	var out []ProxyRoute
	_ = json.Unmarshal([]byte(proxy.Labels[LabelProxy]), &out)
	return out
}

// BackendHost is the name a container answers to on its networks whatever
// it is renamed to: an alias set at creation, its slot and revision.
func BackendHost(c Container) string {
	return PendingName(canonicalName(c.Name), c.Revision)
}

// serviceRoutes are the proxy routes of one service with its backends:
// serving ones, then draining ones.
func serviceRoutes(routes []ProxyRoute, service string, serving, draining []Container, paused bool) []ProxyTableRoute {
	var out []ProxyTableRoute
	for _, r := range routes {
		if r.Service != service || r.Rules != nil {
			continue
		}
		tr := ProxyTableRoute{Listen: r.Listen, Mode: r.Mode, Paused: paused, Backends: []ProxyBackend{}}
		for _, c := range serving {
			tr.Backends = append(tr.Backends, ProxyBackend{Addr: fmt.Sprintf("%s:%d", BackendHost(c), r.Target), State: "serving"})
		}
		for _, c := range draining {
			tr.Backends = append(tr.Backends, ProxyBackend{Addr: fmt.Sprintf("%s:%d", BackendHost(c), r.Target), State: "draining"})
		}
		out = append(out, tr)
	}
	return out
}

// servingNow is what serves a service as its containers stand: the running
// ones that hold their slot's name.
func servingNow(cs []Container) []Container {
	var out []Container
	for _, c := range cs {
		if c.Running() && Passed(c) && c.Labels[LabelProxy] == "" {
			out = append(out, c)
		}
	}
	return out
}

// proxyInSync reports whether the table the proxy holds routes a service's
// ports (and its sets in the balancers' rules) to what its containers say
// serves (servingNow of cs).
func proxyInSync(obs Observed, routes []ProxyRoute, service string, cs []Container) bool {
	if !setsInSync(obs, routes, service, cs) {
		return false
	}
	have := map[int]ProxyTableRoute{}
	for _, r := range obs.ProxyTable.Routes {
		have[r.Listen] = r
	}
	for _, w := range serviceRoutes(routes, service, servingNow(cs), nil, false) {
		h, ok := have[w.Listen]
		if !ok || h.Paused != w.Paused || !slices.Equal(h.Backends, w.Backends) {
			return false
		}
	}
	return true
}

// proxySetup are the steps that give a project that needs one its proxy:
// the image (built from drover's own binary), the container, started. A
// running proxy is replaced only when asked (recreate): its ports close
// meanwhile. Without asking, a proxy whose ports no longer match the files
// is left as it is, and the note says so; one made by another drover build
// is kept, since it speaks the same control protocol.
func proxySetup(p *compose.Project, obs Observed, recreate bool) (steps []Step, notes []string, err error) {
	if !p.NeedsProxy() {
		return nil, nil, nil
	}
	routes := proxyRoutes(p)
	image := proxyImage(obs)
	create, err := proxyCreateSteps(p, obs, routes, "owns the published ports")
	if err != nil {
		return nil, nil, err
	}
	name := ProxyName(p.Name)
	px := obs.Proxy
	portsChanged := px != nil && px.Labels[LabelProxy] != routesLabel(routes)
	// A proxy of an older drover that routes by port only would take a
	// table with rules and drop them: it is replaced, when asked, or the
	// plan is refused before any change.
	tooOld := px != nil && px.Running() && len(p.Balancers) > 0 && obs.ProxyProtocol < ProxyRulesProtocol
	if tooOld && !recreate {
		return nil, nil, fmt.Errorf("%s: the running front proxy was made by an older drover and cannot route by load-balancer rules (%s); run drover up --recreate-proxy to replace it: its ports close for about a second", name, strings.Join(balancerNames(p), ", "))
	}
	replace := px != nil && recreate && (portsChanged || px.Image != image || tooOld)
	if portsChanged && !recreate {
		notes = append(notes, fmt.Sprintf("%s: its published ports are not the files' (it has %s, the files ask for %s); run drover up --recreate-proxy to replace it: the ports close for about a second", name, routeList(RoutesOf(px)), routeList(routes)))
	}
	if (px == nil || replace) && obs.Images[image] == "" {
		steps = append(steps, Step{Target: image, Reason: "the front proxy, from drover's own binary", Action: BuildProxyImage{Tag: image}})
	}
	switch {
	case px == nil:
		// A launcher left without its proxy (a run killed between the
		// two) holds the ports: it goes, and comes again with the proxy.
		steps = append(append(steps, proxyRemoveSteps(obs, "made again with the proxy")...), create...)
	case replace:
		steps = append(append(steps, proxyRemoveSteps(obs, "--recreate-proxy: the ports close until it is back")...), create...)
	default:
		steps = append(steps, launcherRepair(px, obs.ProxyPorts, create[:len(create)-2])...)
		if !px.Running() {
			steps = append(steps, Step{Target: name, Reason: "stopped", Action: StartContainer{Ref: px.ID}})
		}
	}
	if replace {
		obs.Proxy = nil // a new proxy holds no table
	}
	return append(steps, balancerSwitch(p, obs, routes)...), notes, nil
}

// launcherRepair are the steps that give a proxy that takes its ports from
// a launcher a running one: made (create, its steps) when it is missing,
// started when it stopped. A proxy of an older drover, whose ports Docker
// publishes, has none.
func launcherRepair(px, launcher *Container, create []Step) []Step {
	if _, ok := px.Labels[LabelProxyPorts]; !ok {
		return nil
	}
	switch {
	case launcher == nil:
		return create
	case !launcher.Running():
		return []Step{{Target: launcher.Name, Reason: "stopped", Action: StartContainer{Ref: launcher.ID}}}
	}
	return nil
}

func balancerNames(p *compose.Project) []string {
	var out []string
	for _, b := range p.Balancers {
		out = append(out, b.Name)
	}
	return out
}

func routeList(routes []ProxyRoute) string {
	if len(routes) == 0 {
		return "none"
	}
	var parts []string
	for _, r := range routes {
		parts = append(parts, fmt.Sprintf("%d → %s:%d", r.Listen, r.Service, r.Target))
	}
	return strings.Join(parts, ", ")
}

// proxyRequest is the proxy container: it joins the networks of the
// services it fronts, listens on every route's port inside, takes its
// published ports from its launcher (it publishes none through Docker),
// restarts by itself with the engine, and mounts only the volume it shares
// with the launcher.
func proxyRequest(p *compose.Project, routes []ProxyRoute, image string) (CreateRequest, error) {
	labels := map[string]string{
		LabelProject: p.Name, LabelProxy: routesLabel(routes), LabelVersion: Version,
		LabelWorkingDir: p.WorkingDir,
	}
	cfg := &container.Config{
		Image: image, Labels: labels,
		Cmd: []string{"proxy", "serve", "--state", ProxyState, "--control", ProxySocket},
	}
	host := &container.HostConfig{RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped}}
	if len(proxyAddrs(routes)) > 0 {
		// Its host ports come from its launcher (proxyPortsRequest).
		labels[LabelProxyPorts] = ProxyPortsName(p.Name)
		cfg.Cmd = append(cfg.Cmd, "--ports", ProxyPortsSocket)
		host.Mounts = []mount.Mount{{Type: mount.TypeVolume, Source: ProxyVolume(p.Name), Target: proxyShareDir}}
	}
	req := CreateRequest{Name: ProxyName(p.Name), Config: cfg, HostConfig: host}
	var nets []string
	for _, svc := range p.Services {
		if !svc.Proxy && svc.Rancher.HealthCheck == nil && !fronted(routes, svc.Name) {
			continue
		}
		for _, key := range svc.Config.NetworksByPriority() {
			if n, ok := p.Compose.Networks[key]; ok && !slices.Contains(nets, n.Name) {
				nets = append(nets, n.Name)
			}
		}
	}
	// The balancers' names resolve to the proxy, as they resolved to
	// Rancher's haproxy containers: services reach an internal port (or a
	// published one) as lb:80.
	aliases := balancerNames(p)
	for i, n := range nets {
		if i == 0 {
			host.NetworkMode = container.NetworkMode(n)
			req.Networking = &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{n: {Aliases: aliases}}}
			continue
		}
		if req.ExtraNetworks == nil {
			req.ExtraNetworks = map[string]*network.EndpointSettings{}
		}
		req.ExtraNetworks[n] = &network.EndpointSettings{Aliases: aliases}
	}
	return req, nil
}

// routesLabel is the proxy's LabelProxy: its routes, so that a rollback
// without files knows them.
func routesLabel(routes []ProxyRoute) string {
	data, _ := json.Marshal(routes) // plain structs: cannot fail
	return string(data)
}

// proxyPortsRequest is the launcher: on the host network, it opens the
// routes' host ports and hands them to the proxy; it restarts with the
// engine, and mounts only the volume it shares with the proxy.
func proxyPortsRequest(p *compose.Project, routes []ProxyRoute, image string) (CreateRequest, error) {
	addrs := proxyAddrs(routes)
	data, err := json.Marshal(addrs)
	if err != nil {
		return CreateRequest{}, err
	}
	cmd := []string{"proxy", "ports", "--socket", ProxyPortsSocket}
	for _, a := range addrs {
		cmd = append(cmd, "--listen", a)
	}
	return CreateRequest{
		Name: ProxyPortsName(p.Name),
		Config: &container.Config{Image: image, Cmd: cmd, Labels: map[string]string{
			LabelProject: p.Name, LabelProxyPorts: string(data), LabelVersion: Version, LabelWorkingDir: p.WorkingDir,
		}},
		HostConfig: &container.HostConfig{
			NetworkMode:   network.NetworkHost,
			RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
			Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: ProxyVolume(p.Name), Target: proxyShareDir}},
		},
	}, nil
}

// proxyCreateSteps make and start the proxy and its launcher: the volume
// they share (labelled as the project's) unless it exists, then the
// launcher, so that the proxy finds its ports at once, then the proxy. A
// proxy with nothing to publish has no launcher.
func proxyCreateSteps(p *compose.Project, obs Observed, routes []ProxyRoute, reason string) ([]Step, error) {
	image := proxyImage(obs)
	req, err := proxyRequest(p, routes, image)
	if err != nil {
		return nil, err
	}
	ports, err := proxyPortsRequest(p, routes, image)
	if err != nil {
		return nil, err
	}
	steps := []Step{
		{Target: req.Name, Reason: reason, Action: CreateContainer{Request: req}},
		{Target: req.Name, Action: StartContainer{Ref: req.Name}},
	}
	if len(proxyAddrs(routes)) == 0 {
		return steps, nil // nothing to publish: no launcher
	}
	var launcher []Step
	if v := ProxyVolume(p.Name); !obs.Volumes[v] {
		launcher = append(launcher, Step{Target: v, Reason: "the proxy and its launcher share it", Action: CreateVolume{Spec: VolumeSpec{Name: v, Labels: map[string]string{LabelProject: p.Name, LabelProxyPorts: ""}}}})
	}
	return append(append(launcher,
		Step{Target: ports.Name, Reason: "opens the published ports on the host", Action: CreateContainer{Request: ports}},
		Step{Target: ports.Name, Action: StartContainer{Ref: ports.Name}}), steps...), nil
}

// proxyRemoveSteps remove the proxy and its launcher: the proxy first, so
// that it never runs without its ports while it still takes connections.
func proxyRemoveSteps(obs Observed, reason string) []Step {
	var steps []Step
	if obs.Proxy != nil {
		steps = append(steps, Step{Target: obs.Proxy.Name, Reason: reason, Action: RemoveContainer{Ref: obs.Proxy.ID}})
	}
	if obs.ProxyPorts != nil {
		steps = append(steps, Step{Target: obs.ProxyPorts.Name, Reason: reason, Action: RemoveContainer{Ref: obs.ProxyPorts.ID}})
	}
	return steps
}

// BuildProxyImage builds the proxy's image from drover's own binary.
type BuildProxyImage struct{ Tag string }

func (BuildProxyImage) Kind() string { return "build-proxy" }

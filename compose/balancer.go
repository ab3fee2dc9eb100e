package compose

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Load-balancer services. Rancher ran a service of image
// rancher/lb-service-haproxy (1.2 and later, rules in lb_config) or
// rancher/load-balancer-service (1.1, rules from links, ports and labels,
// settings in load_balancer_config) as haproxy containers. drover runs no
// such container: its front proxy owns the balancer's ports and routes them
// by the same rules, to the target services' containers.

// Balancer images, without tag or registry.
const (
	ImageLBHAProxy = "rancher/lb-service-haproxy"
	ImageLBLegacy  = "rancher/load-balancer-service"
)

// Balancer is a load-balancer service, resolved against the project.
type Balancer struct {
	Name  string
	Rules []BalancerRule
	// NoEffect explains what of the service means nothing once the proxy
	// serves it (its container settings, its own health check).
	NoEffect []string
}

// BalancerRule is one port rule: what arrives on a host port (and, for HTTP,
// with a host and path) goes to a target service's port.
type BalancerRule struct {
	Listen   int    `json:"listen"` // the host port, which the proxy owns
	HostIP   string `json:"host_ip,omitempty"`
	Source   int    `json:"source_port"` // as the files say it: the balancer's port
	Service  string `json:"service"`
	Target   int    `json:"target_port"`
	Protocol string `json:"protocol"` // http or tcp
	Hostname string `json:"hostname,omitempty"`
	Path     string `json:"path,omitempty"`
	Priority int    `json:"priority,omitempty"`
	// Internal: the port is in expose:, not published; the project's
	// services reach it by the balancer's name.
	Internal bool `json:"internal,omitempty"`
}

// TargetServices are the services the balancer's rules send to, sorted.
func (b Balancer) TargetServices() []string {
	var out []string
	for _, r := range b.Rules {
		if !slices.Contains(out, r.Service) {
			out = append(out, r.Service)
		}
	}
	sort.Strings(out)
	return out
}

// Balancer returns the named load-balancer service, and whether it is one.
func (p *Project) Balancer(name string) (Balancer, bool) {
	for _, b := range p.Balancers {
		if b.Name == name {
			return b, true
		}
	}
	return Balancer{}, false
}

// keyAt is an error at a key of a service in the compose files.
func keyAt(srcs sources, service, key, msg string) error {
	m := srcs.locate("services."+service+"."+key, "")
	return errorAt(m.file, m.line, []string{"services", service, key}, msg)
}

// isBalancer reports whether a service is a load balancer: its image is
// one of Rancher's, or rancher-compose.yml gives it balancer settings.
func isBalancer(cfg types.ServiceConfig, rs RancherService) bool {
	switch imageName(cfg.Image) {
	case ImageLBHAProxy, ImageLBLegacy:
		return true
	}
	return rs.LBConfig != nil || rs.LegacyLB != nil
}

// imageName is an image reference without registry, tag or digest.
func imageName(ref string) string {
	ref, _, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	for _, prefix := range []string{"docker.io/", "index.docker.io/"} {
		ref = strings.TrimPrefix(ref, prefix)
	}
	return ref
}

// lbPort is one of the balancer's ports: the host port the proxy listens
// on, and the port the files name it by.
type lbPort struct {
	listen, source int
	hostIP         string
	target         int  // Rancher 1.1: the targets' port by default
	tcp            bool // Rancher 1.1: written "/tcp", so not HTTP
	internal       bool // in expose: only: not published on the host
}

// balancerPorts reads the balancer's ports: and expose:. A port without a
// host port takes its own number on the host, as Rancher published it. A
// port in expose: is internal: the proxy listens on it, and the project's
// services reach it as <balancer>:<port>; Rancher 1.1's "80:8080" there
// listens on 80 and sends to the targets' 8080.
func balancerPorts(cfg types.ServiceConfig, srcs sources) ([]lbPort, error) {
	var out []lbPort
	for i, p := range cfg.Ports {
		key := fmt.Sprintf("ports.%d", i)
		if p.Protocol == "udp" {
			return nil, keyAt(srcs, cfg.Name, key, "a load balancer served by drover's proxy forwards TCP only, not udp")
		}
		listen := int(p.Target)
		if p.Published != "" {
			n, err := strconv.Atoi(p.Published)
			if err != nil {
				return nil, keyAt(srcs, cfg.Name, key, fmt.Sprintf("host port %q: a load balancer needs one fixed host port per port, not a range", p.Published))
			}
			listen = n
		}
		lp := lbPort{listen: listen, source: int(p.Target), hostIP: p.HostIP, target: int(p.Target)}
		if m := srcs.locate("services."+cfg.Name+"."+key, ""); m.complete && m.node != nil {
			lp.tcp = strings.HasSuffix(strings.TrimSpace(m.node.Value), "/tcp")
		}
		out = append(out, lp)
	}
	for i, e := range cfg.Expose {
		spec, proto, _ := strings.Cut(e, "/")
		listen, target, _ := strings.Cut(spec, ":")
		if target == "" {
			target = listen
		}
		l, err1 := strconv.Atoi(listen)
		t, err2 := strconv.Atoi(target)
		if err1 != nil || err2 != nil || l < 1 || l > 65535 || t < 1 || t > 65535 {
			return nil, keyAt(srcs, cfg.Name, fmt.Sprintf("expose.%d", i), fmt.Sprintf("%q: a load balancer's internal port is PORT or PORT:TARGET", e))
		}
		if proto == "udp" {
			return nil, keyAt(srcs, cfg.Name, fmt.Sprintf("expose.%d", i), "a load balancer served by drover's proxy forwards TCP only, not udp")
		}
		if slices.ContainsFunc(out, func(p lbPort) bool { return p.source == l || p.listen == l }) {
			continue
		}
		out = append(out, lbPort{listen: l, source: l, target: t, tcp: proto == "tcp", internal: true})
	}
	return out, nil
}

// newBalancer resolves a load-balancer service's rules: lb_config's
// port_rules, or, for a Rancher 1.1 balancer, its links, ports and
// io.rancher.loadbalancer.target.* labels. What drover cannot serve is an
// error naming the file, line, service and key.
func newBalancer(cp *types.Project, cfg types.ServiceConfig, rs RancherService, rancherFile string, srcs sources) (Balancer, error) {
	b := Balancer{Name: cfg.Name}
	if err := refuseUnservable(cfg, rs, rancherFile, srcs); err != nil {
		return b, err
	}
	ports, err := balancerPorts(cfg, srcs)
	if err != nil {
		return b, err
	}
	if rs.LBConfig != nil {
		b.Rules, err = portRules(cp, cfg, rs.LBConfig, ports, rancherFile)
	} else {
		b.Rules, err = legacyRules(cp, cfg, ports, srcs)
	}
	if err != nil {
		return b, err
	}
	if err := sameProtocolPerPort(b, rs, rancherFile, srcs); err != nil {
		return b, err
	}
	b.NoEffect = balancerNoEffect(cfg, rs)
	return b, nil
}

// refuseUnservable refuses what the proxy cannot do: TLS termination
// (certificates), raw haproxy configuration and cookie stickiness, each
// of which would change what clients get if it were dropped.
func refuseUnservable(cfg types.ServiceConfig, rs RancherService, rancherFile string, srcs sources) error {
	at := func(line int, key, msg string) error {
		return &FileError{File: displayPath(rancherFile), Line: line, Service: cfg.Name, Key: key, Msg: msg}
	}
	const tls = "TLS termination is not done by drover's proxy: pass TLS through with protocol tcp, or terminate it in the service"
	if lb := rs.LBConfig; lb != nil {
		switch {
		case len(lb.Certs) > 0:
			return at(lb.Lines["certs"], "lb_config.certs", tls)
		case lb.DefaultCert != "":
			return at(lb.Lines["default_cert"], "lb_config.default_cert", tls)
		case strings.TrimSpace(lb.Config) != "":
			return at(lb.Lines["config"], "lb_config.config", "raw haproxy configuration cannot be applied to drover's proxy; remove it (the proxy balances round-robin, with its own timeouts)")
		case len(lb.StickinessPolicy) > 0:
			return at(lb.Lines["stickiness_policy"], "lb_config.stickiness_policy", "cookie stickiness is not done by drover's proxy (it balances round-robin); remove it if the service keeps no session in memory")
		}
	}
	if lb := rs.LegacyLB; lb != nil {
		switch {
		case len(lb.HAProxyConfig) > 0:
			return at(lb.Lines["haproxy_config"], "load_balancer_config.haproxy_config", "raw haproxy configuration cannot be applied to drover's proxy; remove it")
		case len(lb.LBCookieStickiness) > 0:
			return at(lb.Lines["lb_cookie_stickiness_policy"], "load_balancer_config.lb_cookie_stickiness_policy", "cookie stickiness is not done by drover's proxy (it balances round-robin); remove it if the service keeps no session in memory")
		case len(lb.AppCookieStickiness) > 0:
			return at(lb.Lines["app_cookie_stickiness_policy"], "load_balancer_config.app_cookie_stickiness_policy", "cookie stickiness is not done by drover's proxy (it balances round-robin); remove it if the service keeps no session in memory")
		}
	}
	if len(rs.Certs) > 0 || rs.DefaultCert != "" {
		return &FileError{File: displayPath(rancherFile), Service: cfg.Name, Key: "certs", Msg: tls}
	}
	for _, k := range sortedLabelKeys(cfg.Labels) {
		switch {
		case k == "io.rancher.loadbalancer.ssl.ports", k == "io.rancher.lb_service.cert_dir", k == "io.rancher.lb_service.default_cert_dir":
			return keyAt(srcs, cfg.Name, "labels", fmt.Sprintf("label %s: %s", k, tls))
		case k == "io.rancher.loadbalancer.proxy-protocol.ports":
			return keyAt(srcs, cfg.Name, "labels", fmt.Sprintf("label %s: the PROXY protocol is not spoken by drover's proxy (HTTP rules set X-Forwarded-For instead)", k))
		}
	}
	return nil
}

func sortedLabelKeys(labels types.Labels) []string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// portRules resolves lb_config.port_rules.
func portRules(cp *types.Project, cfg types.ServiceConfig, lb *LBConfig, ports []lbPort, rancherFile string) ([]BalancerRule, error) {
	var out []BalancerRule
	for i, pr := range lb.PortRules {
		key := fmt.Sprintf("lb_config.port_rules[%d]", i)
		at := func(k, msg string) error {
			line := pr.Line
			if l := pr.Lines[k]; l > 0 {
				line = l
			}
			if k != "" {
				k = key + "." + k
			} else {
				k = key
			}
			return &FileError{File: displayPath(rancherFile), Line: line, Service: cfg.Name, Key: k, Msg: msg}
		}
		if pr.Selector != "" {
			return nil, at("selector", "selector rules are not served by drover's proxy; name the target with service:")
		}
		target, err := targetService(cp, cfg.Name, pr.Service)
		if err != nil {
			return nil, at("service", err.Error())
		}
		if pr.TargetPort < 1 || pr.TargetPort > 65535 {
			return nil, at("target_port", "a port number (1-65535) is required: the target service's port")
		}
		var port *lbPort
		for j := range ports {
			if ports[j].source == pr.SourcePort {
				port = &ports[j]
				break
			}
		}
		if port == nil {
			return nil, at("source_port", fmt.Sprintf("source port %d is not one of the ports of service %q (%s); add it under ports:, or under expose: for a port only the project's services reach", pr.SourcePort, cfg.Name, portList(ports, false)))
		}
		proto, err := ruleProtocol(pr.Protocol)
		if err != nil {
			return nil, at("protocol", err.Error())
		}
		r := BalancerRule{Listen: port.listen, HostIP: port.hostIP, Source: pr.SourcePort, Service: target, Target: pr.TargetPort,
			Protocol: proto, Hostname: strings.ToLower(pr.Hostname), Path: pr.Path, Priority: pr.Priority, Internal: port.internal}
		if k, err := checkRouting(r); err != nil {
			return nil, at(k, err.Error())
		}
		out = append(out, r)
	}
	return out, nil
}

// portList names the balancer's ports as the files do: by the port inside
// (lb_config's source_port), or by the public one (Rancher 1.1's labels).
func portList(ports []lbPort, public bool) string {
	if len(ports) == 0 {
		return "it has none"
	}
	var s []string
	for _, p := range ports {
		n := p.source
		if public {
			n = p.listen
		}
		s = append(s, strconv.Itoa(n))
	}
	return "it has " + strings.Join(s, ", ")
}

// ruleProtocol is the mode a rule's protocol is served in: http when
// unset, as in Rancher.
func ruleProtocol(p string) (string, error) {
	switch p {
	case "", "http":
		return "http", nil
	case "tcp":
		return "tcp", nil
	case "https", "tls", "sni":
		return "", fmt.Errorf("protocol %s needs TLS termination, which drover's proxy does not do: use tcp to pass TLS through to the service", p)
	}
	return "", fmt.Errorf("protocol %s is not served by drover's proxy (http or tcp)", p)
}

// checkRouting refuses host and path rules that cannot match: on TCP, or
// with a wildcard anywhere but at one end, or a path without its slash. It
// returns the key at fault with the error.
func checkRouting(r BalancerRule) (string, error) {
	if r.Protocol == "tcp" && (r.Hostname != "" || r.Path != "") {
		key := "hostname"
		if r.Hostname == "" {
			key = "path"
		}
		return key, fmt.Errorf("a tcp rule carries no host or path to route by: use protocol http, or drop hostname and path")
	}
	if h := r.Hostname; strings.Contains(h, "*") {
		inner := strings.TrimSuffix(strings.TrimPrefix(h, "*."), ".*")
		if h == "*" || strings.Contains(inner, "*") || inner == h {
			return "hostname", fmt.Errorf("hostname %q: a wildcard is *.example.com or example.com.*", h)
		}
	}
	if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
		return "path", fmt.Errorf("path %q must start with /", r.Path)
	}
	return "", nil
}

// targetService resolves a rule's service: a service of this project,
// "stack/service" when the stack is this project, and never a balancer.
func targetService(cp *types.Project, lb, name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("a target service is required; selector rules, and lb_config on the services a selector picks, are not served by drover's proxy")
	}
	if stack, svc, ok := strings.Cut(name, "/"); ok {
		if stack != cp.Name {
			return "", fmt.Errorf("service %q is in stack %q: drover serves one project (%q), so a load balancer targets its own services only", name, stack, cp.Name)
		}
		name = svc
	}
	t, ok := cp.Services[name]
	if !ok {
		return "", fmt.Errorf("no service %q in the compose file", name)
	}
	if name == lb {
		return "", fmt.Errorf("a load balancer cannot target itself")
	}
	if isBalancer(t, RancherService{}) {
		return "", fmt.Errorf("service %q is a load balancer too: target the services behind it", name)
	}
	return name, nil
}

// legacyRules are the rules of a Rancher 1.1 balancer: each linked service
// on each of its ports, at the port's target, HTTP unless the port is
// written "/tcp"; a service with an io.rancher.loadbalancer.target.<name>
// label gets the routes it lists instead ("host:source/path=target", all
// parts optional, comma-separated).
func legacyRules(cp *types.Project, cfg types.ServiceConfig, ports []lbPort, srcs sources) ([]BalancerRule, error) {
	if len(cfg.ExternalLinks) > 0 {
		return nil, keyAt(srcs, cfg.Name, "external_links", "a load balancer target in another stack is not served: drover serves one project")
	}
	var targets []string
	for _, l := range sortedKeys(cfg.Links) {
		name, _, _ := strings.Cut(l, ":")
		t, err := targetService(cp, cfg.Name, name)
		if err != nil {
			return nil, keyAt(srcs, cfg.Name, "links", err.Error())
		}
		if !slices.Contains(targets, t) {
			targets = append(targets, t)
		}
	}
	labelled := map[string]string{}
	for _, k := range sortedLabelKeys(cfg.Labels) {
		svc, ok := strings.CutPrefix(k, "io.rancher.loadbalancer.target.")
		if !ok {
			continue
		}
		t, err := targetService(cp, cfg.Name, svc)
		if err != nil {
			return nil, keyAt(srcs, cfg.Name, "labels", fmt.Sprintf("label %s: %v", k, err))
		}
		if !slices.Contains(targets, t) {
			return nil, keyAt(srcs, cfg.Name, "labels", fmt.Sprintf("label %s: service %q is not linked (links:), so Rancher did not balance to it", k, t))
		}
		labelled[t] = cfg.Labels[k]
	}
	var out []BalancerRule
	for _, t := range targets {
		spec, ok := labelled[t]
		if !ok {
			for _, p := range ports {
				out = append(out, legacyRule(p, t, p.target))
			}
			continue
		}
		for _, entry := range strings.Split(spec, ",") {
			rules, err := labelRules(strings.TrimSpace(entry), t, ports)
			if err != nil {
				return nil, keyAt(srcs, cfg.Name, "labels", fmt.Sprintf("label io.rancher.loadbalancer.target.%s: %v", t, err))
			}
			out = append(out, rules...)
		}
	}
	for _, r := range out {
		if _, err := checkRouting(r); err != nil {
			return nil, keyAt(srcs, cfg.Name, "labels", err.Error())
		}
	}
	return out, nil
}

func sortedKeys(list []string) []string {
	out := slices.Clone(list)
	sort.Strings(out)
	return out
}

func legacyRule(p lbPort, service string, target int) BalancerRule {
	proto := "http"
	if p.tcp {
		proto = "tcp"
	}
	return BalancerRule{Listen: p.listen, HostIP: p.hostIP, Source: p.listen, Service: service, Target: target, Protocol: proto, Internal: p.internal}
}

// labelRules reads one entry of a Rancher 1.1 target label,
// "host:source/path=target": the source port is the balancer's public port
// (all of them when absent), the target the port's own when absent.
func labelRules(entry, service string, ports []lbPort) ([]BalancerRule, error) {
	entry = strings.Trim(entry, `'"`)
	rest, target, hasTarget := strings.Cut(entry, "=")
	tport := 0
	if hasTarget {
		n, err := strconv.Atoi(strings.TrimSpace(target))
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q: the target port after = must be a port number", entry)
		}
		tport = n
	}
	path := ""
	if i := strings.Index(rest, "/"); i >= 0 {
		rest, path = rest[:i], rest[i:]
	}
	host, source := rest, 0
	if h, s, ok := strings.Cut(rest, ":"); ok {
		host = h
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%q: the source port after : must be a port number", entry)
		}
		source = n
	} else if n, err := strconv.Atoi(rest); err == nil {
		host, source = "", n // "80/path" or a bare port
		if !hasTarget && path == "" {
			source, tport = 0, n // '81' alone is the target port
		}
	}
	var out []BalancerRule
	for _, p := range ports {
		if source != 0 && p.listen != source {
			continue
		}
		r := legacyRule(p, service, p.target)
		if tport != 0 {
			r.Target = tport
		}
		r.Hostname, r.Path = strings.ToLower(host), path
		out = append(out, r)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%q: source port %d is not one of the balancer's ports (%s)", entry, source, portList(ports, true))
	}
	return out, nil
}

// checkBalancerPorts refuses a port that two owners claim: two balancers
// (the proxy listens once per port number), or a balancer and a service
// that publishes it (on the host; inside the proxy too when the service is
// behind it).
func checkBalancerPorts(p *Project, srcs sources) error {
	owner := map[int]string{}
	internal := map[int]bool{}
	for _, b := range p.Balancers {
		for _, r := range b.Rules {
			if o, ok := owner[r.Listen]; ok && o != b.Name {
				return keyAt(srcs, b.Name, "ports", fmt.Sprintf("port %d is served by load balancer %q too", r.Listen, o))
			}
			owner[r.Listen] = b.Name
			internal[r.Listen] = r.Internal
		}
	}
	for _, s := range p.Services {
		for i, port := range s.Config.Ports {
			n, err := strconv.Atoi(port.Published)
			if err != nil || internal[n] && !s.Proxy {
				continue
			}
			if o, ok := owner[n]; ok {
				return keyAt(srcs, s.Name, fmt.Sprintf("ports.%d", i), fmt.Sprintf("host port %d is the load balancer %q's: publish it there only", n, o))
			}
		}
	}
	return nil
}

// sameProtocolPerPort refuses http and tcp rules on one port: the proxy
// reads a port either as HTTP requests or as bytes.
func sameProtocolPerPort(b Balancer, rs RancherService, rancherFile string, srcs sources) error {
	first := map[int]BalancerRule{}
	for i, r := range b.Rules {
		f, ok := first[r.Listen]
		if !ok {
			first[r.Listen] = r
			continue
		}
		if f.Protocol == r.Protocol {
			continue
		}
		msg := fmt.Sprintf("port %d has both %s rules (to %s) and %s rules (to %s): one port is served either as HTTP or as TCP", r.Listen, f.Protocol, f.Service, r.Protocol, r.Service)
		if rs.LBConfig != nil && i < len(rs.LBConfig.PortRules) {
			pr := rs.LBConfig.PortRules[i]
			return &FileError{File: displayPath(rancherFile), Line: pr.Line, Service: b.Name, Key: fmt.Sprintf("lb_config.port_rules[%d].protocol", i), Msg: msg}
		}
		return keyAt(srcs, b.Name, "ports", msg)
	}
	return nil
}

// balancerKeys are the service keys that shape a balancer as the proxy
// serves it; the others were settings of Rancher's haproxy container.
var balancerKeys = map[string]bool{
	"image": true, "ports": true, "links": true, "labels": true, "networks": true, "expose": true, "depends_on": true,
}

// balancerNoEffect explains what of a balancer has no effect once the
// proxy serves it: harmless to ignore, so a warning rather than an error.
func balancerNoEffect(cfg types.ServiceConfig, rs RancherService) []string {
	var out []string
	out = append(out, "load balancer: served by drover's front proxy (no container of its image is run)")
	set, _ := unsupportedKeys(cfg, false)
	var keys []string
	for _, k := range []string{"command", "entrypoint", "environment", "restart", "stdin_open", "tty", "volumes", "hostname", "logging", "healthcheck", "user", "working_dir", "scale", "deploy"} {
		if !balancerKeys[k] && keySet(cfg, k) {
			keys = append(keys, k)
		}
	}
	keys = append(keys, set...)
	if len(keys) > 0 {
		out = append(out, fmt.Sprintf("keys %s: no effect on a load balancer served by drover's proxy", strings.Join(keys, ", ")))
	}
	if rs.HealthCheck != nil {
		out = append(out, "health_check: no effect on a load balancer: the proxy is not probed (its targets' health checks are)")
	}
	if rs.Scale != nil && *rs.Scale != 1 {
		out = append(out, fmt.Sprintf("scale: %d: no effect on a load balancer: one proxy per project serves it", *rs.Scale))
	}
	if rs.LBConfig != nil && rs.LBConfig.Lines["certs"] > 0 {
		// certs: [] as catalog entries carry it: nothing to terminate.
		out = append(out, "lb_config.certs: empty, no effect")
	}
	for _, r := range rs.LBConfigRules() {
		if r.BackendName != "" {
			out = append(out, "lb_config.port_rules.backend_name: no effect: it named an haproxy backend for raw configuration")
			break
		}
	}
	if rs.LegacyLB != nil && (rs.LegacyLB.Name != "" || rs.LegacyLB.Description != "") {
		out = append(out, "load_balancer_config.name/description: no effect")
	}
	return out
}

// LBConfigRules are the service's lb_config port rules, none without one.
func (rs RancherService) LBConfigRules() []PortRule {
	if rs.LBConfig == nil {
		return nil
	}
	return rs.LBConfig.PortRules
}

// keySet reports whether a container key is set on the service.
func keySet(cfg types.ServiceConfig, key string) bool {
	switch key {
	case "command":
		return len(cfg.Command) > 0
	case "entrypoint":
		return len(cfg.Entrypoint) > 0
	case "environment":
		return len(cfg.Environment) > 0
	case "restart":
		return cfg.Restart != ""
	case "stdin_open":
		return cfg.StdinOpen
	case "tty":
		return cfg.Tty
	case "volumes":
		return len(cfg.Volumes) > 0
	case "hostname":
		return cfg.Hostname != ""
	case "logging":
		return cfg.Logging != nil
	case "healthcheck":
		return cfg.HealthCheck != nil
	case "user":
		return cfg.User != ""
	case "working_dir":
		return cfg.WorkingDir != ""
	case "scale":
		return cfg.Scale != nil
	case "deploy":
		return cfg.Deploy != nil
	}
	return false
}

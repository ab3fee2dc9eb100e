package compose

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/drover/drover/catalog"
)

// RancherFile is the content of a rancher-compose.yml: per-service settings
// that the Compose Specification has no words for.
type RancherFile struct {
	Path     string
	Services map[string]RancherService
	// Lines records where each service was declared, so that a later check
	// (a service absent from the compose file) can point at it.
	Lines map[string]int
	// Catalog is set when the file has a catalog section (catalog templates).
	Catalog bool
	// Unset are the variables that were not set when the file was
	// interpolated (a blank string each), with the line of their first use.
	Unset []*FileError
	// Duplicates are the keys a mapping set twice: the last value is
	// used, as Rancher's YAML reader (yaml.v2) used it.
	Duplicates []*FileError
}

// RancherService holds the rancher-compose keys of one service. A nil
// pointer means the key was absent, so that precedence rules can tell "not
// set" from a zero value.
type RancherService struct {
	Scale           *int             `yaml:"scale,omitempty" json:"scale,omitempty"`
	StartOnCreate   *bool            `yaml:"start_on_create,omitempty" json:"start_on_create,omitempty"`
	RetainIP        *bool            `yaml:"retain_ip,omitempty" json:"retain_ip,omitempty"`
	DrainTimeoutMs  *int             `yaml:"drain_timeout_ms,omitempty" json:"drain_timeout_ms,omitempty"`
	UpgradeStrategy *UpgradeStrategy `yaml:"upgrade_strategy,omitempty" json:"upgrade_strategy,omitempty"`
	HealthCheck     *RancherHealth   `yaml:"health_check,omitempty" json:"health_check,omitempty"`
	LBConfig        *LBConfig        `yaml:"lb_config,omitempty" json:"lb_config,omitempty"`
	// LegacyLB is the load_balancer_config of Rancher 1.1 load balancers
	// (rancher/load-balancer-service), whose rules came from links, ports
	// and labels; Certs and DefaultCert sat beside it then.
	LegacyLB    *LegacyLBConfig `yaml:"load_balancer_config,omitempty" json:"load_balancer_config,omitempty"`
	Certs       []string        `yaml:"certs,omitempty" json:"certs,omitempty"`
	DefaultCert string          `yaml:"default_cert,omitempty" json:"default_cert,omitempty"`
	Metadata    map[string]any  `yaml:"metadata,omitempty" json:"metadata,omitempty"`
	ScalePolicy *ScalePolicy    `yaml:"scale_policy,omitempty" json:"scale_policy,omitempty"`
	ExternalIPs []string        `yaml:"external_ips,omitempty" json:"external_ips,omitempty"`
	Hostname    string          `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	// StorageDriver and NetworkDriver made the service one of Rancher's
	// driver plugin stacks (nfs, portworx, vxlan...): Rancher registered it
	// as the environment's volume or network driver.
	StorageDriver map[string]any `yaml:"storage_driver,omitempty" json:"storage_driver,omitempty"`
	NetworkDriver map[string]any `yaml:"network_driver,omitempty" json:"network_driver,omitempty"`
	// Labels are the compose labels written in rancher-compose.yml, which
	// Rancher 1.6 merged over the compose file's; the loader moves them
	// into the service's labels, so they are not shown here.
	Labels     map[string]string `yaml:"-" json:"-"`
	LabelsLine int               `yaml:"-" json:"-"`
}

// UpgradeStrategy is rancher-compose's upgrade_strategy block.
type UpgradeStrategy struct {
	StartFirst     *bool `yaml:"start_first,omitempty" json:"start_first,omitempty"`
	BatchSize      *int  `yaml:"batch_size,omitempty" json:"batch_size,omitempty"`
	IntervalMillis *int  `yaml:"interval_millis,omitempty" json:"interval_millis,omitempty"`
}

// RancherHealth is rancher-compose's health_check block: a probe run from
// outside the container. All durations are in milliseconds, as in Rancher.
type RancherHealth struct {
	Port                  int            `yaml:"port,omitempty" json:"port,omitempty"`
	RequestLine           string         `yaml:"request_line,omitempty" json:"request_line,omitempty"`
	Interval              int            `yaml:"interval,omitempty" json:"interval,omitempty"`
	ResponseTimeout       int            `yaml:"response_timeout,omitempty" json:"response_timeout,omitempty"`
	HealthyThreshold      int            `yaml:"healthy_threshold,omitempty" json:"healthy_threshold,omitempty"`
	UnhealthyThreshold    int            `yaml:"unhealthy_threshold,omitempty" json:"unhealthy_threshold,omitempty"`
	InitializingTimeout   int            `yaml:"initializing_timeout,omitempty" json:"initializing_timeout,omitempty"`
	ReinitializingTimeout int            `yaml:"reinitializing_timeout,omitempty" json:"reinitializing_timeout,omitempty"`
	Strategy              string         `yaml:"strategy,omitempty" json:"strategy,omitempty"`
	QuorumConfig          map[string]any `yaml:"recreate_on_quorum_strategy_config,omitempty" json:"recreate_on_quorum_strategy_config,omitempty"`
}

// LBConfig is rancher-compose's lb_config block.
type LBConfig struct {
	PortRules        []PortRule     `yaml:"port_rules,omitempty" json:"port_rules,omitempty"`
	Certs            []string       `yaml:"certs,omitempty" json:"certs,omitempty"`
	DefaultCert      string         `yaml:"default_cert,omitempty" json:"default_cert,omitempty"`
	Config           string         `yaml:"config,omitempty" json:"config,omitempty"`
	StickinessPolicy map[string]any `yaml:"stickiness_policy,omitempty" json:"stickiness_policy,omitempty"`
	// Lines are where each key was written, for errors found once the
	// compose file is known.
	Lines map[string]int `yaml:"-" json:"-"`
}

// LegacyLBConfig is rancher-compose's load_balancer_config block (Rancher
// 1.1): a name, raw haproxy sections and cookie stickiness.
type LegacyLBConfig struct {
	Name                string         `yaml:"name,omitempty" json:"name,omitempty"`
	Description         string         `yaml:"description,omitempty" json:"description,omitempty"`
	HAProxyConfig       map[string]any `yaml:"haproxy_config,omitempty" json:"haproxy_config,omitempty"`
	LBCookieStickiness  map[string]any `yaml:"lb_cookie_stickiness_policy,omitempty" json:"lb_cookie_stickiness_policy,omitempty"`
	AppCookieStickiness map[string]any `yaml:"app_cookie_stickiness_policy,omitempty" json:"app_cookie_stickiness_policy,omitempty"`
	Lines               map[string]int `yaml:"-" json:"-"`
}

// PortRule is one load balancer rule.
type PortRule struct {
	SourcePort int    `yaml:"source_port,omitempty" json:"source_port,omitempty"`
	TargetPort int    `yaml:"target_port,omitempty" json:"target_port,omitempty"`
	Service    string `yaml:"service,omitempty" json:"service,omitempty"`
	Protocol   string `yaml:"protocol,omitempty" json:"protocol,omitempty"`
	Hostname   string `yaml:"hostname,omitempty" json:"hostname,omitempty"`
	Path       string `yaml:"path,omitempty" json:"path,omitempty"`
	Priority   int    `yaml:"priority,omitempty" json:"priority,omitempty"`
	// Selector picks target services by label instead of naming one;
	// BackendName names the haproxy backend, for raw config to refer to.
	Selector    string `yaml:"selector,omitempty" json:"selector,omitempty"`
	BackendName string `yaml:"backend_name,omitempty" json:"backend_name,omitempty"`
	// Line is where the rule starts, and Lines where each of its keys is.
	Line  int            `yaml:"-" json:"-"`
	Lines map[string]int `yaml:"-" json:"-"`
}

// ScalePolicy is rancher-compose's scale_policy block (min, max, increment).
type ScalePolicy struct {
	Min       int `yaml:"min,omitempty" json:"min,omitempty"`
	Max       int `yaml:"max,omitempty" json:"max,omitempty"`
	Increment int `yaml:"increment,omitempty" json:"increment,omitempty"`
}

// FileError is an error in a file, located to a line.
type FileError struct {
	File    string
	Line    int
	Service string
	Key     string
	Msg     string
	// path is where in the file the error is ("web.dockerfile"), for the
	// loader to find its line when the error was made without one.
	path string
}

// Error reads "file:line: service "web": key: message", leaving out the
// parts that are not known (a file is not known yet while the v1 layout is
// converted).
func (e *FileError) Error() string {
	var parts []string
	if e.File != "" {
		where := e.File
		if e.Line > 0 {
			where += fmt.Sprintf(":%d", e.Line)
		}
		parts = append(parts, where)
	}
	if e.Service != "" {
		parts = append(parts, fmt.Sprintf("service %q", e.Service))
	}
	if e.Key != "" {
		parts = append(parts, e.Key)
	}
	return strings.Join(append(parts, e.Msg), ": ")
}

// ReadRancherFile reads and parses a rancher-compose.yml.
func ReadRancherFile(path string) (*RancherFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseRancher(path, data)
}

// ParseRancher parses a rancher-compose.yml strictly: an unknown key or a
// value of the wrong type is an error naming the file, line, service and key.
// Both layouts are accepted: version 2 with a services: section, and the v1
// layout with service names at the top level.
func ParseRancher(path string, data []byte) (*RancherFile, error) {
	return ParseRancherWith(path, data, nil)
}

// ParseRancherWith parses a rancher-compose.yml as ParseRancher does, after
// replacing the variables in its values with env (see interpolateRancher);
// a nil env leaves them as written.
func ParseRancherWith(path string, data []byte, env map[string]string) (*RancherFile, error) {
	rf := &RancherFile{Path: path, Services: map[string]RancherService{}, Lines: map[string]int{}}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &FileError{File: path, Msg: "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return rf, nil // an empty file is a valid file with nothing in it
	}
	root := doc.Content[0]
	p := &rancherParser{file: path}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return rf, nil
	}
	if root.Kind != yaml.MappingNode {
		return nil, p.errAt(root, "", "", "expected a mapping at the top level")
	}
	if env != nil {
		var err error
		if rf.Unset, err = interpolateRancher(path, root, env); err != nil {
			return nil, err
		}
	}
	// With a services: key the file has the version 2 layout; without one,
	// the v1 layout puts service names at the top level.
	v2 := hasKey(root, "services")
	var services []keyValue
	for _, kv := range pairs(root) {
		switch kv.key.Value {
		case "version":
			if err := p.version(kv.value); err != nil {
				return nil, err
			}
		case "catalog", ".catalog":
			// Catalog templates carry questions and a description for the
			// Rancher UI; nothing in them shapes a container.
			rf.Catalog = true
		case "services":
			kvs, err := p.mapping(kv.value, "", "services")
			if err != nil {
				return nil, err
			}
			services = kvs
		default:
			if v2 {
				return nil, p.errAt(kv.key, "", kv.key.Value, "unknown top-level key (expected version, services)")
			}
			services = append(services, kv)
		}
	}
	for _, kv := range services {
		name := kv.key.Value
		if v2 && catalog.IsSectionKey(name, false) {
			rf.Catalog = true
			continue
		}
		if _, dup := rf.Services[name]; dup {
			return nil, p.errAt(kv.key, name, "", "service is declared twice")
		}
		// A service declared twice stays an error; a key set twice
		// within one takes its last value, as Rancher's yaml.v2 did.
		for _, d := range dropEarlierKeys(kv.value) {
			rf.Duplicates = append(rf.Duplicates, &FileError{File: path, Line: d.key.Line, Service: name, Key: d.key.Value,
				Msg: fmt.Sprintf("set again at line %d: the last value is used, as Rancher 1.6 read it", d.again)})
		}
		svc, err := p.service(name, kv.value)
		if err != nil {
			return nil, err
		}
		rf.Services[name] = svc
		rf.Lines[name] = kv.key.Line
	}
	return rf, nil
}

type rancherParser struct{ file string }

// rancherKeys are the keys of a rancher-compose service, for "did you mean".
var rancherKeys = []string{
	"scale", "start_on_create", "retain_ip", "drain_timeout_ms", "upgrade_strategy",
	"health_check", "lb_config", "metadata", "scale_policy", "external_ips", "hostname",
	"load_balancer_config", "certs", "default_cert", "storage_driver", "network_driver", "labels",
}

type keyValue struct{ key, value *yaml.Node }

func pairs(m *yaml.Node) []keyValue {
	var out []keyValue
	for i := 0; i+1 < len(m.Content); i += 2 {
		out = append(out, keyValue{m.Content[i], m.Content[i+1]})
	}
	return out
}

func hasKey(m *yaml.Node, key string) bool {
	for _, kv := range pairs(m) {
		if kv.key.Value == key {
			return true
		}
	}
	return false
}

func (p *rancherParser) errAt(n *yaml.Node, service, key, msg string) error {
	return &FileError{File: p.file, Line: n.Line, Service: service, Key: key, Msg: msg}
}

func (p *rancherParser) version(n *yaml.Node) error {
	switch n.Value {
	case "1", "2", "2.0", "2.1", "3":
		return nil
	}
	return p.errAt(n, "", "version", fmt.Sprintf("unsupported version %q (expected '2')", n.Value))
}

func (p *rancherParser) service(name string, n *yaml.Node) (RancherService, error) {
	var s RancherService
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return s, nil
	}
	if n.Kind != yaml.MappingNode {
		return s, p.errAt(n, name, "", "expected a mapping of rancher-compose keys")
	}
	var err error
	for _, kv := range pairs(n) {
		key := kv.key.Value
		v := kv.value
		if v.Kind == yaml.AliasNode && v.Alias != nil {
			v = v.Alias // metadata: *shared, as Rancher-era files share blocks
		}
		switch key {
		case "scale":
			s.Scale, err = p.intPtr(v, name, key)
			if err == nil && *s.Scale < 0 {
				err = p.errAt(v, name, key, "must not be negative")
			}
		case "start_on_create":
			s.StartOnCreate, err = p.boolPtr(v, name, key)
		case "retain_ip":
			s.RetainIP, err = p.boolPtr(v, name, key)
		case "drain_timeout_ms":
			s.DrainTimeoutMs, err = p.intPtr(v, name, key)
		case "upgrade_strategy":
			s.UpgradeStrategy, err = p.upgradeStrategy(v, name)
		case "health_check":
			s.HealthCheck, err = p.healthCheck(v, name)
		case "lb_config":
			s.LBConfig, err = p.lbConfig(v, name)
		case "load_balancer_config":
			s.LegacyLB, err = p.legacyLBConfig(v, name)
		case "certs":
			s.Certs, err = p.stringList(v, name, key)
		case "default_cert":
			s.DefaultCert, err = p.str(v, name, key)
		case "metadata":
			s.Metadata, err = p.anyMap(v, name, key)
		case "scale_policy":
			s.ScalePolicy, err = p.scalePolicy(v, name)
		case "external_ips":
			s.ExternalIPs, err = p.stringList(v, name, key)
		case "hostname":
			s.Hostname, err = p.str(v, name, key)
		case "storage_driver":
			s.StorageDriver, err = p.anyMap(v, name, key)
		case "network_driver":
			s.NetworkDriver, err = p.anyMap(v, name, key)
		case "labels":
			s.Labels, err = p.labels(v, name)
			s.LabelsLine = kv.key.Line
		default:
			err = p.errAt(kv.key, name, key, "unknown rancher-compose key"+didYouMean(key, rancherKeys))
		}
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

// labels reads a labels block as the compose file writes it: a mapping,
// or a list of "key=value".
func (p *rancherParser) labels(n *yaml.Node, service string) (map[string]string, error) {
	out := map[string]string{}
	switch {
	case n.Kind == yaml.ScalarNode && n.Tag == "!!null":
		return out, nil
	case n.Kind == yaml.MappingNode:
		for _, kv := range pairs(n) {
			v, err := p.str(kv.value, service, "labels."+kv.key.Value)
			if err != nil {
				return nil, err
			}
			out[kv.key.Value] = v
		}
	case n.Kind == yaml.SequenceNode:
		for _, item := range n.Content {
			s, err := p.str(item, service, "labels")
			if err != nil {
				return nil, err
			}
			k, v, _ := strings.Cut(s, "=")
			out[k] = v
		}
	default:
		return nil, p.errAt(n, service, "labels", "expected a mapping or a list of key=value, got "+describe(n))
	}
	return out, nil
}

func (p *rancherParser) mapping(n *yaml.Node, service, key string) ([]keyValue, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n, service, key, "expected a mapping")
	}
	return pairs(n), nil
}

func (p *rancherParser) upgradeStrategy(n *yaml.Node, service string) (*UpgradeStrategy, error) {
	kvs, err := p.mapping(n, service, "upgrade_strategy")
	if err != nil {
		return nil, err
	}
	u := &UpgradeStrategy{}
	for _, kv := range kvs {
		key := "upgrade_strategy." + kv.key.Value
		switch kv.key.Value {
		case "start_first":
			u.StartFirst, err = p.boolPtr(kv.value, service, key)
		case "batch_size":
			u.BatchSize, err = p.intPtr(kv.value, service, key)
			if err == nil && *u.BatchSize < 1 {
				err = p.errAt(kv.value, service, key, "must be at least 1")
			}
		case "interval_millis":
			u.IntervalMillis, err = p.intPtr(kv.value, service, key)
			if err == nil && *u.IntervalMillis < 0 {
				err = p.errAt(kv.value, service, key, "must not be negative")
			}
		default:
			err = p.errAt(kv.key, service, key, "unknown key (expected start_first, batch_size, interval_millis)")
		}
		if err != nil {
			return nil, err
		}
	}
	return u, nil
}

func (p *rancherParser) healthCheck(n *yaml.Node, service string) (*RancherHealth, error) {
	kvs, err := p.mapping(n, service, "health_check")
	if err != nil {
		return nil, err
	}
	h := &RancherHealth{}
	ints := map[string]*int{
		"port": &h.Port, "interval": &h.Interval, "response_timeout": &h.ResponseTimeout,
		"healthy_threshold": &h.HealthyThreshold, "unhealthy_threshold": &h.UnhealthyThreshold,
		"initializing_timeout": &h.InitializingTimeout, "reinitializing_timeout": &h.ReinitializingTimeout,
	}
	for _, kv := range kvs {
		key := "health_check." + kv.key.Value
		if dst, ok := ints[kv.key.Value]; ok {
			var v *int
			if v, err = p.intPtr(kv.value, service, key); err != nil {
				return nil, err
			}
			if *v < 0 {
				return nil, p.errAt(kv.value, service, key, "must not be negative")
			}
			*dst = *v
			continue
		}
		switch kv.key.Value {
		case "request_line":
			h.RequestLine, err = p.str(kv.value, service, key)
		case "strategy":
			h.Strategy, err = p.str(kv.value, service, key)
			if err == nil && !oneOf(h.Strategy, "none", "recreate", "recreateOnQuorum") {
				err = p.errAt(kv.value, service, key, fmt.Sprintf("unknown strategy %q (expected none, recreate, recreateOnQuorum)", h.Strategy))
			}
		case "recreate_on_quorum_strategy_config":
			h.QuorumConfig, err = p.anyMap(kv.value, service, key)
		default:
			err = p.errAt(kv.key, service, key, "unknown health_check key")
		}
		if err != nil {
			return nil, err
		}
	}
	if h.Port < 0 || h.Port > 65535 {
		return nil, p.errAt(n, service, "health_check.port", "must be a port number")
	}
	return h, nil
}

func (p *rancherParser) lbConfig(n *yaml.Node, service string) (*LBConfig, error) {
	kvs, err := p.mapping(n, service, "lb_config")
	if err != nil {
		return nil, err
	}
	lb := &LBConfig{Lines: map[string]int{}}
	for _, kv := range kvs {
		key := "lb_config." + kv.key.Value
		lb.Lines[kv.key.Value] = kv.key.Line
		switch kv.key.Value {
		case "port_rules":
			if kv.value.Kind != yaml.SequenceNode {
				return nil, p.errAt(kv.value, service, key, "expected a list of rules")
			}
			for i, r := range kv.value.Content {
				rule, err := p.portRule(r, service, fmt.Sprintf("%s[%d]", key, i))
				if err != nil {
					return nil, err
				}
				lb.PortRules = append(lb.PortRules, rule)
			}
		case "certs":
			lb.Certs, err = p.stringList(kv.value, service, key)
		case "default_cert":
			lb.DefaultCert, err = p.str(kv.value, service, key)
		case "config":
			lb.Config, err = p.str(kv.value, service, key)
		case "stickiness_policy":
			lb.StickinessPolicy, err = p.anyMap(kv.value, service, key)
		default:
			err = p.errAt(kv.key, service, key, "unknown lb_config key")
		}
		if err != nil {
			return nil, err
		}
	}
	return lb, nil
}

func (p *rancherParser) legacyLBConfig(n *yaml.Node, service string) (*LegacyLBConfig, error) {
	kvs, err := p.mapping(n, service, "load_balancer_config")
	if err != nil {
		return nil, err
	}
	lb := &LegacyLBConfig{Lines: map[string]int{}}
	for _, kv := range kvs {
		key := "load_balancer_config." + kv.key.Value
		lb.Lines[kv.key.Value] = kv.key.Line
		switch kv.key.Value {
		case "name":
			lb.Name, err = p.str(kv.value, service, key)
		case "description":
			lb.Description, err = p.str(kv.value, service, key)
		case "haproxy_config":
			lb.HAProxyConfig, err = p.anyMap(kv.value, service, key)
		case "lb_cookie_stickiness_policy":
			lb.LBCookieStickiness, err = p.anyMap(kv.value, service, key)
		case "app_cookie_stickiness_policy":
			lb.AppCookieStickiness, err = p.anyMap(kv.value, service, key)
		default:
			err = p.errAt(kv.key, service, key, "unknown load_balancer_config key (expected name, description, haproxy_config, lb_cookie_stickiness_policy, app_cookie_stickiness_policy)")
		}
		if err != nil {
			return nil, err
		}
	}
	return lb, nil
}

func (p *rancherParser) portRule(n *yaml.Node, service, key string) (PortRule, error) {
	r := PortRule{Line: n.Line, Lines: map[string]int{}}
	kvs, err := p.mapping(n, service, key)
	if err != nil {
		return r, err
	}
	for _, kv := range kvs {
		k := key + "." + kv.key.Value
		r.Lines[kv.key.Value] = kv.key.Line
		var iv *int
		switch kv.key.Value {
		case "source_port", "target_port", "priority":
			if iv, err = p.intPtr(kv.value, service, k); err != nil {
				return r, err
			}
			switch kv.key.Value {
			case "source_port":
				r.SourcePort = *iv
			case "target_port":
				r.TargetPort = *iv
			default:
				r.Priority = *iv
			}
		case "service":
			r.Service, err = p.str(kv.value, service, k)
		case "protocol":
			r.Protocol, err = p.str(kv.value, service, k)
			if err == nil && !oneOf(r.Protocol, "http", "tcp", "https", "tls", "sni", "udp") {
				err = p.errAt(kv.value, service, k, fmt.Sprintf("unknown protocol %q (expected http, tcp, https, tls, sni, udp)", r.Protocol))
			}
		case "hostname":
			r.Hostname, err = p.str(kv.value, service, k)
		case "path":
			r.Path, err = p.str(kv.value, service, k)
		case "selector":
			r.Selector, err = p.str(kv.value, service, k)
		case "backend_name":
			r.BackendName, err = p.str(kv.value, service, k)
		default:
			err = p.errAt(kv.key, service, k, "unknown port rule key (expected source_port, target_port, service, protocol, hostname, path, priority, selector, backend_name)")
		}
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

func (p *rancherParser) scalePolicy(n *yaml.Node, service string) (*ScalePolicy, error) {
	kvs, err := p.mapping(n, service, "scale_policy")
	if err != nil {
		return nil, err
	}
	sp := &ScalePolicy{}
	for _, kv := range kvs {
		key := "scale_policy." + kv.key.Value
		var dst *int
		switch kv.key.Value {
		case "min":
			dst = &sp.Min
		case "max":
			dst = &sp.Max
		case "increment":
			dst = &sp.Increment
		default:
			return nil, p.errAt(kv.key, service, key, "unknown key (expected min, max, increment)")
		}
		v, err := p.intPtr(kv.value, service, key)
		if err != nil {
			return nil, err
		}
		*dst = *v
	}
	return sp, nil
}

// intPtr reads an integer; rancher-compose accepted numbers written as
// strings ("3"), so drover does too.
func (p *rancherParser) intPtr(n *yaml.Node, service, key string) (*int, error) {
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "!!str") {
		return nil, p.errAt(n, service, key, "expected an integer, got "+describe(n))
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil {
		return nil, p.errAt(n, service, key, fmt.Sprintf("expected an integer, got %q", n.Value))
	}
	return &v, nil
}

func (p *rancherParser) boolPtr(n *yaml.Node, service, key string) (*bool, error) {
	if n.Kind == yaml.ScalarNode {
		switch strings.ToLower(n.Value) {
		case "true":
			v := true
			return &v, nil
		case "false":
			v := false
			return &v, nil
		}
	}
	return nil, p.errAt(n, service, key, "expected true or false, got "+describe(n))
}

func (p *rancherParser) str(n *yaml.Node, service, key string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", p.errAt(n, service, key, "expected a string, got "+describe(n))
	}
	if n.Tag == "!!null" {
		return "", nil
	}
	return n.Value, nil
}

func (p *rancherParser) stringList(n *yaml.Node, service, key string) ([]string, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, p.errAt(n, service, key, "expected a list of strings, got "+describe(n))
	}
	out := []string{}
	for _, item := range n.Content {
		s, err := p.str(item, service, key)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// anyMap reads a free-form mapping (metadata and the like).
func (p *rancherParser) anyMap(n *yaml.Node, service, key string) (map[string]any, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, p.errAt(n, service, key, "expected a mapping, got "+describe(n))
	}
	var m map[string]any
	if err := n.Decode(&m); err != nil {
		return nil, p.errAt(n, service, key, err.Error())
	}
	return m, nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%q", n.Value)
}

func oneOf(v string, options ...string) bool {
	for _, o := range options {
		if v == o {
			return true
		}
	}
	return false
}

// checkRancherServices reports the first rancher-compose service (by line)
// that the compose file does not define.
func checkRancherServices(rf *RancherFile, defined func(string) bool) error {
	names := make([]string, 0, len(rf.Services))
	for name := range rf.Services {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool { return rf.Lines[names[i]] < rf.Lines[names[j]] })
	for _, name := range names {
		if !defined(name) {
			return &FileError{File: rf.Path, Line: rf.Lines[name], Service: name, Msg: "service is not defined in the compose file"}
		}
	}
	return nil
}

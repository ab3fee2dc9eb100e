package compose

import (
	"bytes"
	"encoding/json"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// MarshalYAML renders the resolved project with, under x-drover, what drover
// decided for each service: its scale, its upgrade policy, whether its
// published ports are behind the front proxy, and its rancher-compose
// settings.
func (p *Project) MarshalYAML() ([]byte, error) {
	withPolicy, err := p.Compose.WithServicesTransform(func(name string, cfg types.ServiceConfig) (types.ServiceConfig, error) {
		if cfg.Extensions == nil {
			cfg.Extensions = types.Extensions{}
		}
		if b, ok := p.Balancer(name); ok {
			cfg.Extensions["x-drover"] = balancerConfig(p, b)
			return cfg, nil
		}
		svc, _ := p.Service(name)
		ext := map[string]any{
			"scale": svc.Scale,
			"upgrade": map[string]any{
				"start_first":    svc.Policy.StartFirst,
				"batch_size":     svc.Policy.BatchSize,
				"interval":       svc.Policy.Interval.String(),
				"failure_action": string(svc.Policy.FailureAction),
				"health_timeout": svc.Policy.HealthTimeout.String(),
				"monitor":        svc.Policy.Monitor.String(),
			},
		}
		ext["pull"] = svc.Pull.String()
		for _, port := range cfg.Ports {
			if port.Published != "" {
				ext["proxy"] = svc.Proxy // who publishes the ports: drover's proxy or the containers
				break
			}
		}
		if r, err := asMap(svc.Rancher); err == nil && len(r) > 0 {
			ext["rancher"] = r
		}
		if svc.History != DefaultHistory {
			ext["history"] = svc.History
		}
		if len(svc.Sidekicks) > 0 {
			ext["sidekicks"] = svc.Sidekicks
		}
		if svc.Primary != "" {
			ext["sidekick_of"] = svc.Primary
		}
		if len(svc.NoEffect) > 0 {
			ext["no_effect"] = svc.NoEffect
		}
		cfg.Extensions["x-drover"] = ext
		return cfg, nil
	})
	if err != nil {
		return nil, err
	}
	out, err := withPolicy.MarshalYAML()
	if err != nil {
		return nil, err
	}
	return sshShortSyntax(out)
}

// sshShortSyntax rewrites build.ssh entries the way the Compose
// specification writes them (id=path), sorted: compose-go prints "id: path"
// as a string, which would read back as a key with no path.
func sshShortSyntax(doc []byte) ([]byte, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil || len(root.Content) == 0 {
		return doc, nil
	}
	changed := false
	services := mappingValue(root.Content[0], "services")
	for i := 1; services != nil && i < len(services.Content); i += 2 {
		ssh := mappingValue(mappingValue(services.Content[i], "build"), "ssh")
		if ssh == nil {
			continue
		}
		for _, item := range ssh.Content {
			if id, path, ok := strings.Cut(item.Value, ": "); ok && item.Kind == yaml.ScalarNode {
				item.Value, item.Style = id+"="+path, 0
			}
		}
		// compose-go reads them from a map: give them one order.
		sort.Slice(ssh.Content, func(a, b int) bool { return ssh.Content[a].Value < ssh.Content[b].Value })
		changed = true
	}
	if !changed {
		return doc, nil
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&root); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

// mappingValue is the value of key in a YAML mapping node, nil when absent.
func mappingValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// balancerConfig is what config shows of a load balancer: that the proxy
// serves it, and its rules as drover resolved them.
func balancerConfig(p *Project, b Balancer) map[string]any {
	var rules []map[string]any
	for _, r := range b.Rules {
		m, _ := asMap(r)
		rules = append(rules, m)
	}
	ext := map[string]any{
		"load_balancer": map[string]any{
			"served_by": p.Name + "-proxy",
			"rules":     rules,
		},
	}
	if len(b.NoEffect) > 0 {
		ext["no_effect"] = b.NoEffect
	}
	return ext
}

// asMap turns a tagged struct into the map its JSON form has, so that YAML
// output shows only the keys that are set.
func asMap(v any) (map[string]any, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	return m, json.Unmarshal(data, &m)
}

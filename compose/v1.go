package compose

import (
	"fmt"

	"go.yaml.in/yaml/v4"
)

// convertV1 turns a compose file of the v1 layout (no version, no
// services:, service names at the top level) into the current layout, with
// its v1 keys mapped to today's. compose-go refuses the v1 layout, and many
// Rancher-era projects still use it. It returns nil when the file is not of
// the v1 layout (or not YAML at all: compose-go reports that better).
func convertV1(content []byte) (map[string]any, error) {
	var top map[string]any
	if err := yaml.Unmarshal(content, &top); err != nil || top == nil {
		return nil, nil
	}
	if _, ok := top["services"]; ok {
		return nil, nil
	}
	if _, ok := top["version"]; ok {
		return nil, nil
	}
	services := map[string]any{}
	for name, v := range top {
		svc, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("service %q: expected a mapping of keys (this file has the v1 layout: every top-level key is a service)", name)
		}
		converted, err := convertV1Service(svc)
		if err != nil {
			return nil, fmt.Errorf("service %q: %w", name, err)
		}
		services[name] = converted
	}
	return map[string]any{"services": services}, nil
}

// convertV1Service maps the keys that v1 named differently.
func convertV1Service(svc map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range svc {
		out[k] = v
	}
	if net, ok := out["net"]; ok {
		delete(out, "net")
		out["network_mode"] = net
	}
	driver, hasDriver := out["log_driver"]
	opts, hasOpts := out["log_opt"]
	if hasDriver || hasOpts {
		delete(out, "log_driver")
		delete(out, "log_opt")
		logging := map[string]any{}
		if hasDriver {
			logging["driver"] = driver
		}
		if hasOpts {
			logging["options"] = opts
		}
		out["logging"] = logging
	}
	if dockerfile, ok := out["dockerfile"]; ok {
		delete(out, "dockerfile")
		context, ok := out["build"].(string)
		if !ok {
			return nil, fmt.Errorf("dockerfile: needs build: to be a path, as in the v1 layout")
		}
		out["build"] = map[string]any{"context": context, "dockerfile": dockerfile}
	}
	return out, nil
}

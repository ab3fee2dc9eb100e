package compose

import (
	"fmt"
	"strings"

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
	for name := range top {
		// Keys that v1 never had (an override file with only networks:)
		// mean the current layout; compose-go reads it as it is.
		if currentTopLevel[name] || strings.HasPrefix(name, "x-") {
			return nil, nil
		}
	}
	services := map[string]any{}
	for name, v := range top {
		if looksLikeServices(name, v) {
			return nil, &FileError{path: name, Msg: fmt.Sprintf("unknown top-level key %q (did you mean \"services\"?)", name)}
		}
		svc, ok := v.(map[string]any)
		if !ok {
			return nil, &FileError{path: name, Service: name, Msg: "expected a mapping of keys (this file has the v1 layout: every top-level key is a service)"}
		}
		converted, err := convertV1Service(svc)
		if err != nil {
			return nil, &FileError{path: name + ".dockerfile", Service: name, Key: "dockerfile", Msg: err.Error()}
		}
		services[name] = converted
	}
	return map[string]any{"services": services}, nil
}

// currentTopLevel are the top-level keys of today's layout that v1 did not
// have.
var currentTopLevel = map[string]bool{
	"name": true, "networks": true, "volumes": true, "secrets": true,
	"configs": true, "include": true, "models": true,
}

// looksLikeServices tells a misspelt services: ("servics:") from a v1
// service: its name is a typo of services and every value under it is a
// mapping, as services are, where a v1 service has at least one plain value
// (an image, a command).
func looksLikeServices(name string, v any) bool {
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 || didYouMean(name, []string{"services"}) == "" {
		return false
	}
	for _, sv := range m {
		if _, ok := sv.(map[string]any); !ok && sv != nil {
			return false
		}
	}
	return true
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
			return nil, fmt.Errorf("needs build: to be a path, as in the v1 layout")
		}
		out["build"] = map[string]any{"context": context, "dockerfile": dockerfile}
	}
	return out, nil
}

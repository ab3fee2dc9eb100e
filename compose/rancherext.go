package compose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// extVolumeDriver carries a service's volume_driver through compose-go,
// whose schema has no such key although its types do; Load moves it back.
const extVolumeDriver = "x-drover-volume_driver"

// rancherVolumes rewrites the Rancher-era volume keys of one compose file
// (a model in the current layout) into what compose-go accepts, and returns
// a note for each, saying what a plain engine does with it:
//   - volume_driver on a service (the engine creates the service's volumes
//     with it);
//   - per_container on a top-level volume (Rancher made one volume per
//     container; here the service's containers share one);
//   - driver beside external: true (drover never creates an external
//     volume, so its driver is not used);
//   - in a v1 file, volumes: name:/path with a name that is not a path: a
//     named volume, created on first use under that very name (v1 names
//     were not prefixed with the project), with the volume_driver when set.
//     The name is read as compose-go will interpolate it, with env: a
//     catalog entry names its volumes with questions (${data_volume}:/data).
//
// It reports whether it changed the model.
func rancherVolumes(model map[string]any, v1 bool, env map[string]string) (notes []string, changed bool) {
	services, _ := model["services"].(map[string]any)
	volumes, _ := model["volumes"].(map[string]any)
	for _, name := range sortedKeysOf(volumes) {
		vol, ok := volumes[name].(map[string]any)
		if !ok {
			continue
		}
		if _, ok := vol["per_container"]; ok {
			delete(vol, "per_container")
			changed = true
			notes = append(notes, fmt.Sprintf("volume %q: per_container: no effect: Rancher made one volume per container; on one engine the containers of a service share this one", name))
		}
		if ext, _ := vol["external"].(bool); ext {
			if driver, ok := vol["driver"]; ok {
				delete(vol, "driver")
				changed = true
				notes = append(notes, fmt.Sprintf("volume %q: external with driver %v: drover never creates or removes an external volume, so the driver is not used; it must exist on the engine", name, driver))
			}
		}
	}
	declared := map[string]any{}
	for _, name := range sortedKeysOf(services) {
		svc, ok := services[name].(map[string]any)
		if !ok {
			continue
		}
		driver, hasDriver := svc["volume_driver"]
		if hasDriver {
			delete(svc, "volume_driver")
			svc[extVolumeDriver] = driver
			changed = true
		}
		if !v1 {
			continue
		}
		list, _ := svc["volumes"].([]any)
		for _, v := range list {
			spec, ok := v.(string)
			if !ok {
				continue
			}
			src, _, found := strings.Cut(interpolated(spec, env), ":")
			if !found || !isVolumeName(src) {
				continue
			}
			if _, seen := declared[src]; seen {
				continue
			}
			def := map[string]any{"name": src}
			how := "a local volume"
			if hasDriver {
				def["driver"] = driver
				how = fmt.Sprintf("a volume of driver %v", driver)
			}
			declared[src] = def
			notes = append(notes, fmt.Sprintf("service %q: volume %q (v1 layout): a named volume, created on first use as %s named %q, as docker-compose v1 and Rancher did", name, src, how, src))
		}
	}
	if len(declared) > 0 {
		if volumes == nil {
			volumes = map[string]any{}
			model["volumes"] = volumes
		}
		for name, def := range declared {
			if _, ok := volumes[name]; !ok {
				volumes[name] = def
			}
		}
		changed = true
	}
	return notes, changed
}

// interpolated is s with its variables replaced from env, as compose-go
// will replace them; s itself when it does not interpolate.
func interpolated(s string, env map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	out, err := template.SubstituteWithOptions(s, func(k string) (string, bool) { v, ok := env[k]; return v, ok }, template.WithoutLogging)
	if err != nil {
		return s
	}
	return out
}

// isVolumeName tells a volume name from a host path in a short volume
// spec: a path starts with /, . or ~ (or is a Windows drive).
func isVolumeName(src string) bool {
	if src == "" || strings.ContainsAny(src[:1], "/.~$") {
		return false
	}
	return !(len(src) >= 2 && src[1] == ':')
}

// rancherModel reads a compose file of the current layout as a model when
// it holds Rancher-era volume keys, and nil when it holds none (compose-go
// then reads the file itself, keeping its YAML tags such as !reset).
func rancherModel(content []byte) (map[string]any, []string) {
	if !strings.Contains(string(content), "volume_driver") && !strings.Contains(string(content), "per_container") &&
		!strings.Contains(string(content), "external") {
		return nil, nil
	}
	var model map[string]any
	if err := yaml.Unmarshal(content, &model); err != nil || model == nil {
		return nil, nil
	}
	notes, changed := rancherVolumes(model, false, nil)
	if !changed {
		return nil, nil
	}
	return model, notes
}

// withVolumeDrivers moves each service's volume_driver back from the
// extension rancherVolumes carried it in.
func withVolumeDrivers(p *types.Project) *types.Project {
	for name, s := range p.Services {
		d, ok := s.Extensions[extVolumeDriver]
		if !ok {
			continue
		}
		s.VolumeDriver = fmt.Sprint(d)
		delete(s.Extensions, extVolumeDriver)
		p.Services[name] = s
	}
	return p
}

// volumeDriverNotes says, for each volume drover would create with a driver
// other than local (Rancher's rancher-nfs, rancher-ebs, convoy...), what a
// plain engine does with it.
func volumeDriverNotes(p *types.Project) []string {
	var out []string
	for _, key := range sortedKeysOf(p.Volumes) {
		v := p.Volumes[key]
		if bool(v.External) || v.Driver == "" || v.Driver == "local" {
			continue
		}
		out = append(out, fmt.Sprintf("volume %q: driver %s: the engine creates it only where that volume plugin is installed; without it, up stops when it creates the volume, before any container is changed", key, v.Driver))
	}
	return out
}

func sortedKeysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

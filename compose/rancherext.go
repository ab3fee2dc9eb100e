package compose

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// extVolumeDriver carries a service's volume_driver through compose-go,
// whose schema has no such key although its types do; Load moves it back.
const extVolumeDriver = "x-drover-volume_driver"

// rancherDriverKeys are the keys of Rancher's driver plugin stacks that
// its schema allowed in the compose file too (l2-flat's network_driver);
// compose-go's schema has no such keys, so they travel as extensions
// (x-drover-network_driver) and the loader puts them with the service's
// rancher-compose keys, where they get their no-effect note.
var rancherDriverKeys = []string{"network_driver", "storage_driver"}

const extPrefix = "x-drover-"

// rancherDrivers moves each service's driver keys into extensions, and
// reports whether it changed the model.
func rancherDrivers(model map[string]any) (changed bool) {
	services, _ := model["services"].(map[string]any)
	for _, svc := range services {
		m, ok := svc.(map[string]any)
		if !ok {
			continue
		}
		for _, k := range rancherDriverKeys {
			if v, ok := m[k]; ok {
				delete(m, k)
				m[extPrefix+k] = v
				changed = true
			}
		}
	}
	return changed
}

// withDriverKeys takes the driver keys back from the extensions
// rancherDrivers carried them in, into rf (where the rancher-compose file,
// if it has them too, wins).
func withDriverKeys(p *types.Project, rf *RancherFile) {
	for name, s := range p.Services {
		rs := rf.Services[name]
		moved := false
		for _, k := range rancherDriverKeys {
			v, ok := s.Extensions[extPrefix+k]
			if !ok {
				continue
			}
			delete(s.Extensions, extPrefix+k)
			moved = true
			m, _ := v.(map[string]any)
			if m == nil {
				m = map[string]any{}
			}
			switch {
			case k == "network_driver" && rs.NetworkDriver == nil:
				rs.NetworkDriver = m
			case k == "storage_driver" && rs.StorageDriver == nil:
				rs.StorageDriver = m
			}
		}
		if moved {
			p.Services[name] = s
			rf.Services[name] = rs
		}
	}
}

// rancherLabels merges the labels a rancher-compose.yml gives a service
// over the compose file's, key by key, as Rancher 1.6 merged the two files
// (its compose executor read rancher-compose.yml as one more compose file;
// rancher-compose's docs: it "extends and overwrites docker-compose.yml").
// It returns a note for each service, at the line of its labels key.
func rancherLabels(p *types.Project, rf *RancherFile) []error {
	var notes []error
	for _, name := range sortedKeysOf(rf.Services) {
		rs := rf.Services[name]
		s, ok := p.Services[name]
		if !ok || rs.Labels == nil {
			continue
		}
		if s.Labels == nil {
			s.Labels = types.Labels{}
		}
		for k, v := range rs.Labels {
			s.Labels[k] = v
		}
		p.Services[name] = s
		notes = append(notes, &FileError{File: rf.Path, Line: rs.LabelsLine, Service: name, Key: "labels",
			Msg: "merged over the compose file's labels, key by key, as Rancher 1.6 merged rancher-compose.yml into docker-compose.yml"})
	}
	return notes
}

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
//     catalog entry names its volumes with questions (${data_volume}:/data);
//   - in a version 2 file, the same for a name the file does not declare
//     under volumes: (network-services' rancher-cni-driver). docker-compose
//     1.x refused it, but Rancher 1.6 passed the service's volumes to the
//     engine as written, which created the volume on first use.
//
// It reports whether it changed the model.
func rancherVolumes(model map[string]any, layout fileLayout, env map[string]string) (notes []string, changed bool) {
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
		if layout == layoutCurrent {
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
			if _, ok := volumes[src]; ok {
				continue
			}
			def := map[string]any{"name": src}
			how := "a local volume"
			if hasDriver {
				def["driver"] = driver
				how = fmt.Sprintf("a volume of driver %v", driver)
			}
			declared[src] = def
			if layout == layoutV1 {
				notes = append(notes, fmt.Sprintf("service %q: volume %q (v1 layout): a named volume, created on first use as %s named %q, as docker-compose v1 and Rancher did", name, src, how, src))
			} else {
				notes = append(notes, fmt.Sprintf("service %q: volume %q is not declared under volumes: (version 2): created on first use as %s named %q, as Rancher 1.6 did (docker-compose 1.x refused it)", name, src, how, src))
			}
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

// fileLayout is the layout of a compose file, for the Rancher-era
// rewrites that depend on it.
type fileLayout int

const (
	layoutCurrent fileLayout = iota // the Compose Specification
	layoutV1                        // services at the top level
	layoutV2                        // version: '2', Rancher 1.6's catalog
)

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
func rancherModel(content []byte, env map[string]string) (map[string]any, []string) {
	text := string(content)
	v2 := reVersion2.MatchString(text)
	if !v2 && !strings.Contains(text, "volume_driver") && !strings.Contains(text, "per_container") &&
		!strings.Contains(text, "external") && !strings.Contains(text, "_driver") {
		return nil, nil
	}
	var model map[string]any
	if err := yaml.Unmarshal(content, &model); err != nil || model == nil {
		return nil, nil
	}
	layout := layoutCurrent
	if v2 {
		layout = layoutV2
	}
	notes, changed := rancherVolumes(model, layout, env)
	if rancherDrivers(model) {
		changed = true
	}
	if !changed {
		return nil, nil
	}
	return model, notes
}

// reVersion2 matches the version key of a version 2 file (2, 2.0, 2.1...),
// the layout of Rancher 1.6's catalog.
var reVersion2 = regexp.MustCompile(`(?m)^version:\s*['"]?2(\.\d+)?['"]?\s*$`)

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

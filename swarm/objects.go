package swarm

import (
	"fmt"
	"os"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/docker/api/types/swarm"

	"github.com/drover/drover/compose"
)

// Object is a Swarm secret or config that the project's files define, as
// setup makes it: from a file (read when applied, never printed) or from
// an environment variable's value.
type Object struct {
	Kind   string // "secret" or "config"
	Key    string // the key under secrets: or configs:
	Name   string // the engine name: <project>_<key>, or the name: given
	File   string
	EnvVar string // the variable whose value is the content
	// External objects must exist; they are never made or removed.
	External bool
}

// objects lists the secrets and configs the project's services use.
func objects(p *compose.Project) ([]Object, error) {
	var out []Object
	seen := map[string]bool{}
	add := func(kind, key string, def types.FileObjectConfig, ok bool, service string) error {
		if !ok {
			return fmt.Errorf("service %q: %s %q is not declared under the top-level %ss:", service, kind, key, kind)
		}
		if seen[kind+"/"+key] {
			return nil
		}
		seen[kind+"/"+key] = true
		o := Object{Kind: kind, Key: key, Name: def.Name, File: def.File, External: bool(def.External)}
		if o.Name == "" {
			o.Name = p.Name + "_" + key
		}
		if def.Environment != "" {
			o.EnvVar = def.Environment
		}
		if !o.External && o.File == "" && o.EnvVar == "" {
			return fmt.Errorf("%ss.%s: only file: and environment: are mapped on a swarm", kind, key)
		}
		out = append(out, o)
		return nil
	}
	for _, s := range p.Services {
		for _, r := range s.Config.Secrets {
			def, ok := p.Compose.Secrets[r.Source]
			if err := add("secret", r.Source, types.FileObjectConfig(def), ok, s.Name); err != nil {
				return nil, err
			}
		}
		for _, r := range s.Config.Configs {
			def, ok := p.Compose.Configs[r.Source]
			if err := add("config", r.Source, types.FileObjectConfig(def), ok, s.Name); err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind+out[i].Name < out[j].Kind+out[j].Name })
	return out, nil
}

// Content reads what the object holds; env is the environment compose-go
// interpolated with.
func (o Object) Content(env map[string]string) ([]byte, error) {
	if o.EnvVar != "" {
		v, ok := env[o.EnvVar]
		if !ok {
			return nil, fmt.Errorf("%s %q: environment variable %s is not set", o.Kind, o.Key, o.EnvVar)
		}
		return []byte(v), nil
	}
	b, err := os.ReadFile(o.File)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", o.Kind, o.Key, err)
	}
	return b, nil
}

func fileRef(target, def string, r types.FileReferenceConfig, mode uint32) *swarm.SecretReferenceFileTarget {
	if target == "" {
		target = def
	}
	if r.Mode != nil {
		mode = uint32(*r.Mode)
	}
	return &swarm.SecretReferenceFileTarget{Name: target, UID: orDefault(r.UID, "0"), GID: orDefault(r.GID, "0"), Mode: os.FileMode(mode)}
}

// secretRefs are the service's secrets by name; Apply fills in their IDs,
// which the engine gives only once they exist.
func secretRefs(p *compose.Project, s compose.Service) ([]*swarm.SecretReference, error) {
	var out []*swarm.SecretReference
	for _, r := range s.Config.Secrets {
		def, ok := p.Compose.Secrets[r.Source]
		if !ok {
			return nil, fmt.Errorf("service %q: secret %q is not declared under the top-level secrets:", s.Name, r.Source)
		}
		name := def.Name
		if name == "" {
			name = p.Name + "_" + r.Source
		}
		out = append(out, &swarm.SecretReference{SecretName: name, File: fileRef(r.Target, r.Source, types.FileReferenceConfig(r), 0o444)})
	}
	return out, nil
}

func configRefs(p *compose.Project, s compose.Service) ([]*swarm.ConfigReference, error) {
	var out []*swarm.ConfigReference
	for _, r := range s.Config.Configs {
		def, ok := p.Compose.Configs[r.Source]
		if !ok {
			return nil, fmt.Errorf("service %q: config %q is not declared under the top-level configs:", s.Name, r.Source)
		}
		name := def.Name
		if name == "" {
			name = p.Name + "_" + r.Source
		}
		target := r.Target
		if target == "" {
			target = "/" + r.Source
		}
		f := fileRef(target, r.Source, types.FileReferenceConfig(r), 0o444)
		out = append(out, &swarm.ConfigReference{ConfigName: name, File: (*swarm.ConfigReferenceFileTarget)(f)})
	}
	return out, nil
}

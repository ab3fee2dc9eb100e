package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"sort"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
)

// ConfigFile is one of a service's configs as docker compose applies it on
// one engine: a config of file: is bind-mounted read-only (Source); one of
// content: or environment: is copied into each container when it is
// created (Content), so a container kept for rollback keeps the content it
// was made with.
type ConfigFile struct {
	Name   string // the key under the top-level configs:
	Target string // absolute path in the container
	Source string // host file to bind-mount; "" when Content is copied
	// Content is never printed nor stored in a label; its digest is in the
	// service's hash.
	Content  []byte
	UID, GID string
	Mode     *types.FileMode
	// Digest is the SHA-256 of the content (of the file, for Source).
	Digest string
}

// serviceConfigs resolves the configs a service uses, from the top-level
// definitions and the project's environment, refusing what one engine
// cannot apply, as docker compose does before it creates anything.
func serviceConfigs(p *types.Project, cfg types.ServiceConfig, srcs sources) ([]ConfigFile, error) {
	var out []ConfigFile
	for _, ref := range cfg.Configs {
		def, ok := p.Configs[ref.Source]
		if !ok {
			return nil, srcs.at(cfg.Name, "configs", fmt.Sprintf("config %q is not declared under the top-level configs:", ref.Source))
		}
		refuse := func(msg string) error {
			return srcs.pathError("configs."+ref.Source, fmt.Sprintf("config %q (used by service %q): %s", ref.Source, cfg.Name, msg), "")
		}
		switch {
		case bool(def.External):
			return nil, refuse("external configs are swarm objects; one engine has none: give it file:, content: or environment:")
		case def.Driver != "":
			return nil, refuse("driver is for swarm; docker compose refuses it too")
		case def.TemplateDriver != "":
			return nil, refuse("template_driver is for swarm; docker compose refuses it too")
		}
		if err := checkOwner(cfg.Name, "configs", "config", types.FileReferenceConfig(ref), srcs); err != nil {
			return nil, err
		}
		f := ConfigFile{Name: ref.Source, Target: configTarget(ref), UID: ref.UID, GID: ref.GID, Mode: ref.Mode}
		switch {
		case def.Content != "":
			f.Content = []byte(def.Content)
		case def.Environment != "":
			v, ok := p.Environment[def.Environment]
			if !ok {
				return nil, refuse(fmt.Sprintf("environment variable %s is not set", def.Environment))
			}
			f.Content = []byte(v)
		case def.File != "":
			data, err := os.ReadFile(def.File)
			if err != nil {
				return nil, refuse(fmt.Sprintf("file: %v", err))
			}
			f.Source = def.File
			f.Digest = digest(data)
		default:
			return nil, refuse("needs file:, content: or environment:")
		}
		if f.Source == "" {
			if cfg.ReadOnly {
				return nil, srcs.at(cfg.Name, "configs", fmt.Sprintf("config %q: a content or environment config is copied into the container, which read_only: true forbids; use a file: config", ref.Source))
			}
			f.Digest = digest(f.Content)
		}
		out = append(out, f)
	}
	return out, nil
}

// serviceSecrets resolves the secrets of environment: a service uses, which
// docker compose copies into its containers under /run/secrets; secrets of
// file: stay bind-mounted (reconcile.secrets).
func serviceSecrets(p *types.Project, cfg types.ServiceConfig, srcs sources) ([]ConfigFile, error) {
	var out []ConfigFile
	for _, ref := range cfg.Secrets {
		def, ok := p.Secrets[ref.Source]
		if !ok || def.Environment == "" {
			continue
		}
		v, set := p.Environment[def.Environment]
		if !set {
			return nil, srcs.pathError("secrets."+ref.Source, fmt.Sprintf("secret %q (used by service %q): environment variable %s is not set", ref.Source, cfg.Name, def.Environment), "")
		}
		if cfg.ReadOnly {
			return nil, srcs.at(cfg.Name, "secrets", fmt.Sprintf("secret %q: a secret of environment: is copied into the container, which read_only: true forbids; use a file: secret", ref.Source))
		}
		if err := checkOwner(cfg.Name, "secrets", "secret", types.FileReferenceConfig(ref), srcs); err != nil {
			return nil, err
		}
		target := ref.Target
		if target == "" {
			target = ref.Source
		}
		if !path.IsAbs(target) {
			target = path.Join("/run/secrets", target)
		}
		out = append(out, ConfigFile{Name: ref.Source, Target: target, Content: []byte(v), UID: ref.UID, GID: ref.GID, Mode: ref.Mode, Digest: digest([]byte(v))})
	}
	return out, nil
}

// checkOwner refuses a uid or gid that is not a number: the copy into the
// container would fail after its create.
func checkOwner(service, key, kind string, ref types.FileReferenceConfig, srcs sources) error {
	for what, id := range map[string]string{"uid": ref.UID, "gid": ref.GID} {
		if _, err := strconv.Atoi(id); id != "" && err != nil {
			return srcs.at(service, key, fmt.Sprintf("%s %q: %s %q: expected a number", kind, ref.Source, what, id))
		}
	}
	return nil
}

func digest(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// configTarget is where a config lands: target, made absolute under /, or
// /<name> without one (docker compose's defaults).
func configTarget(ref types.ServiceConfigObjConfig) string {
	t := ref.Target
	if t == "" {
		t = ref.Source
	}
	return path.Join("/", t)
}

// contentDigests maps each config and copied secret a service uses to the
// digest of its content, for the hash: a changed one is a changed service.
func contentDigests(configs, secrets []ConfigFile) map[string]map[string]string {
	byName := func(files []ConfigFile) map[string]string {
		out := map[string]string{}
		for _, f := range files {
			out[f.Name] = f.Digest
		}
		return out
	}
	return map[string]map[string]string{SpecConfigContent: byName(configs), SpecSecretContent: byName(secrets)}
}

// configNotes says what a service's configs do that a reader might not
// expect: docker compose ignores uid, gid and mode of a bind-mounted file.
func configNotes(files []ConfigFile) []string {
	var out []string
	for _, f := range files {
		if f.Source != "" && (f.UID != "" || f.GID != "" || f.Mode != nil) {
			out = append(out, fmt.Sprintf("config %s: uid, gid and mode have no effect on a file: config, which is bind-mounted with the file's own (as docker compose does)", f.Name))
		}
	}
	sort.Strings(out)
	return out
}

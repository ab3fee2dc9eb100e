package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/compose-spec/compose-go/v2/types"
)

// The keys of a spec that hold the digests of the content of the service's
// configs and of its secrets drover copies in (those of environment:).
const (
	SpecConfigContent = "config_content"
	SpecSecretContent = "secret_content"
)

// Hash returns the canonical JSON of what shapes a service's containers and
// its SHA-256. Like Compose's config hash it leaves out what does not change a
// container: scale, build, pull policy, depends_on, profiles, the upgrade
// policy and x- extensions. The image is in it by reference only; a new image
// behind the same tag is caught by comparing image IDs, not by this hash.
//
// digests (spec key → config or secret name → digest of its content) join
// the spec under "config_content" and "secret_content", so that a changed
// config file or value is an upgrade although the service's own keys did
// not change.
func Hash(cfg types.ServiceConfig, digests map[string]map[string]string) (hash string, spec []byte, err error) {
	cfg.Build = nil
	cfg.PullPolicy = ""
	cfg.Scale = nil
	cfg.DependsOn = nil
	cfg.Profiles = nil
	cfg.Extensions = nil
	if cfg.Deploy != nil {
		d := *cfg.Deploy
		d.Replicas = nil
		d.UpdateConfig = nil
		d.RollbackConfig = nil
		d.Extensions = nil
		cfg.Deploy = &d
		// A deploy: that held only what is left out must hash like none.
		if reflect.DeepEqual(d, types.DeployConfig{}) {
			cfg.Deploy = nil
		}
	}
	spec, err = json.Marshal(cfg)
	if err != nil {
		return "", nil, fmt.Errorf("service %q: encoding spec: %w", cfg.Name, err)
	}
	if hasDigests(digests) {
		// Only then: the spec of a service without configs stays what it
		// was, and so does its hash.
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(spec, &fields); err != nil {
			return "", nil, fmt.Errorf("service %q: encoding spec: %w", cfg.Name, err)
		}
		for key, m := range digests {
			if len(m) == 0 {
				continue
			}
			if fields[key], err = json.Marshal(m); err != nil {
				return "", nil, err
			}
		}
		if spec, err = json.Marshal(fields); err != nil {
			return "", nil, fmt.Errorf("service %q: encoding spec: %w", cfg.Name, err)
		}
	}
	sum := sha256.Sum256(spec)
	return hex.EncodeToString(sum[:]), spec, nil
}

func hasDigests(digests map[string]map[string]string) bool {
	for _, m := range digests {
		if len(m) > 0 {
			return true
		}
	}
	return false
}

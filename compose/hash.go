package compose

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/compose-spec/compose-go/v2/types"
)

// Hash returns the canonical JSON of what shapes a service's containers and
// its SHA-256. Like Compose's config hash it leaves out what does not change a
// container: scale, build, pull policy, depends_on, profiles, the upgrade
// policy and x- extensions. The image is in it by reference only; a new image
// behind the same tag is caught by comparing image IDs, not by this hash.
func Hash(cfg types.ServiceConfig) (hash string, spec []byte, err error) {
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
	sum := sha256.Sum256(spec)
	return hex.EncodeToString(sum[:]), spec, nil
}

package compose

import (
	"encoding/json"

	"github.com/compose-spec/compose-go/v2/types"
)

// MarshalYAML renders the resolved project with, under x-drover, what drover
// decided for each service: its scale, its upgrade policy and its
// rancher-compose settings.
func (p *Project) MarshalYAML() ([]byte, error) {
	withPolicy, err := p.Compose.WithServicesTransform(func(name string, cfg types.ServiceConfig) (types.ServiceConfig, error) {
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
		if r, err := asMap(svc.Rancher); err == nil && len(r) > 0 {
			ext["rancher"] = r
		}
		if len(svc.NoEffect) > 0 {
			ext["no_effect"] = svc.NoEffect
		}
		if cfg.Extensions == nil {
			cfg.Extensions = types.Extensions{}
		}
		cfg.Extensions["x-drover"] = ext
		return cfg, nil
	})
	if err != nil {
		return nil, err
	}
	return withPolicy.MarshalYAML()
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

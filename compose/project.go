// Package compose loads a drover project: the compose files through
// compose-go, rancher-compose.yml through drover's own strict parser, the
// upgrade policy of each service and the hash that tells whether a service
// changed. It makes no Docker calls.
package compose

import (
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover/drover/catalog"
)

// Project is a loaded, validated drover project.
type Project struct {
	Name        string
	WorkingDir  string
	ConfigFiles []string
	// RancherFile is the rancher-compose.yml that was read, "" when none.
	RancherFile string
	// Compose is the project as compose-go resolved it; networks and volumes
	// are read from it.
	Compose *types.Project
	// Services in dependency order: a service comes after everything it
	// depends on, ties broken by name.
	Services []Service
	// Balancers are the load-balancer services: the front proxy serves
	// their rules, and they are in no other list.
	Balancers []Balancer
	Warnings  []string
	// Questions are a catalog entry's questions with the values they
	// resolved to, in the order the rancher-compose file asks them.
	Questions []catalog.Value
	// byName indexes Services, so that planning a project of many services
	// looks each one up in constant time; nil in a Project made by hand.
	byName map[string]int
}

// NeedsProxy reports whether the project needs drover's front proxy: a
// service is behind it, a load balancer is served by it, or a service has
// a rancher-compose health_check it runs.
func (p *Project) NeedsProxy() bool {
	if len(p.Balancers) > 0 {
		return true
	}
	for _, s := range p.Services {
		if s.Proxy || s.Rancher.HealthCheck != nil && s.Rancher.HealthCheck.Port != 0 {
			return true
		}
	}
	return false
}

func (p *Project) index() {
	p.byName = make(map[string]int, len(p.Services))
	for i, s := range p.Services {
		p.byName[s.Name] = i
	}
}

// Service is one service with everything drover decided about it.
type Service struct {
	Name    string
	Config  types.ServiceConfig
	Scale   int
	Policy  Policy
	Rancher RancherService
	// Hash identifies the runtime spec (see Hash); Spec is the canonical
	// JSON it was computed from, stored on containers for diffs.
	Hash string
	Spec []byte
	// NoEffect explains the rancher-compose keys and io.rancher.* labels
	// that mean nothing on a plain engine.
	NoEffect []string
	// Pull says when the image is pulled (or built).
	Pull PullPolicy
	// Configs are the service's configs, resolved: what to bind-mount or
	// copy into each container.
	Configs []ConfigFile
	// Secrets are the service's secrets of environment:, copied into each
	// container under /run/secrets (those of file: are bind-mounted).
	Secrets []ConfigFile
	// Proxy: drover's front proxy owns the service's published host ports
	// (by default for fixed TCP ports; x-drover: {proxy: false} opts out);
	// its containers publish none themselves.
	Proxy bool
	// History is how many revisions its containers record, the current one
	// included (x-drover: {history: N}; DefaultHistory).
	History int
	// Sidekicks are the services that run beside this one, slot by slot
	// (io.rancher.sidekicks); Primary is, for a sidekick, the service it
	// runs beside. A sidekick has its primary's scale and policy.
	Sidekicks []string
	Primary   string
}

// Service returns the named service, and whether it exists.
func (p *Project) Service(name string) (Service, bool) {
	if i, ok := p.byName[name]; ok && i < len(p.Services) && p.Services[i].Name == name {
		return p.Services[i], true
	}
	for _, s := range p.Services {
		if s.Name == name {
			return s, true
		}
	}
	return Service{}, false
}

// FailureAction says what an upgrade does when a batch fails.
type FailureAction string

const (
	FailureRollback FailureAction = "rollback"
	FailurePause    FailureAction = "pause"
)

// Policy is the resolved upgrade policy of a service.
type Policy struct {
	StartFirst    bool          `yaml:"start_first" json:"start_first"`
	BatchSize     int           `yaml:"batch_size" json:"batch_size"`
	Interval      time.Duration `yaml:"interval" json:"interval"`
	FailureAction FailureAction `yaml:"failure_action" json:"failure_action"`
	// HealthTimeout bounds the wait for a new container to become healthy.
	HealthTimeout time.Duration `yaml:"health_timeout" json:"health_timeout"`
	// Monitor is how long a container without a health check must keep
	// running to count as healthy.
	Monitor time.Duration `yaml:"monitor" json:"monitor"`
}

// DefaultPolicy is rancher-compose's command-line defaults: stop-first,
// batches of 2, one second apart.
func DefaultPolicy() Policy {
	return Policy{
		BatchSize:     2,
		Interval:      time.Second,
		FailureAction: FailureRollback,
		HealthTimeout: 60 * time.Second,
		Monitor:       2 * time.Second,
	}
}

// ResolvePolicy applies the precedence rancher-compose.yml
// (upgrade_strategy, and health_check.initializing_timeout for the health
// wait) > deploy.update_config > defaults. Command-line flags are
// applied on top by the caller.
func ResolvePolicy(cfg types.ServiceConfig, rs RancherService) Policy {
	p := DefaultPolicy()
	if cfg.Deploy != nil && cfg.Deploy.UpdateConfig != nil {
		u := cfg.Deploy.UpdateConfig
		if u.Order == "start-first" {
			p.StartFirst = true
		}
		if u.Parallelism != nil && *u.Parallelism > 0 {
			p.BatchSize = int(*u.Parallelism)
		}
		if u.Delay != 0 {
			p.Interval = time.Duration(u.Delay)
		}
		if u.FailureAction == "pause" {
			p.FailureAction = FailurePause
		}
		if u.Monitor != 0 {
			p.Monitor = time.Duration(u.Monitor)
		}
	}
	// Rancher gave a new container initializing_timeout to become healthy.
	if hc := rs.HealthCheck; hc != nil && hc.InitializingTimeout > 0 {
		p.HealthTimeout = time.Duration(hc.InitializingTimeout) * time.Millisecond
	}
	if us := rs.UpgradeStrategy; us != nil {
		if us.StartFirst != nil {
			p.StartFirst = *us.StartFirst
		}
		if us.BatchSize != nil {
			p.BatchSize = *us.BatchSize
		}
		if us.IntervalMillis != nil {
			p.Interval = time.Duration(*us.IntervalMillis) * time.Millisecond
		}
	}
	return p
}

// ResolveScale applies rancher-compose scale > deploy.replicas > scale > 1.
func ResolveScale(cfg types.ServiceConfig, rs RancherService) int {
	if rs.Scale != nil {
		return *rs.Scale
	}
	if cfg.Deploy != nil && cfg.Deploy.Replicas != nil {
		return *cfg.Deploy.Replicas
	}
	if cfg.Scale != nil {
		return *cfg.Scale
	}
	return 1
}

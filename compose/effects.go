package compose

import (
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// Rancher labels that drover acts on.
const (
	// LabelPullImage "always" pulls the image before a container is made.
	LabelPullImage = "io.rancher.container.pull_image"
	// LabelStartOnce "true" runs a container once: a plain up does not
	// start it again once it has exited.
	LabelStartOnce = "io.rancher.container.start_once"
)

// noEffect explains each rancher-compose key and io.rancher.* label of a
// service that means something under Rancher but has no effect on a plain
// Docker engine. drover accepts them, so that Rancher-era projects load as
// they are, and says so rather than ignoring them silently.
func noEffect(cfg types.ServiceConfig, rs RancherService) []string {
	var out []string
	if rs.RetainIP != nil {
		out = append(out, "retain_ip: no effect: containers get their address from the network (pin one with networks.<name>.ipv4_address)")
	}
	if on, _ := proxied(cfg); rs.DrainTimeoutMs != nil && !on {
		out = append(out, "drain_timeout_ms: no effect: the service is not behind drover's front proxy (it has no published TCP port, or x-drover: {proxy: false})")
	}
	if rs.HealthCheck != nil && rs.HealthCheck.Port == 0 {
		out = append(out, "health_check: no port, so the probe is not run; health comes from the container's Docker health check")
	}
	if rs.Metadata != nil {
		out = append(out, "metadata: kept in the project, no effect: there is no Rancher metadata service")
	}
	if rs.ScalePolicy != nil {
		out = append(out, "scale_policy: no effect: drover does not scale on its own")
	}
	if rs.ExternalIPs != nil || rs.Hostname != "" {
		out = append(out, "external_ips/hostname: no effect: they describe a Rancher external service")
	}
	if rs.StorageDriver != nil {
		out = append(out, "storage_driver: kept in the project, no effect: Rancher registered this service as a volume driver; its containers run, but the engine uses a volume plugin only where one is installed")
	}
	if rs.NetworkDriver != nil {
		out = append(out, "network_driver: kept in the project, no effect: Rancher made this service the network driver of its managed network; its containers run, and containers join the engine's own networks")
	}
	if cfg.Attach != nil && *cfg.Attach {
		out = append(out, "attach: no effect: drover does not attach to containers' output (drover logs shows it)")
	}
	if cfg.Develop != nil {
		out = append(out, "develop: accepted, no effect: it configures docker compose watch, which changes nothing at run time")
	}
	if cfg.VolumeDriver != "" {
		out = append(out, fmt.Sprintf("volume_driver %s: volumes the engine creates for this service use that driver, so its plugin must be installed on the engine (creating a container fails otherwise)", cfg.VolumeDriver))
	}
	var labels []string
	for k, v := range cfg.Labels {
		if !strings.HasPrefix(k, "io.rancher.") {
			continue
		}
		switch {
		case k == LabelPullImage && v == "always" && cfg.PullPolicy != "":
			out = append(out, fmt.Sprintf("label %s: no effect: pull_policy %s takes precedence", k, cfg.PullPolicy))
			continue
		case k == LabelPullImage && v == "always", k == LabelStartOnce && v == "true", k == LabelSidekicks:
			continue // acted on
		}
		labels = append(labels, k)
	}
	sort.Strings(labels)
	for _, k := range labels {
		if strings.HasPrefix(k, "io.rancher.scheduler.") {
			out = append(out, fmt.Sprintf("label %s: kept on the containers, no effect: Rancher's scheduler used it to place containers on hosts; one engine has one host", k))
			continue
		}
		out = append(out, fmt.Sprintf("label %s: kept on the containers, no effect on a plain engine", k))
	}
	return out
}

// PullAlways reports whether the service asks for its image to be pulled
// before each container is made and before an upgrade is planned.
func (s Service) PullAlways() bool {
	return s.Pull.Mode == PullAlways
}

// StartOnce reports whether the service's containers run once.
func (s Service) StartOnce() bool {
	return s.Config.Labels[LabelStartOnce] == "true"
}

// noEffectWarnings says each no-effect note once, naming the services it is
// about, so that ten services with a health_check make one line, not ten.
func noEffectWarnings(services []Service) []string {
	var notes []string
	about := map[string][]string{}
	for _, s := range services {
		for _, n := range s.NoEffect {
			if len(about[n]) == 0 {
				notes = append(notes, n)
			}
			about[n] = append(about[n], fmt.Sprintf("%q", s.Name))
		}
	}
	out := make([]string, 0, len(notes))
	for _, n := range notes {
		names := about[n]
		if len(names) == 1 {
			out = append(out, fmt.Sprintf("service %s: %s", names[0], n))
			continue
		}
		out = append(out, fmt.Sprintf("services %s: %s", strings.Join(names, ", "), n))
	}
	return out
}

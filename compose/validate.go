package compose

import (
	"fmt"
	"strings"
)

// checkProject refuses what compose-go lets through but the engine would
// refuse half-way through an up, after other containers were already
// changed: docker compose makes the first of these checks before its first
// engine call (Project.CheckContainerNameUnicity); the second is drover's,
// since drover creates services in parallel and one failure would leave the
// others made. Services come in the order Load made them, so the error names
// the same pair every time.
func checkProject(services []Service, srcs sources) error {
	names := map[string]string{} // container_name → service
	for _, s := range services {
		n := s.Config.ContainerName
		if n == "" {
			continue
		}
		if other, ok := names[n]; ok {
			return srcs.at(s.Name, "container_name", fmt.Sprintf("container_name %q is already the container name of service %q; two containers cannot have one name", n, other))
		}
		names[n] = s.Name
	}
	return checkHostPorts(services, srcs)
}

// checkHostPorts refuses two services that publish one fixed host port
// (same protocol; an empty or 0.0.0.0 host address takes every address).
func checkHostPorts(services []Service, srcs sources) error {
	type binding struct{ service, ip string }
	seen := map[string][]binding{} // "8080/tcp" → who publishes it
	for _, s := range services {
		for _, p := range s.Config.Ports {
			if p.Published == "" || strings.Contains(p.Published, "-") {
				continue // an ephemeral port or a range: the engine picks
			}
			proto := p.Protocol
			if proto == "" {
				proto = "tcp"
			}
			key := p.Published + "/" + proto
			for _, b := range seen[key] {
				if b.service != s.Name && overlaps(b.ip, p.HostIP) {
					return srcs.at(s.Name, "ports", fmt.Sprintf("host port %s is also published by service %q; the engine would refuse the second", key, b.service))
				}
			}
			seen[key] = append(seen[key], binding{s.Name, p.HostIP})
		}
	}
	return nil
}

func overlaps(a, b string) bool {
	any := func(ip string) bool { return ip == "" || ip == "0.0.0.0" || ip == "::" }
	return any(a) || any(b) || a == b
}

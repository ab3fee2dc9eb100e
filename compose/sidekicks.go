package compose

import (
	"fmt"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// LabelSidekicks on a service names its sidekicks (io.rancher.sidekicks:
// data,log): Rancher scheduled them with it and upgraded them together.
// drover runs each sidekick at its primary's scale and policy and upgrades
// the whole unit in the primary's batches, slot by slot.
const LabelSidekicks = "io.rancher.sidekicks"

// Unit returns the names of a service's unit: its primary, then the
// primary's sidekicks in the label's order; just the service when it is in
// no unit.
func (p *Project) Unit(name string) []string {
	svc, ok := p.Service(name)
	if !ok {
		return []string{name}
	}
	if svc.Primary != "" {
		svc, _ = p.Service(svc.Primary)
	}
	return append([]string{svc.Name}, svc.Sidekicks...)
}

// SameUnit reports whether two services are members of one unit (a primary
// and its sidekick, or two sidekicks of one primary).
func (p *Project) SameUnit(a, b string) bool {
	if a == b {
		return false
	}
	for _, n := range p.Unit(a) {
		if n == b {
			return true
		}
	}
	return false
}

// askedProxy: x-drover.proxy is set to true in the service's files.
func askedProxy(cfg types.ServiceConfig) bool {
	ext, _ := cfg.Extensions["x-drover"].(map[string]any)
	on, _ := ext["proxy"].(bool)
	return on
}

// linkSidekicks reads every service's io.rancher.sidekicks label, checks it
// and makes each sidekick follow its primary: scale and upgrade policy.
func linkSidekicks(p *Project, srcs sources) error {
	claimed := map[string]string{} // sidekick → its primary
	for i := range p.Services {
		primary := &p.Services[i]
		v, ok := primary.Config.Labels[LabelSidekicks]
		if !ok {
			continue
		}
		for _, name := range strings.Split(v, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			j, ok := p.byName[name]
			switch {
			case !ok:
				return srcs.at(primary.Name, "labels", fmt.Sprintf("label %s: no service %q in the project", LabelSidekicks, name))
			case name == primary.Name:
				return srcs.at(primary.Name, "labels", fmt.Sprintf("label %s: a service cannot be its own sidekick", LabelSidekicks))
			case claimed[name] != "":
				return srcs.at(primary.Name, "labels", fmt.Sprintf("label %s: %q is already a sidekick of %q", LabelSidekicks, name, claimed[name]))
			case p.Services[j].Config.Labels[LabelSidekicks] != "":
				return srcs.at(primary.Name, "labels", fmt.Sprintf("label %s: %q has sidekicks of its own; a sidekick cannot", LabelSidekicks, name))
			case p.Services[j].Proxy && askedProxy(p.Services[j].Config):
				return srcs.at(name, "x-drover", fmt.Sprintf("a sidekick (of %q) behind drover's front proxy is not supported; publish its ports from the primary, or drop x-drover.proxy", primary.Name))
			}
			claimed[name] = primary.Name
			primary.Sidekicks = append(primary.Sidekicks, name)
		}
	}
	for i := range p.Services {
		for _, name := range p.Services[i].Sidekicks {
			primary := p.Services[i]
			sk := &p.Services[p.byName[name]]
			if sk.Scale != 1 && sk.Scale != primary.Scale {
				p.Warnings = append(p.Warnings, fmt.Sprintf("service %q: scale %d not used: a sidekick runs at its primary's scale (%q: %d)", name, sk.Scale, primary.Name, primary.Scale))
			}
			if sk.Config.ContainerName != "" && primary.Scale > 1 {
				return srcs.at(name, "container_name", fmt.Sprintf("container_name %q needs scale 1, but the service is a sidekick of %q, scale %d", sk.Config.ContainerName, primary.Name, primary.Scale))
			}
			if sk.Proxy {
				// The proxy fronts whole services, batch by batch; a
				// sidekick goes in its primary's batches.
				sk.Proxy = false
				p.Warnings = append(p.Warnings, fmt.Sprintf("service %q: a sidekick publishes its ports itself, not through drover's front proxy", name))
			}
			sk.Primary, sk.Scale, sk.Policy = primary.Name, primary.Scale, primary.Policy
		}
	}
	return nil
}

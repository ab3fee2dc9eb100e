package reconcile

import (
	"fmt"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover/drover/compose"
)

// setupSteps are the images, networks and volumes that the services about
// to get new containers need and the engine lacks. An image that is missing
// and can be neither built nor pulled is an error now, before any change.
func setupSteps(p *compose.Project, obs Observed, creating []compose.Service) ([]Step, error) {
	var fetches, steps []Step
	images := map[string]bool{}
	networks := map[string]bool{}
	volumes := map[string]bool{}
	for _, svc := range creating {
		ref := ImageRef(p.Name, svc.Config)
		_, present := obs.Images[NormalizeRef(ref)]
		if !present && !images[ref] {
			images[ref] = true
			if svc.Config.Build == nil && svc.Pull.Mode == compose.PullNever {
				return nil, fmt.Errorf("service %q: image %s is not on the engine and pull_policy is never", svc.Name, ref)
			}
			step, _, err := fetchStep(p, svc, ref, svc.PullDue(false, time.Time{}, time.Time{}), "missing")
			if err != nil {
				return nil, err
			}
			fetches = append(fetches, step)
		}
		if svc.Config.NetworkMode == "" {
			for key := range svc.Config.Networks {
				networks[key] = true
			}
		}
		for _, v := range svc.Config.Volumes {
			if v.Type == "volume" && v.Source != "" {
				volumes[v.Source] = true
			}
		}
	}
	for _, key := range sortedKeys(networks) {
		n := p.Compose.Networks[key]
		if obs.Networks[n.Name] {
			continue
		}
		if bool(n.External) {
			return nil, fmt.Errorf("network %q is declared external but the engine has no network %q; create it first (docker network create %s)", key, n.Name, n.Name)
		}
		labels := resourceLabels(p.Name, LabelNetwork, key, n.Labels)
		steps = append(steps, Step{Target: n.Name, Reason: "missing", Action: CreateNetwork{Spec: NetworkSpec{
			Name: n.Name, Driver: n.Driver, Options: n.DriverOpts, Labels: labels,
			Internal: n.Internal, Attachable: n.Attachable, EnableIPv6: n.EnableIPv6 != nil && *n.EnableIPv6,
		}}})
	}
	for _, key := range sortedKeys(volumes) {
		v, ok := p.Compose.Volumes[key]
		if !ok {
			return nil, fmt.Errorf("volume %q is used but not declared under the top-level volumes:", key)
		}
		if obs.Volumes[v.Name] {
			continue
		}
		if bool(v.External) {
			return nil, fmt.Errorf("volume %q is declared external but the engine has no volume %q; create it first (docker volume create %s)", key, v.Name, v.Name)
		}
		labels := resourceLabels(p.Name, LabelVolume, key, v.Labels)
		steps = append(steps, Step{Target: v.Name, Reason: "missing", Action: CreateVolume{Spec: VolumeSpec{
			Name: v.Name, Driver: v.Driver, Options: v.DriverOpts, Labels: labels,
		}}})
	}
	return append(fetchLanes(fetches), steps...), nil
}

// resourceLabels are the labels of a network or volume drover creates: the
// file's own, and the Compose ones that let down find it.
func resourceLabels(project, kindLabel, key string, own map[string]string) map[string]string {
	labels := map[string]string{LabelProject: project, kindLabel: key, LabelVersion: Version}
	for k, v := range own {
		labels[k] = v
	}
	return labels
}

// legacyBuilderCan refuses, before any change, a build that needs BuildKit:
// drover builds through the engine's build API without a BuildKit session,
// which has no way to forward an SSH agent or mount a build secret.
func legacyBuilderCan(service string, b *types.BuildConfig, ref string) error {
	var need []string
	if len(b.SSH) > 0 {
		need = append(need, "build.ssh")
	}
	if len(b.Secrets) > 0 {
		need = append(need, "build.secrets")
	}
	if len(need) == 0 {
		return nil
	}
	verb := "needs"
	if len(need) > 1 {
		verb = "need"
	}
	return fmt.Errorf("service %q: %s %s BuildKit, and drover builds with the engine's legacy builder; build the image first (docker buildx build --tag %s ...), then run drover again", service, strings.Join(need, " and "), verb, ref)
}

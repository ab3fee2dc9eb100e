package reconcile

import (
	"fmt"
	"slices"
	"time"

	"github.com/drover/drover/compose"
)

// FetchParallel bounds the images pulled at once: enough to overlap the
// registry's round trips, few enough not to starve the engine.
const FetchParallel = 4

// Refresh plans the pulls and builds that the selected services' pull
// policies ask for before anything else is planned: always and build on
// every up, refresh once the local tag is older than the policy's period
// (tagged holds when each present tag, normalised, was last set). A tag
// that moved in the registry then shows as out of sync, and an upgrade
// replaces it. Images the engine lacks are left to the plan's setup, which
// fetches them only for services that get new containers.
func Refresh(p *compose.Project, services []string, obs Observed, tagged map[string]time.Time, now time.Time) (Plan, error) {
	steps, err := imageSteps(p, services, func(svc compose.Service) (Step, bool, error) {
		ref := ImageRef(p.Name, svc.Config)
		key := NormalizeRef(ref)
		if _, present := obs.Images[key]; !present {
			return Step{}, false, nil
		}
		return fetchStep(p, svc, ref, svc.PullDue(true, tagged[key], now), "pull "+svc.Pull.String())
	})
	return Plan{Project: p.Name, Setup: fetchLanes(steps)}, err
}

// PullPlan is drover pull: the image of every selected service that has
// one and does not build it, whatever its policy.
func PullPlan(p *compose.Project, services []string) (Plan, error) {
	steps, err := imageSteps(p, services, func(svc compose.Service) (Step, bool, error) {
		ref := svc.Config.Image
		return Step{Target: ref, Reason: svc.Name, Action: PullImage{Ref: ref}}, ref != "" && svc.Config.Build == nil, nil
	})
	return Plan{Project: p.Name, Setup: fetchLanes(steps)}, err
}

// BuildOptions are drover build's flags.
type BuildOptions struct {
	NoCache, Pull bool
	// Args are --build-arg values, over the files' build args.
	Args map[string]string
}

// BuildPlan is drover build: the image of every selected service that has
// a build section, one after the other. Services without one are skipped.
func BuildPlan(p *compose.Project, services []string, opts BuildOptions) (Plan, error) {
	steps, err := imageSteps(p, services, func(svc compose.Service) (Step, bool, error) {
		if svc.Config.Build == nil {
			return Step{}, false, nil
		}
		step, _, err := fetchStep(p, svc, ImageRef(p.Name, svc.Config), compose.FetchBuild, svc.Name)
		if err != nil {
			return Step{}, false, err
		}
		b := step.Action.(BuildImage)
		b.Spec.NoCache, b.Spec.Pull = opts.NoCache, opts.Pull
		if len(opts.Args) > 0 {
			args := map[string]*string{}
			for k, v := range b.Spec.Args {
				args[k] = v
			}
			for k, v := range opts.Args {
				args[k] = &v
			}
			b.Spec.Args = args
		}
		step.Action = b
		return step, true, nil
	})
	return Plan{Project: p.Name, Setup: steps}, err
}

// PushPlan is drover push: the image of every selected service that builds
// it and names it (build and image), at most FetchParallel at once. A
// service named on the command line that has nothing to push is an error.
func PushPlan(p *compose.Project, services []string) (Plan, error) {
	steps, err := imageSteps(p, services, func(svc compose.Service) (Step, bool, error) {
		ref := svc.Config.Image
		if svc.Config.Build != nil && ref != "" {
			return Step{Target: ref, Reason: svc.Name, Action: PushImage{Ref: ref}}, true, nil
		}
		if slices.Contains(services, svc.Name) {
			return Step{}, false, fmt.Errorf("service %q: nothing to push: drover pushes the images it builds, named by image: (the service needs both build and image)", svc.Name)
		}
		return Step{}, false, nil
	})
	return Plan{Project: p.Name, Setup: fetchLanes(steps)}, err
}

// imageSteps collects, for the selected services in order, the step that
// step returns (when it returns one), once per image: services that share
// an image share its pull, build or push.
func imageSteps(p *compose.Project, services []string, step func(compose.Service) (Step, bool, error)) ([]Step, error) {
	selected, err := selection(p, services)
	if err != nil {
		return nil, err
	}
	var steps []Step
	seen := map[string]bool{}
	for _, svc := range p.Services {
		if !selected[svc.Name] {
			continue
		}
		s, ok, err := step(svc)
		if err != nil {
			return nil, err
		}
		if ok && !seen[NormalizeRef(s.Target)] {
			seen[NormalizeRef(s.Target)] = true
			steps = append(steps, s)
		}
	}
	return steps, nil
}

// fetchStep is the pull or build of one service's image; false when f asks
// for neither. A build the engine's legacy builder cannot do is an error.
func fetchStep(p *compose.Project, svc compose.Service, ref string, f compose.Fetch, reason string) (Step, bool, error) {
	switch f {
	case compose.FetchPull:
		return Step{Target: ref, Reason: reason, Action: PullImage{Ref: ref}}, true, nil
	case compose.FetchBuild:
		if err := legacyBuilderCan(svc.Name, svc.Config.Build, ref); err != nil {
			return Step{}, false, err
		}
		return Step{Target: ref, Reason: reason, Action: BuildImage{Spec: buildSpec(p, svc, ref)}}, true, nil
	}
	return Step{}, false, nil
}

// buildSpec is the build of a service's image under ref.
func buildSpec(p *compose.Project, svc compose.Service, ref string) BuildSpec {
	b := svc.Config.Build
	return BuildSpec{
		Tag: ref, Context: b.Context, Dockerfile: b.Dockerfile, Args: b.Args, Target: b.Target,
		Labels: map[string]string{LabelProject: p.Name, LabelService: svc.Name},
	}
}

// fetchLanes runs pulls side by side, at most FetchParallel at once, and
// builds one after the other in a lane of their own (each build already
// keeps the engine's CPUs busy).
func fetchLanes(steps []Step) []Step {
	var builds []Step
	var pulls [][]Step
	for _, s := range steps {
		if _, ok := s.Action.(BuildImage); ok {
			builds = append(builds, s)
			continue
		}
		pulls = append(pulls, []Step{s})
	}
	var lanes [][]Step
	if len(builds) > 0 {
		lanes = append(lanes, builds)
	}
	lanes = append(lanes, pulls...)
	switch len(lanes) {
	case 0:
		return nil
	case 1:
		return lanes[0]
	}
	return []Step{{Target: fmt.Sprintf("%d images", len(steps)), Action: Lanes{Lanes: lanes, Max: FetchParallel}}}
}

package compose

import (
	"fmt"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// PullMode says when a service's image is fetched: pulled from its
// registry, or built for a service with build:.
type PullMode string

const (
	// PullMissing pulls (or builds) only when the engine lacks the image:
	// the default, as in Compose.
	PullMissing PullMode = "missing"
	// PullAlways pulls before containers are made and before an upgrade is
	// planned, so a tag that moved in the registry is an upgrade.
	PullAlways PullMode = "always"
	// PullNever never pulls: a missing image is an error before any change.
	PullNever PullMode = "never"
	// PullBuild builds the image where up would pull it.
	PullBuild PullMode = "build"
	// PullRefresh pulls when the local tag is older than PullPolicy.Every
	// (daily, weekly, every_<duration>).
	PullRefresh PullMode = "refresh"
)

// PullPolicy is a service's pull policy and where it comes from.
type PullPolicy struct {
	Mode PullMode
	// Every is the age after which a PullRefresh image is pulled again.
	Every time.Duration
	// From says what set it: "pull_policy", "label
	// io.rancher.container.pull_image", "--pull", or "" for the default.
	From string
}

func (p PullPolicy) String() string {
	s := string(p.Mode)
	if p.Mode == PullRefresh {
		s += " every " + p.Every.String()
	}
	if p.From != "" {
		s += " (" + p.From + ")"
	}
	return s
}

// ResolvePull reads a service's pull policy: Compose's pull_policy first,
// then rancher-compose's label io.rancher.container.pull_image: always,
// else missing.
func ResolvePull(cfg types.ServiceConfig) (PullPolicy, error) {
	if cfg.PullPolicy == "" {
		if cfg.Labels[LabelPullImage] == "always" {
			return PullPolicy{Mode: PullAlways, From: "label " + LabelPullImage}, nil
		}
		return PullPolicy{Mode: PullMissing}, nil
	}
	mode, every, err := cfg.GetPullPolicy()
	if err != nil {
		return PullPolicy{}, fmt.Errorf("pull_policy %q: expected always, missing, never, build, daily, weekly or every_<duration> (every_12h)", cfg.PullPolicy)
	}
	p := PullPolicy{Mode: PullMode(mode), Every: every, From: "pull_policy"}
	if mode == types.PullPolicyIfNotPresent {
		p.Mode = PullMissing
	}
	if p.Mode == PullRefresh && every <= 0 {
		return PullPolicy{}, fmt.Errorf("pull_policy %q: the duration must be positive", cfg.PullPolicy)
	}
	if p.Mode == PullBuild && cfg.Build == nil {
		return PullPolicy{}, fmt.Errorf("pull_policy build: the service has no build section")
	}
	return p, nil
}

// ParsePullFlag reads up's --pull: always, missing or never.
func ParsePullFlag(s string) (PullMode, error) {
	switch m := PullMode(s); m {
	case PullAlways, PullMissing, PullNever:
		return m, nil
	}
	return "", fmt.Errorf("--pull %q: expected always, missing or never", s)
}

// OverridePull sets every service's pull policy to mode, as up --pull
// does over pull_policy and the Rancher label.
func (p *Project) OverridePull(mode PullMode) {
	for i := range p.Services {
		p.Services[i].Pull = PullPolicy{Mode: mode, From: "--pull"}
	}
}

// OverrideBuild makes every service with a build section build its image
// before planning, as up --build does.
func (p *Project) OverrideBuild() {
	for i := range p.Services {
		if p.Services[i].Config.Build != nil {
			p.Services[i].Pull = PullPolicy{Mode: PullBuild, From: "--build"}
		}
	}
}

// Fetch is what a pull policy asks for an image before planning or before
// a container is made.
type Fetch int

const (
	FetchNothing Fetch = iota
	FetchPull
	FetchBuild
)

// PullDue says whether a service's image is fetched now, and how: present
// says whether the engine has its tag, tagged when that tag was last set
// (zero when unknown), now the time of the run. A service with build: is
// built when its image is missing, or always under PullBuild; one with
// image only is pulled when missing (unless PullNever), always under
// PullAlways, and once its tag is older than Every under PullRefresh.
func (s Service) PullDue(present bool, tagged, now time.Time) Fetch {
	built := s.Config.Build != nil
	switch {
	case built && (!present || s.Pull.Mode == PullBuild):
		return FetchBuild
	case built:
		return FetchNothing
	case !present:
		if s.Pull.Mode == PullNever {
			return FetchNothing
		}
		return FetchPull
	case s.Pull.Mode == PullAlways:
		return FetchPull
	case s.Pull.Mode == PullRefresh && !tagged.IsZero() && now.Sub(tagged) >= s.Pull.Every:
		return FetchPull
	}
	return FetchNothing
}

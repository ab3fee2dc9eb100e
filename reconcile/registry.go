package reconcile

import (
	"fmt"
	"slices"

	"github.com/distribution/reference"

	"github.com/drover/drover/compose"
)

// TagCheck is what a registry says of the tag a service runs, next to what
// the engine holds under that tag: status and diff ask, up does not.
type TagCheck struct {
	Service string
	Ref     string
	// Local are the digests the engine's copy of the tag was pulled as
	// (repo@sha256:...); none for an image built or loaded here.
	Local []string
	// Remote is the manifest digest the registry has for the tag now.
	Remote string
	// Err says why the registry could not be asked.
	Err error
}

// TagsToAsk lists the services whose tag status and diff ask the registry
// about: those that follow their tag (pull always, daily, weekly,
// every_<duration>), or with all every service that pulls its image. A
// service that builds its image, or never pulls, has nothing to ask.
func TagsToAsk(p *compose.Project, services []string, all bool) []TagCheck {
	var out []TagCheck
	for _, svc := range p.Services {
		if len(services) > 0 && !slices.Contains(services, svc.Name) || svc.Config.Build != nil || svc.Config.Image == "" {
			continue
		}
		follows := svc.Pull.Mode == compose.PullAlways || svc.Pull.Mode == compose.PullRefresh
		if follows || all && svc.Pull.Mode != compose.PullNever {
			out = append(out, TagCheck{Service: svc.Name, Ref: svc.Config.Image})
		}
	}
	return out
}

// Note is the line status and diff print for the check: "" when the
// engine's copy is what the registry has.
func (c TagCheck) Note() string {
	if c.Err != nil {
		return fmt.Sprintf("%s: cannot ask the registry about %s: %v", c.Service, c.Ref, c.Err)
	}
	local := localDigest(c.Ref, c.Local)
	switch {
	case local == c.Remote:
		return ""
	case local == "":
		return fmt.Sprintf("%s: the registry has %s as %s; the engine's copy was not pulled from it (built, loaded or absent here); drover pull %s fetches it", c.Service, c.Ref, c.Remote, c.Service)
	}
	return fmt.Sprintf("%s: the registry has a newer image for %s: here %s, in the registry %s; drover up --upgrade --pull always %s pulls and upgrades", c.Service, c.Ref, local, c.Remote, c.Service)
}

// Newer reports whether the registry has another image under the tag.
func (c TagCheck) Newer() bool {
	return c.Err == nil && c.Remote != "" && localDigest(c.Ref, c.Local) != c.Remote
}

// localDigest picks, among an image's repo digests, the one of ref's
// repository.
func localDigest(ref string, digests []string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ""
	}
	for _, d := range digests {
		dn, err := reference.ParseNormalizedNamed(d)
		if err != nil {
			continue
		}
		if canonical, ok := dn.(reference.Canonical); ok && dn.Name() == named.Name() {
			return string(canonical.Digest())
		}
	}
	return ""
}

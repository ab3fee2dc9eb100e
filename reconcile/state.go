package reconcile

import (
	"fmt"
	"slices"
)

// UpgradeState is where a service stands in an upgrade. It is derived from
// its containers every time, never stored.
type UpgradeState int

const (
	// Active: one revision.
	Active UpgradeState = iota
	// Upgrading: two revisions, the newer one not complete (in progress or
	// interrupted).
	Upgrading
	// Upgraded: the newer revision complete and serving, the older one's
	// containers kept, stopped, for a rollback.
	Upgraded
)

func (s UpgradeState) String() string {
	switch s {
	case Active:
		return "active"
	case Upgrading:
		return "upgrading"
	case Upgraded:
		return "upgraded"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// Role is what a container is to its project.
type Role string

const (
	Serving Role = "serving" // of its service's newest revision
	Kept    Role = "kept"    // of an older revision, kept for a rollback
	Orphan  Role = "orphan"  // of a service the project does not define
)

// RoleOf tells a container's role; known lists the project's services.
func RoleOf(c Container, obs Observed, known []string) Role {
	if !slices.Contains(known, c.Service) {
		return Orphan
	}
	if c.Revision < viewOf(obs.Containers, c.Service, 0).Revision {
		return Kept
	}
	return Serving
}

// ServiceView is a service's containers sorted by role.
type ServiceView struct {
	Revision int         // the newest revision; 0 when there is no container
	Current  []Container // containers of the newest revision
	Kept     []Container // containers of older revisions
	State    UpgradeState
}

// viewOf classifies a service's containers. The newest revision is current;
// older ones are kept. The service is upgrading while an old container still
// runs or the newest revision has fewer containers than the scale asks for;
// upgraded once only the newest runs, complete. Whether the new containers
// run does not count: a new container that crashed after the upgrade leaves
// the service upgraded, so a plain up starts it again (under Rancher, services
// parked in upgraded did not restart crashed containers).
func viewOf(cs []Container, service string, scale int) ServiceView {
	var v ServiceView
	for _, c := range cs {
		if c.Service == service && c.Revision > v.Revision {
			v.Revision = c.Revision
		}
	}
	for _, c := range cs {
		if c.Service != service {
			continue
		}
		if c.Revision == v.Revision {
			v.Current = append(v.Current, c)
		} else {
			v.Kept = append(v.Kept, c)
		}
	}
	switch {
	case len(v.Kept) == 0:
		v.State = Active
	case anyRunning(v.Kept) || len(v.Current) < scale:
		v.State = Upgrading
	default:
		v.State = Upgraded
	}
	return v
}

package reconcile

import "fmt"

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

// ServiceView is a service's containers sorted by role.
type ServiceView struct {
	Revision int         // the newest revision; 0 when there is no container
	Current  []Container // containers of the newest revision
	Kept     []Container // containers of older revisions
	State    UpgradeState
}

// viewOf classifies a service's containers. The newest revision is current;
// older ones are kept. The service is upgrading while an older container
// still runs or the newest revision has fewer running containers than the
// scale asks for; upgraded once only the newest runs, complete.
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
	if len(v.Kept) == 0 {
		return v
	}
	v.State = Upgraded
	running := 0
	for _, c := range v.Current {
		if c.Running() {
			running++
		}
	}
	if running < scale {
		v.State = Upgrading
	}
	for _, c := range v.Kept {
		if c.Running() {
			v.State = Upgrading
		}
	}
	return v
}

package reconcile

import (
	"fmt"
	"strconv"
	"strings"
)

// UpgradeState is where a service stands in an upgrade. It is derived from
// its containers every time, never stored.
type UpgradeState int

const (
	// Active: one revision.
	Active UpgradeState = iota
	// Upgrading: two revisions, the newer one not complete: in progress or
	// interrupted, with no container known to be bad.
	Upgrading
	// Upgraded: every container of the newer revision has passed its
	// health gate and runs; the older one's containers are kept, stopped,
	// for a rollback.
	Upgraded
	// UpgradeFailed: two revisions, and a container of the newer one has exited
	// with an error or is unhealthy. The ways on are --rollback, or an
	// --upgrade that tries the new revision again; never a confirm.
	UpgradeFailed
)

func (s UpgradeState) String() string {
	switch s {
	case Active:
		return "active"
	case Upgrading:
		return "upgrading"
	case Upgraded:
		return "upgraded"
	case UpgradeFailed:
		return "upgrade-failed"
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

// Roles tells each container's role, by ID; known lists the project's
// services. It looks at each container twice, whatever the project's size.
func Roles(obs Observed, known []string) map[string]Role {
	isKnown := map[string]bool{}
	for _, k := range known {
		isKnown[k] = true
	}
	newest := map[string]int{}
	for _, c := range obs.Containers {
		newest[c.Service] = max(newest[c.Service], c.Revision)
	}
	roles := make(map[string]Role, len(obs.Containers))
	for _, c := range obs.Containers {
		switch {
		case !isKnown[c.Service]:
			roles[c.ID] = Orphan
		case c.Revision < newest[c.Service]:
			roles[c.ID] = Kept
		default:
			roles[c.ID] = Serving
		}
	}
	return roles
}

// ServiceView is a service's containers sorted by role.
type ServiceView struct {
	Revision int         // the newest revision; 0 when there is no container
	Current  []Container // containers of the newest revision
	Kept     []Container // containers of older revisions
	State    UpgradeState
	// Bad is the first container of the newest revision that makes the
	// service Failed, nil otherwise.
	Bad *Container
}

// KeptRevision is the newest of the kept revisions: where a rollback goes.
func (v ServiceView) KeptRevision() int {
	r := 0
	for _, c := range v.Kept {
		r = max(r, c.Revision)
	}
	return r
}

// byService groups the containers by service, in one pass, so that
// planning a project costs time in proportion to its containers.
func byService(cs []Container) map[string][]Container {
	out := map[string][]Container{}
	for _, c := range cs {
		out[c.Service] = append(out[c.Service], c)
	}
	return out
}

// viewOf classifies one service's containers (cs holds only that service's).
// The newest revision is current; older ones are kept. Without a kept
// container the service is active. With one:
//   - failed when a new container exited with an error or is unhealthy,
//     whether or not it passed its gate earlier;
//   - upgrading while an old container runs, a slot has no new container,
//     or a new container has not passed its health gate (Passed);
//   - upgraded otherwise.
//
// scale is the files' scale; 0 without files, and then the scale recorded
// on the new containers counts.
func viewOf(cs []Container, scale int) ServiceView {
	var v ServiceView
	for _, c := range cs {
		v.Revision = max(v.Revision, c.Revision)
	}
	for _, c := range cs {
		if c.Revision == v.Revision {
			v.Current = append(v.Current, c)
		} else {
			v.Kept = append(v.Kept, c)
		}
	}
	if len(v.Kept) == 0 {
		v.State = Active
		return v
	}
	if scale == 0 {
		scale = recordedScale(v.Current)
	}
	complete, passed := slotsFilled(v.Current, scale), true
	for i, c := range v.Current {
		if c.failed() && v.Bad == nil {
			v.Bad = &v.Current[i]
		}
		passed = passed && Passed(c)
	}
	switch {
	case v.Bad != nil:
		v.State = UpgradeFailed
	case anyRunning(v.Kept) || !complete || !passed:
		v.State = Upgrading
	default:
		v.State = Upgraded
	}
	return v
}

// failed: the container exited with an error, died, or its health check
// says it is unhealthy. A container that exited 0 is a job that completed,
// or a server that was stopped: not a failure.
func (c Container) failed() bool {
	switch {
	case c.State == "dead":
		return true
	case c.State == "exited":
		return c.ExitCode != 0
	}
	return c.Health == "unhealthy"
}

// slotsFilled reports whether each of slots 1..scale has a container.
func slotsFilled(cs []Container, scale int) bool {
	have := map[int]bool{}
	for _, c := range cs {
		have[c.Number] = true
	}
	for n := 1; n <= scale; n++ {
		if !have[n] {
			return false
		}
	}
	return true
}

func recordedScale(cs []Container) int {
	s := 0
	for _, c := range cs {
		n, _ := strconv.Atoi(c.Labels[LabelScale])
		s = max(s, n)
	}
	return s
}

// Passed reports whether a container holds its slot's name. During an
// upgrade a new container is created under a pending name (web-1-r3, the
// name of its slot with its own revision) and takes the slot's name only
// once it has passed its health gate: the rename is how that fact is
// written down, since labels cannot change after creation, and a list call
// reads it back after a crash.
func Passed(c Container) bool {
	return !strings.HasSuffix(c.Name, "-r"+strconv.Itoa(c.Revision))
}

// PendingName is the name a container of revision rev has while it is not
// serving under its slot's name: a new container before its health gate,
// or an old one kept for a rollback. web-1 of revision 3 is web-1-r3.
func PendingName(slotName string, rev int) string {
	return fmt.Sprintf("%s-r%d", slotName, rev)
}

// KeptName is the name a container takes when it leaves its slot's name:
// web-1 of revision 3 becomes web-1-r3.
func KeptName(name string, revision int) string {
	return PendingName(canonicalName(name), revision)
}

// canonicalName strips a revision suffix (-r3) from a container name.
func canonicalName(name string) string {
	i := strings.LastIndex(name, "-r")
	if i < 0 {
		return name
	}
	if _, err := strconv.Atoi(name[i+2:]); err != nil {
		return name
	}
	return name[:i]
}

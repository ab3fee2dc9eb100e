package reconcile

import (
	"fmt"
	"slices"

	"github.com/drover/drover/compose"
)

// ServiceStatus is where one service stands, for drover status.
type ServiceStatus struct {
	Service  string `json:"service"`
	State    string `json:"state"`
	Revision int    `json:"revision"`
	Scale    int    `json:"scale,omitempty"`
	Serving  int    `json:"serving"` // running containers of the newest revision
	Kept     int    `json:"kept"`    // containers of older revisions
	// OutOfSync says how the files differ from the newest revision; it is
	// empty without files.
	OutOfSync string `json:"out_of_sync,omitempty"`
	Next      string `json:"next,omitempty"`
}

// Status derives each service's state from its containers. With a project
// (p not nil) the services of the files are listed, with their scale and
// drift; without, the services the containers name.
func Status(p *compose.Project, obs Observed) []ServiceStatus {
	var out []ServiceStatus
	names := serviceNames(obs, nil)
	if p != nil {
		names = nil
		for _, s := range p.Services {
			names = append(names, s.Name)
		}
	}
	for _, name := range names {
		st := ServiceStatus{Service: name}
		scale := 0
		var svc compose.Service
		if p != nil {
			svc, _ = p.Service(name)
			scale, st.Scale = svc.Scale, svc.Scale
		}
		view := viewOf(obs.Containers, name, scale)
		st.State, st.Revision, st.Kept = view.State.String(), view.Revision, len(view.Kept)
		for _, c := range view.Current {
			if c.Running() {
				st.Serving++
			}
		}
		if p != nil {
			st.OutOfSync = outOfSync(p, svc, view.Current, obs.Images)
		}
		switch {
		case view.Revision == 0:
			st.State, st.Next = "absent", "drover up"
		case view.State == Upgrading:
			st.Next = fmt.Sprintf("drover up --upgrade %s (go on) or drover up --rollback %s", name, name)
		case view.State == Upgraded:
			st.Next = fmt.Sprintf("drover up --confirm-upgrade %s or drover up --rollback %s", name, name)
		case st.OutOfSync != "":
			st.Next = fmt.Sprintf("drover up --upgrade %s", name)
		case p != nil && st.Serving < scale:
			st.Next = "drover up"
		}
		out = append(out, st)
	}
	return out
}

// ServiceDiff is what differs between the files and a service's newest
// revision.
type ServiceDiff struct {
	Service string
	Changes []Change
	// Image is set when the tag now names another image than the one the
	// containers run.
	Image string
}

// Diff compares each named service (all when none is named) with the spec
// its newest containers were made from.
func Diff(p *compose.Project, obs Observed, services []string) ([]ServiceDiff, error) {
	var out []ServiceDiff
	for _, svc := range p.Services {
		if len(services) > 0 && !slices.Contains(services, svc.Name) {
			continue
		}
		view := viewOf(obs.Containers, svc.Name, svc.Scale)
		d := ServiceDiff{Service: svc.Name}
		if len(view.Current) == 0 {
			d.Changes = []Change{{Key: "containers", New: fmt.Sprintf("%d to create", svc.Scale)}}
			out = append(out, d)
			continue
		}
		c := view.Current[0]
		if c.Hash != svc.Hash {
			d.Changes = DiffSpecs([]byte(c.Labels[LabelSpec]), svc.Spec)
		}
		want := obs.Images[NormalizeRef(ImageRef(p.Name, svc.Config))]
		if c.Hash == svc.Hash && want != "" && c.ImageID != "" && want != c.ImageID {
			d.Image = fmt.Sprintf("%s: %s → %s", ImageRef(p.Name, svc.Config), shortID(c.ImageID), shortID(want))
		}
		out = append(out, d)
	}
	for _, s := range services {
		if _, ok := p.Service(s); !ok {
			return nil, fmt.Errorf("no such service: %q", s)
		}
	}
	return out, nil
}

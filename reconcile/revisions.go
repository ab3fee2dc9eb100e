package reconcile

import (
	"time"
)

// RevisionRow is one recorded revision of a service, for drover history.
type RevisionRow struct {
	Revision int       `json:"revision"`
	Created  time.Time `json:"created,omitzero"`
	Image    string    `json:"image"`
	ImageID  string    `json:"image_id"`
	Digest   string    `json:"digest,omitempty"`
	// RollbackOf is the earlier revision this one was made again from.
	RollbackOf int `json:"rollback_of,omitempty"`
	// Containers says what is left of it: "serving" (the newest revision),
	// "kept" (kept for a rollback), or "" (recorded only).
	Containers string `json:"containers,omitempty"`
	// Changes is what differs from the revision before it (the next older
	// one recorded), in drover diff's vocabulary; environment values are
	// marked secret.
	Changes []Change `json:"changes,omitempty"`
	// SpecKept: it can be made again (its spec was recorded).
	SpecKept bool `json:"spec_recorded"`
}

// ServiceRevisions is one service's history, newest first.
type ServiceRevisions struct {
	Service   string        `json:"service"`
	Revisions []RevisionRow `json:"revisions"`
	Warnings  []string      `json:"warnings,omitempty"`
}

// History lists the recorded revisions of the named services (all that
// have containers when none is named), as the containers' labels record
// them. It needs no files.
func History(obs Observed, services []string) []ServiceRevisions {
	groups := byService(obs.Containers)
	var out []ServiceRevisions
	for _, name := range serviceNames(obs, services) {
		view := viewOf(groups[name], 0)
		hist, warnings := ServiceHistory(groups[name], obs.Images)
		sr := ServiceRevisions{Service: name, Warnings: warnings}
		kept := map[int]bool{}
		for _, c := range view.Kept {
			kept[c.Revision] = true
		}
		for i, r := range hist {
			row := RevisionRow{Revision: r.Number, Created: r.Created, Image: r.Image, ImageID: r.ImageID, Digest: r.Digest, RollbackOf: r.From, SpecKept: r.Spec != nil}
			switch {
			case r.Number == view.Revision:
				row.Containers = "serving"
			case kept[r.Number]:
				row.Containers = "kept"
			}
			if i+1 < len(hist) {
				prev := hist[i+1]
				if prev.Spec != nil && r.Spec != nil {
					row.Changes = DiffSpecs(prev.Spec, r.Spec)
				}
				if prev.ImageID != r.ImageID && prev.ImageID != "" && r.ImageID != "" {
					row.Changes = append(row.Changes, Change{Key: "image id", Old: shortID(prev.ImageID), New: shortID(r.ImageID)})
				}
			}
			sr.Revisions = append(sr.Revisions, row)
		}
		out = append(out, sr)
	}
	return out
}

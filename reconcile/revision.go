package reconcile

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/history"
)

// Labels of a service's revision history (see package history).
const (
	LabelHistory = history.Label
	// LabelImage is the image reference a container was made from; its
	// Config.Image is the image ID when it was made from a recorded
	// revision, so that a moved tag cannot change what it runs.
	LabelImage = "io.drover.image"
	// LabelRollbackOf is, on a container of a revision made by a
	// rollback to an earlier one, that earlier revision's number.
	LabelRollbackOf = "io.drover.rollback-of"
)

// ownRevision is what a container tells of its own revision: its spec,
// hash, image and ID, and, from the image list, the image's repo digest.
func ownRevision(c Container, images map[string]string) history.Revision {
	r := history.Revision{Number: c.Revision, Created: c.Created, Image: c.Labels[LabelImage], ImageID: c.ImageID, Hash: c.Hash}
	if r.Image == "" {
		r.Image = c.Image
	}
	if spec := c.Labels[LabelSpec]; spec != "" && json.Valid([]byte(spec)) {
		r.Spec = json.RawMessage(spec)
	}
	r.From, _ = strconv.Atoi(c.Labels[LabelRollbackOf])
	r.Digest = digestOf(images, r.ImageID)
	return r
}

// digestOf finds a repo digest (name@sha256:…) of an image ID among the
// references of the image list, "" when the image came from no registry.
func digestOf(images map[string]string, id string) string {
	if id == "" {
		return ""
	}
	best := ""
	for ref, v := range images {
		if v == id && strings.Contains(ref, "@") && (best == "" || ref < best) {
			best = ref
		}
	}
	return best
}

// ServiceHistory is a service's revisions as its containers record them,
// newest first: each container's own revision, and the history label each
// carries. Labels that cannot be read are skipped, one warning each. The
// creation time of a revision is its oldest container's.
func ServiceHistory(cs []Container, images map[string]string) ([]history.Revision, []string) {
	var lists [][]history.Revision
	var warnings []string
	oldest := map[int]Container{}
	for _, c := range cs {
		own := ownRevision(c, images)
		if o, ok := oldest[c.Revision]; !ok || c.Created.Before(o.Created) {
			oldest[c.Revision] = c
		}
		lists = append(lists, []history.Revision{own})
		revs, err := history.Decode(c.Labels[LabelHistory])
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("%s: %v", c.Name, err))
			continue
		}
		lists = append(lists, revs)
	}
	merged := history.Merge(lists...)
	for i, r := range merged {
		if c, ok := oldest[r.Number]; ok && !c.Created.IsZero() {
			merged[i].Created = c.Created
		}
	}
	return merged, warnings
}

// fromRevision is the service as a recorded revision had it: its spec in
// place of the files' config, with the files' scale, policy and proxy.
func fromRevision(svc compose.Service, rec history.Revision) (compose.Service, error) {
	if rec.Spec == nil {
		return svc, fmt.Errorf("service %q: revision %d: its spec was not recorded (dropped to keep the history label small, or made by another tool)", svc.Name, rec.Number)
	}
	// compose-go's types do not read back all the JSON they write
	// (extra_hosts is written as a list, read as a map); its loader's
	// decoder reads what its files' form allows, and the JSON is that form.
	cfg, err := decodeSpec(rec.Spec)
	if err != nil {
		return svc, fmt.Errorf("service %q: revision %d: reading its recorded spec: %w", svc.Name, rec.Number, err)
	}
	cfg.Name = svc.Name
	svc.Config, svc.Hash, svc.Spec = cfg, rec.Hash, rec.Spec
	return svc, nil
}

// decodeSpec reads a canonical spec back into a service config. The label
// may have been written by hand: a decoder that panics on it is an error.
func decodeSpec(spec []byte) (cfg types.ServiceConfig, err error) {
	var raw map[string]any
	if err := json.Unmarshal(spec, &raw); err != nil {
		return cfg, err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	optOutDefaults(raw)
	err = loader.Transform(yamlNumbers(raw), &cfg)
	return cfg, err
}

// optOutDefaults puts back the compose-go OptOut fields (true unless said)
// that JSON leaves out when true and that only the loader's defaults, not
// its decoder, set again.
func optOutDefaults(raw map[string]any) {
	fill := func(list any, obj, key string) {
		items, _ := list.([]any)
		for _, it := range items {
			m, _ := it.(map[string]any)
			if obj != "" {
				m, _ = m[obj].(map[string]any)
			}
			if _, set := m[key]; m != nil && !set {
				m[key] = true
			}
		}
	}
	fill(raw["volumes"], "bind", "create_host_path")
	fill(raw["env_file"], "", "required")
}

// yamlNumbers turns JSON's whole numbers into ints, as YAML gives them and
// compose-go's decoders expect.
func yamlNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = yamlNumbers(e)
		}
	case []any:
		for i, e := range x {
			x[i] = yamlNumbers(e)
		}
	case float64:
		if x == float64(int(x)) {
			return int(x)
		}
	}
	return v
}

// revisionSource is where the containers of a revision come from: the
// files, or a recorded revision made again from its spec (see
// fromRevision) and its image ID, whatever its tag means now.
type revisionSource struct {
	imageID string             // "" from the files: the image by its reference
	image   string             // the reference the recorded revision was made from
	from    int                // a rollback to an earlier revision: its number
	history []history.Revision // the service's history, recorded on each new container
}

// recorded is the source that makes rec again.
func recorded(rec history.Revision, hist []history.Revision) revisionSource {
	from := rec.From
	if from == 0 {
		from = rec.Number
	}
	return revisionSource{imageID: rec.ImageID, image: rec.Image, from: from, history: hist}
}

// createRequest is the request for slot in.number of revision in.revision
// of a service (from the files, or already turned into a recorded revision
// by fromRevision), with the service's history.
func createRequest(in specInput, src revisionSource) (CreateRequest, []string, error) {
	p, svc, rev := in.project, in.service, in.revision
	req, warnings, err := newCreateRequest(in)
	if err != nil {
		return CreateRequest{}, nil, err
	}
	labels := req.Config.Labels
	labels[LabelImage] = ImageRef(p.Name, svc.Config)
	if src.imageID != "" {
		req.Config.Image = src.imageID
		if src.image != "" {
			labels[LabelImage] = src.image
		}
	}
	if src.from > 0 && src.from != rev {
		labels[LabelRollbackOf] = strconv.Itoa(src.from)
	}
	enc, err := history.Encode(history.Before(src.history, rev, svc.History))
	if err != nil {
		return CreateRequest{}, nil, fmt.Errorf("service %q: %w", svc.Name, err)
	}
	if enc != "" {
		labels[LabelHistory] = enc
	}
	return req, warnings, nil
}

// servingRecord is the revision a service's current containers were made
// from, for the containers an out-of-sync service still needs (a scale up,
// one removed by hand); nil, with the reason, when it cannot be made again:
// the containers record no spec (made by another tool), or its image is no
// longer on the engine.
func servingRecord(current []Container, images map[string]string) (rec *history.Revision, why string) {
	if len(current) == 0 {
		return nil, ""
	}
	r := ownRevision(current[0], images)
	if r.Spec == nil || r.ImageID == "" {
		return nil, "its containers record no spec"
	}
	if !imagePresent(images, r.ImageID) {
		return nil, fmt.Sprintf("image %s of revision %d is no longer on the engine", shortID(r.ImageID), r.Number)
	}
	return &r, ""
}

// imagePresent: the engine holds the image ID (the image list maps every
// image's ID to itself, tagged or not).
func imagePresent(images map[string]string, id string) bool {
	_, ok := images[id]
	return ok
}

// goingOn is what an upgrade under way (upgrading, or failed) goes on
// with: the revision it began, made again from its record (the spec and
// image ID of its first container), so that one revision never runs two
// images because a tag moved meanwhile, and a rollback to an earlier
// revision, whose spec is not the files', goes on too. The files when
// there is no usable record, or when they changed since (then
// upgradeService refuses, saying so).
func goingOn(svc compose.Service, view ServiceView, images map[string]string, hist []history.Revision) (compose.Service, revisionSource) {
	files := revisionSource{history: hist}
	rec := ownRevision(view.Current[0], images)
	if rec.Spec == nil || rec.ImageID == "" || !imagePresent(images, rec.ImageID) || rec.From == 0 && rec.Hash != svc.Hash {
		return svc, files
	}
	made, err := fromRevision(svc, rec)
	if err != nil {
		return svc, files
	}
	return made, recorded(rec, hist)
}

// onlyGaps: a service that is upgrading only because some slots have no
// container of the new revision (scaled up since its upgrade passed, or one
// removed by hand): every new container passed and none failed, and no old
// one runs. An interrupted upgrade never looks so, since it creates a slot's
// new container before it touches the old one. A plain up fills the gaps
// from the revision that serves, which leaves the service upgraded.
func onlyGaps(view ServiceView) bool {
	if view.Bad != nil || anyRunning(view.Kept) {
		return false
	}
	for _, c := range view.Current {
		if !Passed(c) {
			return false
		}
	}
	return true
}

// slotMaker makes the containers a plain up adds to a service (a scale up,
// a slot whose container was removed by hand). In sync and settled, from
// the files; out of sync, or with containers kept for a rollback, from the
// revision that serves, since one service must never run two versions by
// accident: its recorded spec and image ID, whatever the files and the tag
// say now.
type slotMaker struct {
	p        *compose.Project
	svc      compose.Service
	src      revisionSource
	revision int
	api      string
	why      string // out of sync and not to be made: the reason
	note     string
}

func newSlots(p *compose.Project, svc compose.Service, view ServiceView, fromRecord bool, obs Observed) slotMaker {
	m := slotMaker{p: p, svc: svc, revision: max(view.Revision, 1), api: obs.APIVersion}
	all := append(append([]Container(nil), view.Current...), view.Kept...)
	if len(all) > 0 && missingSlots(view.Current, svc.Scale) {
		m.src.history, _ = ServiceHistory(all, obs.Images)
	}
	if !fromRecord {
		return m
	}
	rec, why := servingRecord(view.Current, obs.Images)
	if rec == nil {
		m.why = why
		return m
	}
	made, err := fromRevision(svc, *rec)
	if err != nil {
		m.why = err.Error()
		return m
	}
	m.svc, m.src.imageID, m.src.image = made, rec.ImageID, rec.Image
	m.src.from = rec.From
	if missingSlots(view.Current, svc.Scale) {
		m.note = fmt.Sprintf("%s: new containers are made from revision %d, the one serving (%s, image %s), not from the files", svc.Name, rec.Number, rec.Image, shortID(rec.ImageID))
	}
	return m
}

func (m slotMaker) request(n int) (CreateRequest, []string, error) {
	return createRequest(specInput{project: m.p, service: m.svc, number: n, revision: m.revision, apiVersion: m.api}, m.src)
}

// missingSlots: some slot of 1..scale has no container.
func missingSlots(current []Container, scale int) bool {
	return !slotsFilled(current, scale)
}

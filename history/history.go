// Package history encodes a service's revision history into one container
// label and reads it back. drover keeps no state file: every container it
// creates carries the service's last revisions (number, when, image
// reference, image ID, repo digest, config hash and the canonical spec), so
// that a revision can be listed and made again after its own containers are
// gone. The package is pure: no Docker, no clock.
//
// The label's value is "1:" followed by the base64 (standard alphabet, no
// padding) of a raw DEFLATE stream of the JSON array of revisions, newest
// first. The revisions of one service differ in a few keys, so DEFLATE's
// window (32 KiB) finds each spec in the one before it and stores little
// more than the differences: five revisions of a 2 KiB spec take about as
// much room as one. The encoded value never exceeds MaxEncoded: when it
// would, the specs of the oldest revisions are dropped first (their other
// fields stay, so history still lists them, but they cannot be made again),
// then the oldest revisions themselves.
package history

import (
	"bytes"
	"compress/flate"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Label is the container label that holds the history.
const Label = "io.drover.history"

// DefaultLimit is how many revisions a service keeps in its history, its
// current one included, unless x-drover.history says otherwise.
const DefaultLimit = 5

// MaxEncoded bounds the label's value, in bytes: list calls return every
// label of every container, and a no-op run must stay cheap.
const MaxEncoded = 16 << 10

// maxDecoded bounds what a label may inflate to, so that a hand-made label
// cannot make drover allocate without limit.
const maxDecoded = 1 << 20

// format is the version written before the colon; a newer drover that
// changes the encoding writes another and keeps reading this one.
const format = "1"

// Revision is one revision of a service as drover recorded it.
type Revision struct {
	Number  int       `json:"n"`
	Created time.Time `json:"t,omitzero"`
	Image   string    `json:"image,omitempty"`  // the reference it was made from
	ImageID string    `json:"id,omitempty"`     // sha256:…, what the engine ran
	Digest  string    `json:"digest,omitempty"` // repo@sha256:…, when known
	Hash    string    `json:"hash,omitempty"`
	// Spec is the canonical JSON of the service (compose.Hash); nil when
	// it was dropped to keep the label within MaxEncoded.
	Spec json.RawMessage `json:"spec,omitempty"`
	// From is, for a revision made by a rollback to an earlier one, the
	// revision whose spec and image it was made from.
	From int `json:"from,omitempty"`
}

// Encode writes revisions (any order) as a label value, newest first,
// within MaxEncoded. "" for none.
func Encode(revs []Revision) (string, error) {
	revs = Sorted(revs)
	for len(revs) > 0 {
		s, err := encode(revs)
		if err != nil {
			return "", err
		}
		if len(s) <= MaxEncoded {
			return s, nil
		}
		revs = shrink(revs)
	}
	return "", nil
}

// shrink drops the spec of the oldest revision that still has one, or,
// when none has, the oldest revision.
func shrink(revs []Revision) []Revision {
	out := append([]Revision(nil), revs...)
	for i := len(out) - 1; i >= 0; i-- {
		if out[i].Spec != nil {
			out[i].Spec = nil
			return out
		}
	}
	return out[:len(out)-1]
}

func encode(revs []Revision) (string, error) {
	js, err := json.Marshal(revs)
	if err != nil {
		return "", fmt.Errorf("encoding the revision history: %w", err)
	}
	return encodeBytes(js)
}

// encodeBytes compresses JSON text into a label value.
func encodeBytes(js []byte) (string, error) {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	_, _ = w.Write(js)
	if err := w.Close(); err != nil {
		return "", fmt.Errorf("compressing the revision history: %w", err)
	}
	return format + ":" + base64.RawStdEncoding.EncodeToString(buf.Bytes()), nil
}

// ErrNewerFormat is returned for a label written by a newer drover.
var ErrNewerFormat = errors.New("the revision history was written by a newer drover")

// Decode reads a label value. An empty value (a container made before
// drover kept histories, or by another tool) is no revision and no error;
// the caller then knows the container's own revision from its other labels.
func Decode(s string) ([]Revision, error) {
	if s == "" {
		return nil, nil
	}
	version, payload, ok := strings.Cut(s, ":")
	if !ok {
		return nil, fmt.Errorf("revision history: no format version")
	}
	if version != format {
		return nil, fmt.Errorf("%w (format %q)", ErrNewerFormat, version)
	}
	raw, err := base64.RawStdEncoding.DecodeString(payload)
	if err != nil {
		return nil, fmt.Errorf("revision history: %w", err)
	}
	r := flate.NewReader(bytes.NewReader(raw))
	defer r.Close()
	js, err := io.ReadAll(io.LimitReader(r, maxDecoded+1))
	if err != nil {
		return nil, fmt.Errorf("revision history: %w", err)
	}
	if len(js) > maxDecoded {
		return nil, fmt.Errorf("revision history: larger than %d bytes", maxDecoded)
	}
	var revs []Revision
	if err := json.Unmarshal(js, &revs); err != nil {
		return nil, fmt.Errorf("revision history: %w", err)
	}
	for _, r := range revs {
		if r.Number < 1 {
			return nil, fmt.Errorf("revision history: revision %d is not a revision", r.Number)
		}
		if r.Spec != nil && !json.Valid(r.Spec) {
			return nil, fmt.Errorf("revision history: revision %d: its spec is not JSON", r.Number)
		}
	}
	return Sorted(revs), nil
}

// Merge joins histories read from several containers into one, newest
// first, one entry per revision number. Where two containers say different
// things of one revision, the entry with a spec wins, then the one that
// knows more (an image ID, a digest, the time).
func Merge(lists ...[]Revision) []Revision {
	by := map[int]Revision{}
	for _, l := range lists {
		for _, r := range l {
			if have, ok := by[r.Number]; ok {
				r = better(have, r)
			}
			by[r.Number] = r
		}
	}
	out := make([]Revision, 0, len(by))
	for _, r := range by {
		out = append(out, r)
	}
	return Sorted(out)
}

func better(a, b Revision) Revision {
	score := func(r Revision) int {
		s := 0
		if r.Spec != nil {
			s += 8
		}
		if r.ImageID != "" {
			s += 4
		}
		if r.Digest != "" {
			s += 2
		}
		if !r.Created.IsZero() {
			s++
		}
		return s
	}
	if score(b) > score(a) {
		return b
	}
	return a
}

// Sorted returns the revisions newest first (a copy).
func Sorted(revs []Revision) []Revision {
	out := append([]Revision(nil), revs...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Number > out[j].Number })
	return out
}

// Before returns the newest revisions older than rev, at most limit-1 of
// them: what a container of revision rev records, its own revision being
// known from its other labels.
func Before(revs []Revision, rev, limit int) []Revision {
	if limit < 1 {
		limit = DefaultLimit
	}
	var out []Revision
	for _, r := range Sorted(revs) {
		if r.Number < rev && len(out) < limit-1 {
			out = append(out, r)
		}
	}
	return out
}

// Find returns revision n, and whether the history holds it.
func Find(revs []Revision, n int) (Revision, bool) {
	for _, r := range revs {
		if r.Number == n {
			return r, true
		}
	}
	return Revision{}, false
}

package history

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
)

func spec(image string, env map[string]string) json.RawMessage {
	s := map[string]any{"image": image, "environment": env, "command": []string{"serve", "--port", "80"}, "healthcheck": map[string]any{"test": []string{"CMD", "/hello", "-probe"}, "interval": "1s"}}
	b, _ := json.Marshal(s)
	return b
}

func TestRoundTrip(t *testing.T) {
	at := time.Date(2026, 11, 26, 14, 0, 0, 0, time.UTC)
	revs := []Revision{
		{Number: 1, Created: at, Image: "web:v1", ImageID: "sha256:aaa", Digest: "web@sha256:111", Hash: "h1", Spec: spec("web:v1", nil)},
		{Number: 3, Created: at.Add(2 * time.Hour), Image: "web:v1", ImageID: "sha256:aaa", Hash: "h1", Spec: spec("web:v1", nil), From: 1},
		{Number: 2, Created: at.Add(time.Hour), Image: "web:v2", ImageID: "sha256:bbb", Hash: "h2", Spec: spec("web:v2", map[string]string{"A": "b"})},
	}
	s, err := Encode(revs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(s, "1:") {
		t.Errorf("label %q does not start with its format", s)
	}
	got, err := Decode(s)
	if err != nil {
		t.Fatal(err)
	}
	want := Sorted(revs)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
	}
}

func TestDecode(t *testing.T) {
	good, _ := Encode([]Revision{{Number: 2, Hash: "h"}})
	bad := func(js string) string {
		s, _ := encodeBytes([]byte(js))
		return s
	}
	cases := []struct {
		name  string
		label string
		want  []Revision
		err   string
	}{
		// A container made before drover kept histories has no label:
		// no revision and no error, its own labels tell its revision.
		{name: "older drover, no label", label: ""},
		{name: "current format", label: good, want: []Revision{{Number: 2, Hash: "h"}}},
		{name: "newer format", label: "2:abc", err: "newer drover"},
		{name: "no version", label: "abc", err: "no format version"},
		{name: "not base64", label: "1:!!", err: "revision history"},
		{name: "not deflate", label: "1:aGVsbG8", err: "revision history"},
		{name: "not JSON", label: bad(`{`), err: "revision history"},
		{name: "revision 0", label: bad(`[{"n":0}]`), err: "not a revision"},
		{name: "spec not JSON", label: bad(`[{"n":1,"spec":"x"}]`), err: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.label)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Decode(%q) = %v, %v; want an error with %q", tc.label, got, err, tc.err)
				}
				return
			}
			if tc.name == "spec not JSON" {
				// "x" is a JSON string: valid, and kept as it is.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Decode(%q) = %+v, %v; want %+v", tc.label, got, err, tc.want)
			}
		})
	}
	if _, err := Decode("2:x"); !errors.Is(err, ErrNewerFormat) {
		t.Errorf("a newer format gives %v, want ErrNewerFormat", err)
	}
}

// TestBounded: whatever the specs, the label stays within MaxEncoded; the
// oldest revisions lose their specs first, the newest keeps its own.
func TestBounded(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	noise := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rng.Intn(26))
		}
		return string(b)
	}
	cases := []struct {
		name     string
		revs     int
		envBytes int // random (incompressible) environment per revision
		withSpec int // how many revisions keep their spec, newest first
	}{
		{name: "small specs all kept", revs: 5, envBytes: 100, withSpec: 5},
		// 6000 random letters deflate to about 3.5 KB, 4.7 KB in base64:
		// three fit in 16 KiB.
		{name: "large specs: oldest dropped", revs: 5, envBytes: 6000, withSpec: 3},
		{name: "huge spec: none kept", revs: 3, envBytes: 40000, withSpec: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var revs []Revision
			for n := 1; n <= tc.revs; n++ {
				revs = append(revs, Revision{Number: n, Image: fmt.Sprintf("web:v%d", n), ImageID: "sha256:" + strings.Repeat(fmt.Sprint(n), 64), Hash: strings.Repeat("h", 64), Spec: spec("web", map[string]string{"BLOB": noise(tc.envBytes)})})
			}
			s, err := Encode(revs)
			if err != nil {
				t.Fatal(err)
			}
			if len(s) > MaxEncoded {
				t.Fatalf("label of %d bytes, more than %d", len(s), MaxEncoded)
			}
			got, err := Decode(s)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tc.revs {
				t.Fatalf("%d revisions kept, want all %d (only specs are dropped while that suffices)", len(got), tc.revs)
			}
			kept := 0
			for i, r := range got {
				if r.Spec != nil {
					kept++
					if i >= tc.withSpec {
						t.Errorf("revision %d kept its spec while a newer one lost it", r.Number)
					}
				}
			}
			if kept != tc.withSpec {
				t.Errorf("%d revisions kept their spec, want %d (label %d bytes)", kept, tc.withSpec, len(s))
			}
		})
	}
}

// TestSimilarSpecsCompress: five revisions that differ in one key cost
// little more than one, which is why the history carries whole specs.
func TestSimilarSpecsCompress(t *testing.T) {
	env := map[string]string{}
	for i := 0; i < 40; i++ {
		env[fmt.Sprintf("SETTING_%d", i)] = strings.Repeat(fmt.Sprint(i), 20)
	}
	one, _ := Encode([]Revision{{Number: 1, Image: "web:v1", Spec: spec("web:v1", env)}})
	var revs []Revision
	for n := 1; n <= 5; n++ {
		revs = append(revs, Revision{Number: n, Image: fmt.Sprintf("web:v%d", n), Spec: spec(fmt.Sprintf("web:v%d", n), env)})
	}
	five, _ := Encode(revs)
	t.Logf("spec %d bytes; label of 1 revision %d bytes, of 5: %d", len(spec("web:v1", env)), len(one), len(five))
	if len(five) > 2*len(one) {
		t.Errorf("5 similar revisions take %d bytes, more than twice one (%d)", len(five), len(one))
	}
}

func TestMergeAndBefore(t *testing.T) {
	a := []Revision{{Number: 3, Hash: "h3"}, {Number: 2, Hash: "h2"}}
	b := []Revision{{Number: 2, Hash: "h2", Spec: json.RawMessage(`{}`), ImageID: "sha256:2"}, {Number: 1, Hash: "h1"}}
	got := Merge(a, b)
	if len(got) != 3 || got[0].Number != 3 || got[1].Spec == nil || got[2].Number != 1 {
		t.Fatalf("Merge = %+v", got)
	}
	if got := Before(got, 3, 5); len(got) != 2 || got[0].Number != 2 {
		t.Errorf("Before(3, 5) = %+v, want revisions 2 and 1", got)
	}
	short := Before(Merge(a, b), 4, 2)
	if len(short) != 1 || short[0].Number != 3 {
		t.Errorf("Before(4, limit 2) = %+v, want only revision 3", short)
	}
	if r, ok := Find(short, 1); ok {
		t.Errorf("Find found %+v beyond the limit", r)
	}
}

func FuzzDecode(f *testing.F) {
	good, _ := Encode([]Revision{{Number: 1, Image: "web:v1", Spec: json.RawMessage(`{"image":"web:v1"}`)}, {Number: 2, From: 1}})
	f.Add(good)
	f.Add("")
	f.Add("1:")
	f.Add("2:x")
	f.Add("1:" + strings.Repeat("A", 100))
	f.Fuzz(func(t *testing.T, label string) {
		revs, err := Decode(label)
		if err != nil {
			return
		}
		// What decodes encodes again, within the bound, to the same
		// revisions (or fewer specs, if it had to shrink).
		s, err := Encode(revs)
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", revs, err)
		}
		if len(s) > MaxEncoded {
			t.Fatalf("re-encoded to %d bytes", len(s))
		}
		again, err := Decode(s)
		if err != nil {
			t.Fatalf("decoding what Encode wrote: %v", err)
		}
		if len(again) > len(revs) {
			t.Fatalf("re-encoding grew %d revisions to %d", len(revs), len(again))
		}
	})
}

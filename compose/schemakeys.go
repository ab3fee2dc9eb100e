package compose

import (
	"encoding/json"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/compose-spec/compose-go/v2/schema"
)

// The compose specification's JSON schema, as compose-go embeds it, is the
// list of keys a compose file may use at each place; "did you mean" picks
// from it. It is parsed once, on the first error that needs it.
var specSchema = sync.OnceValue(func() map[string]any {
	var s map[string]any
	_ = json.Unmarshal([]byte(schema.Schema), &s)
	return s
})

// knownKeys returns the keys the schema allows in the mapping at path (keys
// as in a compose file: "services", "web", "healthcheck"), sorted; nil when
// the schema has no mapping there.
func knownKeys(path []string) []string {
	root := specSchema()
	nodes := []map[string]any{root}
	for _, seg := range path {
		var next []map[string]any
		for _, n := range nodes {
			next = append(next, schemaChildren(root, n, seg)...)
		}
		if len(next) == 0 {
			return nil
		}
		nodes = next
	}
	set := map[string]bool{}
	for _, n := range nodes {
		for _, b := range schemaBranches(root, n) {
			props, _ := b["properties"].(map[string]any)
			for k := range props {
				set[k] = true
			}
		}
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// schemaChildren returns the schemas that a value under key seg of a value
// matching n must match: from properties, patternProperties, an
// additionalProperties schema, or items for a list index.
func schemaChildren(root, n map[string]any, seg string) []map[string]any {
	var out []map[string]any
	for _, b := range schemaBranches(root, n) {
		if props, ok := b["properties"].(map[string]any); ok {
			if c, ok := props[seg].(map[string]any); ok {
				out = append(out, c)
				continue
			}
		}
		if pats, ok := b["patternProperties"].(map[string]any); ok {
			for pat, c := range pats {
				if re, err := regexp.Compile(pat); err == nil && re.MatchString(seg) {
					if c, ok := c.(map[string]any); ok {
						out = append(out, c)
					}
				}
			}
		}
		if c, ok := b["additionalProperties"].(map[string]any); ok {
			out = append(out, c)
		}
		if _, err := strconv.Atoi(seg); err == nil {
			if c, ok := b["items"].(map[string]any); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// schemaBranches returns n and every schema it brings in through $ref,
// allOf, anyOf and oneOf: a key is known if any of them knows it.
func schemaBranches(root, n map[string]any) []map[string]any {
	out := []map[string]any{}
	var walk func(m map[string]any, depth int)
	walk = func(m map[string]any, depth int) {
		if m == nil || depth > 8 {
			return
		}
		out = append(out, m)
		if ref, ok := m["$ref"].(string); ok {
			walk(resolveRef(root, ref), depth+1)
		}
		for _, k := range []string{"allOf", "anyOf", "oneOf"} {
			list, _ := m[k].([]any)
			for _, item := range list {
				if c, ok := item.(map[string]any); ok {
					walk(c, depth+1)
				}
			}
		}
	}
	walk(n, 0)
	return out
}

// resolveRef follows a local reference such as "#/$defs/service".
func resolveRef(root map[string]any, ref string) map[string]any {
	if !strings.HasPrefix(ref, "#/") {
		return nil
	}
	cur := root
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		next, ok := cur[part].(map[string]any)
		if !ok {
			return nil
		}
		cur = next
	}
	return cur
}

// didYouMean returns ` (did you mean "x"?)` for the candidate closest to
// word, or "" when none is close enough to be a likely typo.
func didYouMean(word string, candidates []string) string {
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(strings.ToLower(word), strings.ToLower(c))
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	// Two edits in a word of five or more letters is still a typo ("imgae",
	// "dependson"); beyond that the suggestion is more often wrong than right.
	limit := 1
	if len([]rune(word)) >= 5 {
		limit = 2
	}
	if bestDist < 0 || bestDist > limit || best == word {
		return ""
	}
	return ` (did you mean "` + best + `"?)`
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and swaps of two neighbours each cost one, so
// "imgae" is one edit from "image".
func editDistance(a, b string) int {
	x, y := []rune(a), []rune(b)
	d := make([][]int, len(x)+1)
	for i := range d {
		d[i] = make([]int, len(y)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(x); i++ {
		for j := 1; j <= len(y); j++ {
			cost := 1
			if x[i-1] == y[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && x[i-1] == y[j-2] && x[i-2] == y[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(x)][len(y)]
}

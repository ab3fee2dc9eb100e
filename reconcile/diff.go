package reconcile

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/drover/drover/compose"
)

// Change is one difference between two service specs.
type Change struct {
	Key string // image, environment.DB_PASSWORD, ports ...
	Old string // "" when the key was absent
	New string // "" when the key is gone
	// Secret marks a value that is printed masked unless asked for.
	Secret bool
}

// DiffSpecs compares two canonical specs (the JSON compose.Hash produces)
// key by key; environment variables and config contents are compared one
// by one and marked secret. An unreadable spec yields no changes.
func DiffSpecs(oldSpec, newSpec []byte) []Change {
	var a, b map[string]json.RawMessage
	if json.Unmarshal(oldSpec, &a) != nil || json.Unmarshal(newSpec, &b) != nil {
		return nil
	}
	var out []Change
	for _, k := range unionKeys(a, b) {
		if bytes.Equal(a[k], b[k]) {
			continue
		}
		if k == "environment" || k == compose.SpecConfigContent || k == compose.SpecSecretContent {
			out = append(out, diffMasked(k, a[k], b[k])...)
			continue
		}
		if k == "post_start" || k == "pre_stop" {
			out = append(out, Change{Key: k, Old: compact(maskHookEnv(a[k])), New: compact(maskHookEnv(b[k]))})
			continue
		}
		out = append(out, Change{Key: k, Old: compact(a[k]), New: compact(b[k])})
	}
	return out
}

// diffMasked compares a map of secret values (environment variables, the
// digests of config content) entry by entry.
func diffMasked(key string, oldMap, newMap json.RawMessage) []Change {
	var a, b map[string]json.RawMessage
	_ = json.Unmarshal(oldMap, &a)
	_ = json.Unmarshal(newMap, &b)
	var out []Change
	for _, k := range unionKeys(a, b) {
		if !bytes.Equal(a[k], b[k]) {
			out = append(out, Change{Key: key + "." + k, Old: compact(a[k]), New: compact(b[k]), Secret: true})
		}
	}
	return out
}

// maskHookEnv returns hooks (a post_start or pre_stop list) with the values
// of their environment replaced by ***, as environment values are never
// printed.
func maskHookEnv(hooks json.RawMessage) json.RawMessage {
	var hs []map[string]json.RawMessage
	if len(hooks) == 0 || json.Unmarshal(hooks, &hs) != nil {
		return hooks
	}
	for _, h := range hs {
		var env map[string]*string
		if json.Unmarshal(h["environment"], &env) != nil || len(env) == 0 {
			continue
		}
		for k, v := range env {
			if v != nil {
				env[k] = &masked
			}
		}
		h["environment"], _ = json.Marshal(env)
	}
	out, err := json.Marshal(hs)
	if err != nil {
		return hooks
	}
	return out
}

var masked = "***"

func unionKeys(a, b map[string]json.RawMessage) []string {
	seen := map[string]bool{}
	for k := range a {
		seen[k] = true
	}
	for k := range b {
		seen[k] = true
	}
	keys := make([]string, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compact renders a JSON value for a human: strings without their quotes.
func compact(v json.RawMessage) string {
	if len(v) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, v) != nil {
		return string(v)
	}
	return buf.String()
}

// Summary is a change in a few words; values of secret changes and long
// values are left out.
func (c Change) Summary() string {
	switch {
	case c.Secret && c.Old == "":
		return c.Key + " added"
	case c.Secret && c.New == "":
		return c.Key + " removed"
	case c.Secret:
		return c.Key + " changed"
	case len(c.Old) <= 40 && len(c.New) <= 40 && c.Old != "" && c.New != "":
		return fmt.Sprintf("%s %s → %s", c.Key, c.Old, c.New)
	case c.Old == "":
		return c.Key + " added"
	case c.New == "":
		return c.Key + " removed"
	}
	return c.Key + " changed"
}

func summaries(cs []Change) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Summary()
	}
	return out
}

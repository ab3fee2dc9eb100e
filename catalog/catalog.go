// Package catalog reads what made a Rancher 1.6 catalog entry more than a
// compose project: the questions of its rancher-compose.yml, the answers a
// user gives them, and the Go templates (docker-compose.yml.tpl and the
// like) that the answers are rendered into. It knows nothing of Compose
// beyond where the catalog section sits in a file, and nothing of Docker.
package catalog

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Catalog is the catalog section of a rancher-compose.yml (`.catalog:` or
// `catalog:` at the top, or `.catalog:` under `services:`).
type Catalog struct {
	File        string
	Line        int
	Name        string
	Version     string
	Description string
	UUID        string
	Questions   []Question
}

// Question is one question of a catalog entry. Rancher kept every answer as
// a string; so does drover.
type Question struct {
	Variable     string
	Label        string
	Description  string
	Type         string // string (the default), int, float, boolean, enum, password, multiline, service, ...
	Group        string
	Required     bool
	Default      string
	HasDefault   bool
	Options      []string
	Min, Max     *float64
	MinLength    *int
	MaxLength    *int
	ValidChars   string
	InvalidChars string
	Line         int // where the question starts in its file
}

// Secret reports whether the question's value is to be masked when shown.
func (q Question) Secret() bool {
	switch strings.ToLower(q.Type) {
	case "password", "masked", "secret":
		return true
	}
	return false
}

// Error is a problem in a file, placed at its line.
type Error struct {
	File string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Parse reads the catalog section of a rancher-compose.yml, unrendered, as
// Rancher did. It returns nil, nil when the file has none, and nil, nil too
// when the file is not YAML before it is rendered: such a file is reported
// by whoever renders and parses it.
func Parse(file string, data []byte) (*Catalog, error) {
	key, value := section(data)
	if key == nil {
		return nil, nil
	}
	c := &Catalog{File: file, Line: key.Line}
	if value.Kind == yaml.ScalarNode && value.Tag == "!!null" {
		return c, nil
	}
	if value.Kind != yaml.MappingNode {
		return nil, &Error{file, value.Line, key.Value + ": expected a mapping"}
	}
	for i := 0; i+1 < len(value.Content); i += 2 {
		k, v := value.Content[i], value.Content[i+1]
		switch k.Value {
		case "name":
			c.Name = v.Value
		case "version":
			c.Version = v.Value
		case "description":
			c.Description = v.Value
		case "uuid":
			c.UUID = v.Value
		case "questions":
			qs, err := questions(file, v)
			if err != nil {
				return nil, err
			}
			c.Questions = qs
		}
		// The other keys (minimum_rancher_version, upgrade_from, labels,
		// and misspellings of them) were for the Rancher server and UI.
	}
	return c, nil
}

// section finds the catalog section: its key and value nodes, nil when the
// data has none or is not YAML.
func section(data []byte) (key, value *yaml.Node) {
	var doc yaml.Node
	if yaml.Unmarshal(data, &doc) != nil {
		// A file that is YAML only once rendered (a rancher-compose.yml.tpl)
		// may still have a catalog section that is: read that alone.
		data = topLevelBlock(data)
		if data == nil || yaml.Unmarshal(data, &doc) != nil {
			return nil, nil
		}
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, nil
	}
	root := doc.Content[0]
	if k, v := find(root, "catalog", ".catalog"); k != nil {
		return k, v
	}
	if _, services := find(root, "services"); services != nil && services.Kind == yaml.MappingNode {
		return find(services, ".catalog")
	}
	return nil, nil
}

// topLevelBlock returns the text of a top-level catalog: or .catalog: key,
// up to the next line that starts at the left margin, with every other
// line blank so that lines keep their numbers; nil when there is none.
func topLevelBlock(data []byte) []byte {
	lines := strings.SplitAfter(string(data), "\n")
	var b strings.Builder
	in, found := false, false
	for _, l := range lines {
		text := strings.TrimRight(l, "\r\n")
		top := text != "" && text[0] != ' ' && text[0] != '\t' && text[0] != '#'
		if top {
			in = !found && (strings.HasPrefix(text, "catalog:") || strings.HasPrefix(text, ".catalog:"))
			found = found || in
		}
		if in {
			b.WriteString(l)
		} else if strings.HasSuffix(l, "\n") {
			b.WriteString("\n")
		}
	}
	if !found {
		return nil
	}
	return []byte(b.String())
}

// find returns the last of the keys of mapping m that has one of names (a
// later key wins, as when YAML is decoded into a map), and its value.
func find(m *yaml.Node, names ...string) (key, value *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		for _, n := range names {
			if m.Content[i].Value == n {
				key, value = m.Content[i], m.Content[i+1]
			}
		}
	}
	return key, value
}

// IsSectionKey reports whether key, at the top of a rancher-compose.yml or
// under its services:, names the catalog section.
func IsSectionKey(key string, top bool) bool {
	return key == ".catalog" || top && key == "catalog"
}

// WithoutSection returns data with the lines of its catalog section made
// blank, so that the rest can be rendered as a template and parsed with
// the same line numbers: question texts hold things that look like
// templates (route53's `%{{service_name}}`), and Rancher read them
// unrendered.
func WithoutSection(data []byte) []byte {
	key, value := section(data)
	if key == nil {
		return data
	}
	first, last := key.Line, lastLine(value)
	lines := strings.SplitAfter(string(data), "\n")
	var b strings.Builder
	for i, l := range lines {
		n := i + 1
		if n < first || n > last {
			b.WriteString(l)
			continue
		}
		// Keep the line break (and a CR before it) so that lines keep
		// their numbers.
		switch {
		case strings.HasSuffix(l, "\r\n"):
			b.WriteString("\r\n")
		case strings.HasSuffix(l, "\n"):
			b.WriteString("\n")
		}
	}
	return []byte(b.String())
}

// lastLine is the last line a node's text reaches. A block scalar's
// content runs past its own line.
func lastLine(n *yaml.Node) int {
	last := n.Line
	if n.Kind == yaml.ScalarNode && (n.Style&(yaml.LiteralStyle|yaml.FoldedStyle)) != 0 {
		last += strings.Count(strings.TrimRight(n.Value, "\n"), "\n") + 1
	} else if n.Kind == yaml.ScalarNode {
		last += strings.Count(n.Value, "\n")
	}
	for _, c := range n.Content {
		if l := lastLine(c); l > last {
			last = l
		}
	}
	return last
}

func questions(file string, n *yaml.Node) ([]Question, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, &Error{file, n.Line, "questions: expected a list"}
	}
	var qs []Question
	seen := map[string]int{}
	for _, item := range n.Content {
		q, err := question(file, item)
		if err != nil {
			return nil, err
		}
		if line, dup := seen[q.Variable]; dup {
			return nil, &Error{file, item.Line, fmt.Sprintf("question %q: asked twice (also at line %d)", q.Variable, line)}
		}
		seen[q.Variable] = item.Line
		qs = append(qs, q)
	}
	return qs, nil
}

func question(file string, n *yaml.Node) (Question, error) {
	q := Question{Line: n.Line, Type: "string"}
	if n.Kind != yaml.MappingNode {
		return q, &Error{file, n.Line, "questions: expected a mapping with variable:, label:, type:..."}
	}
	fail := func(v *yaml.Node, format string, args ...any) (Question, error) {
		name := q.Variable
		if name == "" {
			name = "?"
		}
		return q, &Error{file, v.Line, fmt.Sprintf("question %q: ", name) + fmt.Sprintf(format, args...)}
	}
	// variable first, so that errors about the other keys can name it.
	if _, v := find(n, "variable"); v != nil {
		q.Variable = v.Value
	}
	if q.Variable == "" {
		return fail(n, "no variable:")
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Value != "options" && v.Kind != yaml.ScalarNode {
			return fail(v, "%s: expected a single value", k.Value)
		}
		var err error
		switch k.Value {
		case "label":
			q.Label = v.Value
		case "description":
			q.Description = v.Value
		case "type":
			q.Type = v.Value
		case "group":
			q.Group = v.Value
		case "required":
			q.Required = strings.EqualFold(v.Value, "true")
		case "default":
			// Rancher's default is a string; `default: false` means "false".
			if v.Tag != "!!null" {
				q.Default, q.HasDefault = v.Value, true
			}
		case "options":
			if v.Kind != yaml.SequenceNode {
				return fail(v, "options: expected a list")
			}
			for _, o := range v.Content {
				if o.Kind != yaml.ScalarNode {
					return fail(o, "options: expected plain values")
				}
				q.Options = append(q.Options, o.Value)
			}
		case "min":
			q.Min, err = number(v)
		case "max":
			q.Max, err = number(v)
		case "min_length", "minLength":
			q.MinLength, err = length(v)
		case "max_length", "maxLength":
			q.MaxLength, err = length(v)
		case "valid_chars", "validChars":
			q.ValidChars = v.Value
		case "invalid_chars", "invalidChars":
			q.InvalidChars = v.Value
		}
		if err != nil {
			return fail(v, "%s: %v", k.Value, err)
		}
	}
	return q, nil
}

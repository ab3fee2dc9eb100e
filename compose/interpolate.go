package compose

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"go.yaml.in/yaml/v4"

	"github.com/drover/drover/catalog"
)

// interpolateRancher replaces ${VAR}, ${VAR:-default}, $VAR and $$ in the
// values (never the keys) of a rancher-compose.yml's node tree, with the
// environment the compose files get, in place, so that every error and
// every later error keeps its line. The catalog section is left as
// written: Rancher read questions unrendered, and their texts hold dollars
// of their own. It returns the variables that are not set (a blank string,
// as in rancher-compose), each where it is first used.
func interpolateRancher(file string, root *yaml.Node, env map[string]string) ([]*FileError, error) {
	unset := map[string]int{} // variable → the first line that uses it
	var walk func(n *yaml.Node, top bool) error
	walk = func(n *yaml.Node, top bool) error {
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := n.Content[i].Value
				if catalog.IsSectionKey(k, top) {
					continue
				}
				// The v2 layout has its services one level down.
				if err := walk(n.Content[i+1], top && k == "services"); err != nil {
					return err
				}
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				if err := walk(c, false); err != nil {
					return err
				}
			}
		case yaml.ScalarNode:
			if !strings.Contains(n.Value, "$") {
				return nil
			}
			lookup := func(name string) (string, bool) {
				v, ok := env[name]
				if _, seen := unset[name]; !ok && !seen && plainUse(n.Value, name) {
					unset[name] = n.Line
				}
				return v, ok
			}
			v, err := template.SubstituteWithOptions(n.Value, lookup, template.WithoutLogging)
			if err != nil {
				return &FileError{File: file, Line: n.Line, Msg: interpolationMessage(n.Value, err)}
			}
			if v != n.Value {
				// A value written as ${SCALE} is a string to YAML; what it
				// becomes is read by the key's own parser ("3" is a scale).
				n.Value, n.Tag, n.Style = v, "!!str", 0
			}
		}
		return nil
	}
	if err := walk(root, true); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(unset))
	for name := range unset {
		names = append(names, name)
	}
	sort.Slice(names, func(i, j int) bool {
		return unset[names[i]] < unset[names[j]] || unset[names[i]] == unset[names[j]] && names[i] < names[j]
	})
	var out []*FileError
	for _, name := range names {
		out = append(out, &FileError{File: file, Line: unset[name], Msg: fmt.Sprintf("variable %s is not set: a blank string", name)})
	}
	return out, nil
}

// interpolationMessage says what is wrong with a value's variables, in
// words and with the value.
func interpolationMessage(value string, err error) string {
	var missing *template.MissingRequiredError
	if errors.As(err, &missing) {
		return err.Error()
	}
	return fmt.Sprintf("invalid interpolation in %q: %v", value, err)
}

// plainUse reports whether value uses the variable without a default or
// an error of its own (${NAME} or $NAME, not ${NAME:-x}): only then is an
// unset variable worth a warning.
func plainUse(value, name string) bool {
	for i := 0; i < len(value); i++ {
		if value[i] != '$' {
			continue
		}
		if i+1 < len(value) && value[i+1] == '$' {
			i++ // $$ is a dollar
			continue
		}
		rest := value[i+1:]
		if strings.HasPrefix(rest, "{"+name+"}") {
			return true
		}
		if strings.HasPrefix(rest, name) && (len(rest) == len(name) || !isNameByte(rest[len(name)])) {
			return true
		}
	}
	return false
}

func isNameByte(b byte) bool {
	return b == '_' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
}

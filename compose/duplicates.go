package compose

import (
	"fmt"

	"go.yaml.in/yaml/v4"
)

// lastKeyWins reads a compose file of the v1 layout as docker-compose 1.x
// (PyYAML) did: a key set twice in one mapping takes its last value. Rancher
// catalog entries were published with such files. It returns the content
// with the earlier occurrences dropped, and a note for each; a file of the
// current layout, or one without duplicates, comes back as it is, since
// docker compose v2 refuses duplicates there and so does drover.
func lastKeyWins(file string, content []byte) ([]byte, []string) {
	var doc yaml.Node
	if yaml.Unmarshal(content, &doc) != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return content, nil
	}
	root := doc.Content[0]
	if hasKey(root, "services") || hasKey(root, "version") {
		return content, nil
	}
	var notes []string
	for _, d := range dropEarlierKeys(root) {
		notes = append(notes, fmt.Sprintf("%s:%d: key %q is set again at line %d: the last value is used, as docker-compose 1 read it", displayPath(file), d.key.Line, d.key.Value, d.again))
	}
	if len(notes) == 0 {
		return content, nil
	}
	out, err := yaml.Marshal(&doc)
	if err != nil {
		return content, nil
	}
	return out, notes
}

// duplicateKey is a key dropped because its mapping sets it again, at
// line again.
type duplicateKey struct {
	key   *yaml.Node
	again int
}

// dropEarlierKeys removes from every mapping under n each key that the
// same mapping sets again later, as YAML readers of the Rancher era
// (PyYAML, Go's yaml.v2) did, keeping the last value.
func dropEarlierKeys(n *yaml.Node) []duplicateKey {
	var dropped []duplicateKey
	if n.Kind == yaml.MappingNode {
		last := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			last[n.Content[i].Value] = i
		}
		kept := n.Content[:0]
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if j := last[k.Value]; j != i {
				dropped = append(dropped, duplicateKey{k, n.Content[j].Line})
				continue
			}
			kept = append(kept, k, n.Content[i+1])
		}
		n.Content = kept
	}
	for _, c := range n.Content {
		dropped = append(dropped, dropEarlierKeys(c)...)
	}
	return dropped
}

package compose

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// compose-go validates a project against a JSON schema built from the YAML
// after it has been decoded, so its errors name a path
// ("services.web.imgae false schema") and no line. drover keeps each
// compose file's YAML node tree beside the load and turns such an error
// into a FileError: file, line, service, key, and a "did you mean" where a
// known key is close, in the form of rancher-compose.yml's errors.

// source is one compose file as YAML nodes.
type source struct {
	file string     // as compose-go names it
	root *yaml.Node // the top-level mapping; nil when the file is not a YAML mapping
	v1   bool       // the v1 layout: services at the top level
}

// sources are a project's compose files, in the order given.
type sources []source

// newSources parses the compose files for their lines. A file that does not
// parse gets a nil root: compose-go reports its syntax error.
func newSources(files []types.ConfigFile) sources {
	var ss sources
	for _, f := range files {
		s := source{file: f.Filename}
		var doc yaml.Node
		if yaml.Unmarshal(f.Content, &doc) == nil && len(doc.Content) > 0 && doc.Content[0].Kind == yaml.MappingNode {
			s.root = doc.Content[0]
			s.v1 = !hasKey(s.root, "services") && !hasKey(s.root, "version") && f.Config != nil
		}
		ss = append(ss, s)
	}
	return ss
}

// match is where a dotted path was found in one file.
type match struct {
	file     string
	segs     []string   // the path as keys in the current layout: "services", "web.v2", "imgae"
	line     int        // of the deepest key (or list item) found
	node     *yaml.Node // the value at the path, when complete
	found    int        // how many of segs the file has
	complete bool
}

// find follows a path such as "services.web.v2.ports.0" through the file.
// Keys may hold dots themselves (a service named "web.v2"), so at each
// mapping the longest key that the rest of the path starts with is taken.
func (s source) find(path string) match {
	m := match{file: s.file}
	cur, rest := s.root, path
	if cur == nil {
		m.segs = splitPath(path)
		return m
	}
	if s.v1 && (rest == "services" || strings.HasPrefix(rest, "services.")) {
		m.segs, m.found = []string{"services"}, 1
		rest = strings.TrimPrefix(strings.TrimPrefix(rest, "services"), ".")
	}
	for rest != "" {
		seg, next, line := step(cur, rest)
		if next == nil {
			break
		}
		m.segs, m.line, m.found = append(m.segs, seg), line, m.found+1
		cur, rest = next, strings.TrimPrefix(rest[len(seg):], ".")
	}
	m.complete = rest == ""
	if m.complete {
		m.node = cur
	}
	m.segs = append(m.segs, splitPath(rest)...)
	return m
}

// step takes one key (or list index) of path from n: the key, the value
// under it and the line where it is written; a nil value when n has none.
func step(n *yaml.Node, path string) (string, *yaml.Node, int) {
	switch n.Kind {
	case yaml.MappingNode:
		best := -1
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if (path == k || strings.HasPrefix(path, k+".")) && (best < 0 || len(k) > len(n.Content[best].Value)) {
				best = i
			}
		}
		if best >= 0 {
			return n.Content[best].Value, n.Content[best+1], n.Content[best].Line
		}
	case yaml.SequenceNode:
		seg, _, _ := strings.Cut(path, ".")
		if i, err := strconv.Atoi(seg); err == nil && i >= 0 && i < len(n.Content) {
			return seg, n.Content[i], n.Content[i].Line
		}
	}
	return "", nil, 0
}

func splitPath(path string) []string {
	if path == "" {
		return nil
	}
	return strings.Split(path, ".")
}

// locate finds a path in the files: in the preferred file (the one
// compose-go was reading) when it has it, else in the last file that does,
// as a later file overrides an earlier one; failing that, where the most of
// the path was found.
func (ss sources) locate(path, preferred string) match {
	var best match
	order := make([]source, 0, len(ss))
	for i := len(ss) - 1; i >= 0; i-- {
		if ss[i].file == preferred {
			order = append([]source{ss[i]}, order...)
		} else {
			order = append(order, ss[i])
		}
	}
	for i, s := range order {
		m := s.find(path)
		if m.complete {
			return m
		}
		if i == 0 || m.found > best.found {
			best = m
		}
	}
	if best.file == "" && len(ss) > 0 {
		best.file = ss[0].file
	}
	return best
}

// errorAt is an error about the key at segs (in the current layout), shown
// at line.
func errorAt(file string, line int, segs []string, msg string) *FileError {
	fe := &FileError{File: displayPath(file), Line: line, Msg: msg}
	if len(segs) >= 2 && segs[0] == "services" {
		fe.Service, fe.Key = segs[1], strings.Join(segs[2:], ".")
	} else {
		fe.Key = strings.Join(segs, ".")
	}
	return fe
}

// displayPath shows a file relative to the current directory when it is
// under it, as the user most likely typed it.
func displayPath(file string) string {
	wd, err := os.Getwd()
	if err != nil || !filepath.IsAbs(file) {
		return file
	}
	if rel, err := filepath.Rel(wd, file); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return file
}

// The shapes of compose-go's errors that name a place in the files.
var (
	reParse       = regexp.MustCompile(`(?s)^failed to parse (.+?): (?:yaml: )?(.*)$`)
	reYAMLLine    = regexp.MustCompile(`line (\d+)(?:, column \d+)?: `)
	reValidating  = regexp.MustCompile(`(?s)^validating (.+?): (.*)$`)
	reInterpolate = regexp.MustCompile(`(?s)error while interpolating (\S+): (.*)$`)
	reDecoding    = regexp.MustCompile(`(?s)decoding failed due to the following error\(s\):\s*'([^']+)' ([^\n]*)`)
	reService     = regexp.MustCompile(`(?s)^service "?([^" ]+)"? (.*?)(?:: invalid compose project)?$`)
	rePath        = regexp.MustCompile(`(?s)^((?:services|networks|volumes|secrets|configs|include|models|name)(?:\.\S*?)?):? (.*)$`)
	reAdditional  = regexp.MustCompile(`^additional propert(?:y|ies) '([^']+)'`)
	reMustBe      = regexp.MustCompile(`^must be an? (.*)$`)
)

// locateError turns an error of compose-go into a FileError when it can
// tell where in the files it is; otherwise it names the files.
func (ss sources) locateError(err error) error {
	msg := err.Error()
	if m := reParse.FindStringSubmatch(msg); m != nil {
		return yamlError(m[1], m[2])
	}
	if m := reValidating.FindStringSubmatch(msg); m != nil {
		path, rest := splitPathMessage(m[2])
		return ss.pathError(path, rest, m[1])
	}
	if m := reInterpolate.FindStringSubmatch(msg); m != nil {
		return ss.pathError(m[1], m[2], "")
	}
	if m := reDecoding.FindStringSubmatch(msg); m != nil {
		path := strings.NewReplacer("[", ".", "]", "").Replace(m[1])
		return ss.pathError(path, m[2], "")
	}
	if m := reService.FindStringSubmatch(msg); m != nil {
		return ss.serviceError(m[1], m[2])
	}
	if m := rePath.FindStringSubmatch(msg); m != nil {
		return ss.pathError(m[1], m[2], "")
	}
	return ss.named(err)
}

// named prefixes an error that names no compose file with the files.
func (ss sources) named(err error) error {
	var names []string
	for _, s := range ss {
		if strings.Contains(err.Error(), s.file) {
			return err
		}
		names = append(names, displayPath(s.file))
	}
	if len(names) == 0 {
		return err
	}
	return fmt.Errorf("%s: %w", strings.Join(names, ", "), err)
}

// yamlError is a syntax error at the line the YAML parser names last (the
// problem, after the context it started from).
func yamlError(file, msg string) error {
	fe := &FileError{File: displayPath(file), Msg: "invalid YAML: " + msg}
	if locs := reYAMLLine.FindAllStringSubmatchIndex(msg, -1); len(locs) > 0 {
		last := locs[len(locs)-1]
		fe.Line, _ = strconv.Atoi(msg[last[2]:last[3]])
		fe.Msg = "invalid YAML: " + msg[last[1]:]
	}
	return fe
}

// splitPathMessage splits "services.web.ports must be a list" at the first
// space; the schema's errors about the top level have an empty path.
func splitPathMessage(s string) (string, string) {
	path, msg, _ := strings.Cut(s, " ")
	return strings.TrimSuffix(path, ":"), msg
}

// pathError is an error compose-go reports at a path: an unknown key, a
// value of the wrong type, or anything else at that place.
func (ss sources) pathError(path, msg, preferred string) error {
	if msg == "false schema" && path != "" {
		// The key at path is one the schema does not allow there.
		m := ss.locate(path, preferred)
		return unknownKey(m.file, m.line, m.segs[:len(m.segs)-1], m.segs[len(m.segs)-1])
	}
	if a := reAdditional.FindStringSubmatch(msg); a != nil {
		key, _, _ := strings.Cut(a[1], "'")
		child := key
		if path != "" {
			child = path + "." + key
		}
		m := ss.locate(child, preferred)
		return unknownKey(m.file, m.line, m.segs[:len(m.segs)-1], key)
	}
	m := ss.locate(path, preferred)
	if t := reMustBe.FindStringSubmatch(msg); t != nil && m.complete {
		return errorAt(m.file, m.line, m.segs, typeMessage(t[1], m))
	}
	return errorAt(m.file, m.line, m.segs, msg)
}

// unknownKey is the error for a key the schema does not know under parent.
func unknownKey(file string, line int, parent []string, key string) error {
	hint := didYouMean(key, knownKeys(parent))
	if len(parent) == 0 {
		return &FileError{File: displayPath(file), Line: line, Msg: fmt.Sprintf("unknown top-level key %q%s", key, hint)}
	}
	return errorAt(file, line, parent, fmt.Sprintf("unknown key %q%s", key, hint))
}

// typeMessage says what a value should have been and what it is. A service
// that is not a mapping but is named like a service key ("ports") is most
// often a key indented too little, and the message says so.
func typeMessage(want string, m match) string {
	want = strings.NewReplacer("array", "list", "object", "mapping").Replace(want)
	msg := fmt.Sprintf("must be a %s, got %s", want, describe(m.node))
	if len(m.segs) == 2 && m.segs[0] == "services" && slices.Contains(knownKeys([]string{"services", m.segs[1]}), m.segs[1]) {
		msg += fmt.Sprintf("; %q is a key of a service: is it indented too little?", m.segs[1])
	}
	return msg
}

// serviceError places compose-go's checks of one service ("service "web"
// depends on undefined service "db"") at the key they are about, and the
// line of the name that is undefined.
func (ss sources) serviceError(service, msg string) error {
	key, ref := "", ""
	for _, u := range undefinedRefs {
		if strings.HasPrefix(msg, u.phrase) {
			key, ref = u.key, strings.Trim(strings.TrimSpace(strings.TrimPrefix(msg, u.phrase)), `"`)
			msg = fmt.Sprintf("undefined %s %q%s", u.kind, ref, u.hint)
		}
	}
	path := "services." + service
	if key != "" {
		path += "." + key
	}
	m := ss.locate(path, "")
	if m.found < 2 {
		return ss.named(fmt.Errorf("service %q: %s", service, msg))
	}
	line := m.line
	if m.node != nil && ref != "" {
		if l := lineOfValue(m.node, ref); l > 0 {
			line = l
		}
	}
	if key == "depends_on" {
		msg += didYouMean(ref, ss.serviceNames())
	}
	return errorAt(m.file, line, m.segs, msg)
}

// undefinedRefs are compose-go's complaints about a name a service uses
// that the project does not declare.
var undefinedRefs = []struct{ phrase, key, kind, hint string }{
	{"depends on undefined service", "depends_on", "service", ""},
	{"refers to undefined network", "networks", "network", " (declare it under the top-level networks:)"},
	{"refers to undefined volume", "volumes", "volume", " (declare it under the top-level volumes:, or give a path such as ./data)"},
	{"refers to undefined secret", "secrets", "secret", " (declare it under the top-level secrets:)"},
	{"refers to undefined config", "configs", "config", " (declare it under the top-level configs:)"},
}

func lastWord(s string) string {
	fields := strings.Fields(s)
	if len(fields) == 0 {
		return ""
	}
	return strings.Trim(fields[len(fields)-1], `"`)
}

// lineOfValue returns the line of the first scalar under n equal to ref or
// starting with "ref:" (a volume "data:/srv"), 0 when there is none.
func lineOfValue(n *yaml.Node, ref string) int {
	if n.Kind == yaml.ScalarNode && (n.Value == ref || strings.HasPrefix(n.Value, ref+":")) {
		return n.Line
	}
	for _, c := range n.Content {
		if l := lineOfValue(c, ref); l > 0 {
			return l
		}
	}
	return 0
}

// serviceNames lists the services the files declare.
func (ss sources) serviceNames() []string {
	var names []string
	for _, s := range ss {
		services := s.root
		if services != nil && !s.v1 {
			_, services, _ = step(s.root, "services")
		}
		if services == nil || services.Kind != yaml.MappingNode {
			continue
		}
		for _, kv := range pairs(services) {
			names = append(names, kv.key.Value)
		}
	}
	return names
}

// at is an error about a key of a service (key "" for the service itself),
// placed where the files set it.
func (ss sources) at(service, key, msg string) error {
	path := "services." + service
	if key != "" {
		path += "." + key
	}
	m := ss.locate(path, "")
	segs := []string{"services", service}
	return errorAt(m.file, m.line, segs, msg)
}

package catalog

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v4"
)

// Answer is a value given for a variable, and where it was given.
type Answer struct {
	Value  string
	Source string // "answers.txt:3"
}

// Answers are the values of answers files, by variable; a later file
// overrides an earlier one.
type Answers map[string]Answer

// ReadAnswers reads answers files in order (`--answers FILE`, repeatable).
func ReadAnswers(files []string) (Answers, error) {
	all := Answers{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("answers file: %w", err)
		}
		a, err := ParseAnswers(f, data)
		if err != nil {
			return nil, err
		}
		for k, v := range a {
			all[k] = v
		}
	}
	return all, nil
}

// ParseAnswers reads one answers file. A .yml, .yaml or .json file is a
// mapping of variables to values, or holds one under answers: (as a
// Rancher answers file did); any other file has a KEY=VALUE a line, split
// at the first "=" with the value kept as written (Rancher did not unquote
// or trim either), blank lines and lines starting with # left out.
func ParseAnswers(file string, data []byte) (Answers, error) {
	switch strings.ToLower(filepath.Ext(file)) {
	case ".yml", ".yaml", ".json":
		return parseAnswersYAML(file, data)
	}
	a := Answers{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		k, v, ok := strings.Cut(text, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, &Error{file, line, "expected KEY=VALUE"}
		}
		a[k] = Answer{Value: v, Source: fmt.Sprintf("%s:%d", file, line)}
	}
	return a, sc.Err()
}

func parseAnswersYAML(file string, data []byte) (Answers, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, &Error{file, 0, "invalid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if len(doc.Content) == 0 {
		return Answers{}, nil
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, &Error{file, m.Line, "expected a mapping of variables to values"}
	}
	if len(m.Content) == 2 && m.Content[0].Value == "answers" && m.Content[1].Kind == yaml.MappingNode {
		m = m.Content[1]
	}
	a := Answers{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			return nil, &Error{file, v.Line, fmt.Sprintf("%s: expected a single value (answers are strings)", k.Value)}
		}
		value := v.Value
		if v.Tag == "!!null" {
			value = ""
		}
		a[k.Value] = Answer{Value: value, Source: fmt.Sprintf("%s:%d", file, k.Line)}
	}
	return a, nil
}

package catalog

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// Value is a question with the value it resolved to and where that came
// from.
type Value struct {
	Question
	Value string
	// Source is an answers file and line, "environment", "default", or ""
	// when the question has no value at all.
	Source string
}

// Shown is the value as it may be printed: a password's is masked.
func (v Value) Shown() string {
	if v.Secret() && v.Value != "" {
		return "********"
	}
	return v.Value
}

// Resolve gives every question its value. An answers file wins over the
// environment (the process environment over --env-file and .env, as the
// compose files get it), which wins over the question's default: Rancher's
// answers were the stack's environment. Every question whose value is
// missing or does not fit the question is listed in one error.
func (c *Catalog) Resolve(env map[string]string, answers Answers) ([]Value, error) {
	var vals []Value
	var problems []string
	for _, q := range c.Questions {
		v := Value{Question: q}
		if a, ok := answers[q.Variable]; ok {
			v.Value, v.Source = a.Value, a.Source
		} else if e, ok := env[q.Variable]; ok {
			v.Value, v.Source = e, "environment"
		} else if q.HasDefault {
			v.Value, v.Source = q.Default, "default"
		}
		if msg := check(v); msg != "" {
			problems = append(problems, fmt.Sprintf("  line %d: %s: %s", q.Line, describe(v), msg))
		}
		vals = append(vals, v)
	}
	if len(problems) > 0 {
		return vals, &ResolveError{File: c.File, Problems: problems}
	}
	return vals, nil
}

// ResolveError lists the questions without an acceptable value.
type ResolveError struct {
	File     string
	Problems []string
}

func (e *ResolveError) Error() string {
	what := "question has"
	if len(e.Problems) > 1 {
		what = "questions have"
	}
	return fmt.Sprintf("%s: %d catalog %s no acceptable value (answer with --answers FILE or the environment):\n%s",
		e.File, len(e.Problems), what, strings.Join(e.Problems, "\n"))
}

func describe(v Value) string {
	s := fmt.Sprintf("%q", v.Variable)
	if v.Label != "" {
		s += fmt.Sprintf(" (%s)", v.Label)
	}
	switch {
	case v.Value == "":
	case v.Source == "default":
		s += fmt.Sprintf(" = %q by default", v.Shown())
	case v.Source != "":
		s += fmt.Sprintf(" = %q from %s", v.Shown(), v.Source)
	}
	return s
}

// check says what is wrong with a question's value, "" when nothing is.
// Rancher's UI enforced only required (and never for a boolean, which is
// a checkbox); drover also refuses values that cannot mean what the
// question asks, because they would reach the containers.
func check(v Value) string {
	typ := strings.ToLower(v.Type)
	if v.Value == "" {
		if v.Required && typ != "boolean" && v.Source == "default" {
			return "required, and its default is empty"
		}
		if v.Required && typ != "boolean" {
			return "required, with no default and no answer"
		}
		return ""
	}
	switch typ {
	case "int":
		n, err := strconv.ParseInt(strings.TrimSpace(v.Value), 10, 64)
		if err != nil {
			return "expected an integer"
		}
		if msg := inRange(float64(n), v.Question); msg != "" {
			return msg
		}
	case "float":
		f, err := strconv.ParseFloat(strings.TrimSpace(v.Value), 64)
		if err != nil {
			return "expected a number"
		}
		if msg := inRange(f, v.Question); msg != "" {
			return msg
		}
	case "boolean":
		if v.Value != "true" && v.Value != "false" {
			return "expected true or false (templates compare with \"true\")"
		}
	case "enum":
		if len(v.Options) > 0 && !contains(v.Options, v.Value) {
			return "expected one of " + strings.Join(quoteAll(v.Options), ", ")
		}
	}
	n := utf8.RuneCountInString(v.Value)
	if v.MinLength != nil && n < *v.MinLength {
		return fmt.Sprintf("shorter than %d characters", *v.MinLength)
	}
	if v.MaxLength != nil && n > *v.MaxLength {
		return fmt.Sprintf("longer than %d characters", *v.MaxLength)
	}
	// Rancher's UI read valid_chars and invalid_chars as the inside of a
	// regular expression's character class.
	if v.ValidChars != "" {
		if re, err := regexp.Compile("[^" + v.ValidChars + "]"); err == nil && re.MatchString(v.Value) {
			return fmt.Sprintf("holds %q, outside the valid characters %q", re.FindString(v.Value), v.ValidChars)
		}
	}
	if v.InvalidChars != "" {
		if re, err := regexp.Compile("[" + v.InvalidChars + "]"); err == nil && re.MatchString(v.Value) {
			return fmt.Sprintf("holds %q, one of the invalid characters %q", re.FindString(v.Value), v.InvalidChars)
		}
	}
	return ""
}

func inRange(f float64, q Question) string {
	if q.Min != nil && f < *q.Min {
		return fmt.Sprintf("less than the minimum %s", strconv.FormatFloat(*q.Min, 'f', -1, 64))
	}
	if q.Max != nil && f > *q.Max {
		return fmt.Sprintf("more than the maximum %s", strconv.FormatFloat(*q.Max, 'f', -1, 64))
	}
	return ""
}

// Values are a template's .Values: every question's value, and every
// variable an answers file gives, asked or not. A question without a
// value is "", so that templates can test it.
func Values(vals []Value, answers Answers) map[string]string {
	m := map[string]string{}
	for k, a := range answers {
		m[k] = a.Value
	}
	for _, v := range vals {
		m[v.Variable] = v.Value
	}
	return m
}

// Environment is the environment a catalog entry's files are interpolated
// with: env (the process environment over --env-file and .env), the
// answers files over it, and each question's value where env has none.
func Environment(env map[string]string, vals []Value, answers Answers) map[string]string {
	m := make(map[string]string, len(env)+len(vals)+len(answers))
	for _, v := range vals {
		if v.Source != "" {
			m[v.Variable] = v.Value
		}
	}
	for k, e := range env {
		m[k] = e
	}
	for k, a := range answers {
		m[k] = a.Value
	}
	return m
}

func number(n *yaml.Node) (*float64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64)
	if err != nil {
		return nil, fmt.Errorf("expected a number, got %q", n.Value)
	}
	return &f, nil
}

func length(n *yaml.Node) (*int, error) {
	i, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil || i < 0 {
		return nil, fmt.Errorf("expected a length, got %q", n.Value)
	}
	return &i, nil
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

func quoteAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = strconv.Quote(s)
	}
	return out
}

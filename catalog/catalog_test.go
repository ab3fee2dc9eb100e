package catalog

import (
	"reflect"
	"strings"
	"testing"
)

const questionsV1 = `.catalog:
  name: hello
  version: 1.2.0
  questions:
    - variable: PORT
      label: Port
      type: int
      min: 1024
      max: 65535
      default: 8080
      required: true
    - variable: DEBUG
      type: boolean
      default: false
    - variable: MODE
      type: enum
      options: [fast, safe]
      default: safe
    - variable: ADMIN_PASSWORD
      type: password
      required: true
    - variable: NAME
      min_length: 2
      max_length: 5
      valid_chars: a-z
web:
  scale: 2
`

func TestParseLayouts(t *testing.T) {
	for _, tc := range []struct{ name, text string }{
		{"v1 .catalog", questionsV1},
		{"catalog:", "catalog:\n  questions:\n    - variable: PORT\nweb: {scale: 1}\n"},
		{"services: .catalog:", "version: '2'\nservices:\n  web: {scale: 1}\n  .catalog:\n    questions:\n      - variable: PORT\n"},
		{".catalog before version", ".catalog:\n  questions:\n    - variable: PORT\nversion: '2'\nservices:\n  web: {}\n"},
		{"YAML only once rendered", "web:\n{{- if true }}\n  scale: 2\n{{- end }}\n.catalog:\n  questions:\n    - variable: PORT\n# a comment\napi: {}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("rancher-compose.yml", []byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if c == nil || len(c.Questions) == 0 || c.Questions[0].Variable != "PORT" {
				t.Fatalf("parsed %+v, want the question PORT", c)
			}
		})
	}
	if c, err := Parse("r.yml", []byte("web: {scale: 2}\n")); c != nil || err != nil {
		t.Errorf("a file without a catalog section: %+v, %v; want nil, nil", c, err)
	}
}

func TestParseQuestionFields(t *testing.T) {
	c, err := Parse("rancher-compose.yml", []byte(questionsV1))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "hello" || c.Version != "1.2.0" || c.Line != 1 {
		t.Errorf("catalog %q %q line %d, want hello 1.2.0 line 1", c.Name, c.Version, c.Line)
	}
	port := c.Questions[0]
	if port.Type != "int" || *port.Min != 1024 || *port.Max != 65535 || port.Default != "8080" || !port.Required || port.Line != 5 || port.Label != "Port" {
		t.Errorf("PORT parsed as %+v", port)
	}
	// Rancher's defaults are strings: `default: false` is "false".
	if d := c.Questions[1]; d.Default != "false" || !d.HasDefault {
		t.Errorf("DEBUG default %q (%v), want \"false\"", d.Default, d.HasDefault)
	}
	if m := c.Questions[2]; !reflect.DeepEqual(m.Options, []string{"fast", "safe"}) {
		t.Errorf("MODE options %v", m.Options)
	}
	if p := c.Questions[3]; !p.Secret() || p.HasDefault {
		t.Errorf("ADMIN_PASSWORD %+v: want a secret without a default", p)
	}
	if n := c.Questions[4]; n.Type != "string" || *n.MinLength != 2 || *n.MaxLength != 5 || n.ValidChars != "a-z" {
		t.Errorf("NAME %+v", n)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"asked twice", ".catalog:\n  questions:\n    - variable: A\n    - variable: A\n", `r.yml:4: question "A": asked twice (also at line 3)`},
		{"no variable", ".catalog:\n  questions:\n    - label: x\n", `r.yml:3: question "?": no variable:`},
		{"bad min", ".catalog:\n  questions:\n    - variable: A\n      min: lots\n", `r.yml:4: question "A": min: expected a number, got "lots"`},
		{"questions not a list", ".catalog:\n  questions: 3\n", `r.yml:2: questions: expected a list`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("r.yml", []byte(tc.text))
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestResolvePrecedence(t *testing.T) {
	c, _ := Parse("rancher-compose.yml", []byte(questionsV1))
	env := map[string]string{"PORT": "9000", "MODE": "fast", "ADMIN_PASSWORD": "from-env"}
	answers := Answers{"PORT": {"9100", "a.txt:1"}, "ADMIN_PASSWORD": {"s3cret", "a.txt:2"}, "EXTRA": {"x", "a.txt:3"}}
	vals, err := c.Resolve(env, answers)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range vals {
		got[v.Variable] = v.Value + " from " + v.Source
	}
	want := map[string]string{
		"PORT":           "9100 from a.txt:1", // answers over environment over default
		"DEBUG":          "false from default",
		"MODE":           "fast from environment",
		"ADMIN_PASSWORD": "s3cret from a.txt:2",
		"NAME":           " from ",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("resolved %v\nwant     %v", got, want)
	}
	if vals[3].Shown() != "********" {
		t.Errorf("a password is shown as %q", vals[3].Shown())
	}
	values := Values(vals, answers)
	if values["EXTRA"] != "x" || values["NAME"] != "" || values["PORT"] != "9100" {
		t.Errorf(".Values %v: want every question (NAME blank) and every answer", values)
	}
	envOut := Environment(map[string]string{"PORT": "9000", "HOME": "/root"}, vals, answers)
	if envOut["PORT"] != "9100" || envOut["HOME"] != "/root" || envOut["DEBUG"] != "false" || envOut["EXTRA"] != "x" {
		t.Errorf("environment %v", envOut)
	}
	if _, ok := envOut["NAME"]; ok {
		t.Errorf("a question without a value is set in the environment: %v", envOut)
	}
}

func TestResolveListsEveryProblem(t *testing.T) {
	c, _ := Parse("rancher-compose.yml", []byte(questionsV1))
	_, err := c.Resolve(map[string]string{"DEBUG": "yes", "NAME": "Ab1"}, Answers{"PORT": {"80", "answers.txt:4"}, "MODE": {"slow", "answers.txt:5"}})
	if err == nil {
		t.Fatal("resolved, want an error")
	}
	want := `rancher-compose.yml: 5 catalog questions have no acceptable value (answer with --answers FILE or the environment):
  line 5: "PORT" (Port) = "80" from answers.txt:4: less than the minimum 1024
  line 12: "DEBUG" = "yes" from environment: expected true or false (templates compare with "true")
  line 15: "MODE" = "slow" from answers.txt:5: expected one of "fast", "safe"
  line 19: "ADMIN_PASSWORD": required, with no default and no answer
  line 22: "NAME" = "Ab1" from environment: holds "A", outside the valid characters "a-z"`
	if err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	// A password's value never shows in an error.
	_, err = c.Resolve(nil, Answers{"ADMIN_PASSWORD": {"x", "a:1"}, "NAME": {"toolongname", "a:2"}})
	if err == nil || strings.Contains(err.Error(), `"x"`) || !strings.Contains(err.Error(), "longer than 5 characters") {
		t.Errorf("error %v: want NAME too long, and no password shown", err)
	}
}

func TestParseAnswers(t *testing.T) {
	for _, tc := range []struct {
		name, file, text string
		want             map[string]string
	}{
		{"key=value", "a.txt", "# ours\nA=1\r\nB=x=y\n\nC= spaced \nD=\n", map[string]string{"A": "1", "B": "x=y", "C": " spaced ", "D": ""}},
		{"yaml answers:", "a.yml", "answers:\n  A: 1\n  B: true\n  C: ~\n", map[string]string{"A": "1", "B": "true", "C": ""}},
		{"yaml map", "a.yaml", "A: x\nB: '2'\n", map[string]string{"A": "x", "B": "2"}},
		{"json", "a.json", `{"answers": {"A": "x", "B": 3}}`, map[string]string{"A": "x", "B": "3"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := ParseAnswers(tc.file, []byte(tc.text))
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for k, v := range a {
				got[k] = v.Value
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("answers %q, want %q", got, tc.want)
			}
		})
	}
	for _, tc := range []struct{ file, text, want string }{
		{"a.txt", "A=1\nnot an answer\n", "a.txt:2: expected KEY=VALUE"},
		{"a.yml", "A: [1, 2]\n", "a.yml:1: A: expected a single value (answers are strings)"},
		{"a.yml", "- A\n", "a.yml:1: expected a mapping of variables to values"},
	} {
		if _, err := ParseAnswers(tc.file, []byte(tc.text)); err == nil || err.Error() != tc.want {
			t.Errorf("%s %q: error %v, want %q", tc.file, tc.text, err, tc.want)
		}
	}
	a, _ := ParseAnswers("a.txt", []byte("\nA=1\n"))
	if a["A"].Source != "a.txt:2" {
		t.Errorf("source %q, want a.txt:2", a["A"].Source)
	}
}

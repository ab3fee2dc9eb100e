package catalog

import (
	"reflect"
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	data := Data{
		Values: map[string]string{"ENABLED": "true", "PORT": "8080", "LIST": "a,b,c", "ARGS": `-x "a b" “c d”`, "EMPTY": ""},
		Stack:  Stack{Name: "shop", Version: "1.2.0"},
	}
	for _, tc := range []struct{ name, text, want string }{
		{"value", "port: {{.Values.PORT}}", "port: 8080"},
		{"eq and trim", "a:\n{{- if eq .Values.ENABLED \"true\"}}\n  on: yes\n{{- end}}\n", "a:\n  on: yes\n"},
		{"ne else", `{{if ne .Values.ENABLED "true"}}off{{else}}on{{end}}`, "on"},
		{"and or not", `{{if and (eq .Values.PORT "8080") (or (not .Values.EMPTY) false)}}ok{{end}}`, "ok"},
		{"truthiness of empty", `{{if .Values.EMPTY}}set{{else}}unset{{end}}`, "unset"},
		{"contains", `{{if contains "b" .Values.LIST}}has b{{end}}`, "has b"},
		{"printf atoi add", `{{printf "%05d" (add (atoi .Values.PORT) 1)}}`, "08081"},
		{"split keeps _0 keys", `{{$p := split "," .Values.LIST}}{{$p._1}}`, "b"},
		{"splitPreserveQuotes", `{{range splitPreserveQuotes .Values.ARGS}}[{{.}}]{{end}}`, `[-x]["a b"][“c d”]`},
		{"stack and release", "{{.Stack.Name}}-{{.Release.Name}}-{{.Stack.Version}}", "shop-shop-1.2.0"},
		{"variable", "{{- $img := \"x:1\"}}\nimage: {{$img}}", "\nimage: x:1"},
		{"default", `{{default "d" .Values.EMPTY}}`, "d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Render("docker-compose.yml.tpl", []byte(tc.text), data)
			if err != nil {
				t.Fatal(err)
			}
			if string(out.Text) != tc.want {
				t.Errorf("rendered %q, want %q", out.Text, tc.want)
			}
		})
	}
}

func TestRenderedLines(t *testing.T) {
	tpl := `{{- $img := "x:1" -}}
version: '2'
services:
{{- if eq .Values.LB "true" }}
  lb:
    image: lb
{{- end }}
  web:
    image: {{ $img }}
    environment:
      CERT: "{{ .Values.CERT }}"
{{- if ne .Values.LB "true" }}
    ports: ["80"]
{{- else }}
    expose: ["80"]
{{- end }}
    command: x
`
	for _, tc := range []struct {
		lb, cert string
		want     []int // the template line of each rendered line
	}{
		{"true", "c", []int{2, 3, 5, 6, 8, 9, 10, 11, 15, 17}},
		{"false", "c", []int{2, 3, 8, 9, 10, 11, 13, 17}},
		// An answer with line breaks: its lines are the action's.
		{"false", "a\nb", []int{2, 3, 8, 9, 10, 11, 11, 13, 17}},
	} {
		r, err := Render("t.tpl", []byte(tpl), Data{Values: map[string]string{"LB": tc.lb, "CERT": tc.cert}})
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(r.Text), "\n"), "\n")
		var got []int
		for i := range lines {
			got = append(got, r.Line(i+1))
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("LB=%s CERT=%q: lines %v, want %v\n%s", tc.lb, tc.cert, got, tc.want, r.Text)
		}
		if strings.ContainsAny(string(r.Text), "\uE000\uE001") {
			t.Errorf("marks left in the output: %q", r.Text)
		}
	}
}

func TestRenderErrors(t *testing.T) {
	data := Data{Values: map[string]string{"PORT": "x"}}
	for _, tc := range []struct{ name, text, want string }{
		{"unknown function", "a: 1\nb: {{ nosuch .Values.PORT }}\n", `dir/docker-compose.yml.tpl:2: template: {{ nosuch .Values.PORT }}: function "nosuch" not defined`},
		{"unclosed if", "a: 1\n{{if .Values.PORT}}\nb: 2\n", `dir/docker-compose.yml.tpl:4: template: unexpected EOF (an {{if}}, {{range}} or {{with}} without its {{end}})`},
		{"call fails", "a: 1\n\nb: {{ atoi .Values.PORT | add 1 | printf \"%d\" }}{{ fail \"no\" }}\n", `dir/docker-compose.yml.tpl:3: template: {{fail "no"}}: error calling fail: no`},
		{"never asked", "a: {{.Values.NOPE}}\n", `dir/docker-compose.yml.tpl:1: template: {{.Values.NOPE}}: no question or answer named "NOPE"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Render("dir/docker-compose.yml.tpl", []byte(tc.text), data)
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant  %s", err, tc.want)
			}
		})
	}
}

func TestTemplated(t *testing.T) {
	for _, tc := range []struct {
		file, text string
		entry      bool
		want       bool
	}{
		{"docker-compose.yml.tpl", "a: 1", false, true},
		{"docker-compose.yml", "a: {{.Values.X}}", true, true},
		{"docker-compose.yml", "a: {{.Values.X}}", false, false}, // not a catalog entry: a label may hold {{
		{"docker-compose.yml.tpl", "\n# notemplating\na: {{x}}", true, false},
		{"rancher-compose.yml", "#notemplating\n", true, false},
	} {
		if got := Templated(tc.file, []byte(tc.text), tc.entry); got != tc.want {
			t.Errorf("Templated(%s, %q, %v) = %v, want %v", tc.file, tc.text, tc.entry, got, tc.want)
		}
	}
}

func TestSplitPreserveQuotes(t *testing.T) {
	for in, want := range map[string][]string{
		`a b  c`:               {"a", "b", "c"},
		`--opt "x y" 'p q' z`:  {"--opt", `"x y"`, `'p q'`, "z"},
		"«guillemets kept» \t": {"«guillemets kept»"},
		"":                     nil,
	} {
		if got := SplitPreserveQuotes(in); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitPreserveQuotes(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestWithoutSection(t *testing.T) {
	text := "web:\r\n  scale: ${N}\r\n.catalog:\r\n  questions:\r\n    - variable: X\r\n      description: |\r\n        %{{service_name}}\r\n        more\r\n\r\napi:\r\n  scale: 1\r\n"
	got := string(WithoutSection([]byte(text)))
	want := "web:\r\n  scale: ${N}\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\napi:\r\n  scale: 1\r\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if _, err := Render("rancher-compose.yml", []byte(got), Data{}); err != nil {
		t.Errorf("the rest does not render: %v", err)
	}
	if _, err := Render("rancher-compose.yml", []byte(text), Data{}); err == nil || !strings.Contains(err.Error(), ":7:") {
		t.Errorf("the whole file renders or fails elsewhere (%v): the test does not test", err)
	}
}

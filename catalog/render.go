package catalog

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"

	"github.com/Masterminds/sprig/v3"
)

// Stack is what a template knows of the stack it renders: .Stack and
// .Release (the same thing, by two names, as in Rancher).
type Stack struct {
	Name            string // the project name
	Version         string // the catalog section's version
	PreviousVersion string // empty: drover does not know what ran before
}

// Data is what a catalog template is executed with.
type Data struct {
	Values map[string]string
	Stack  Stack
}

// Templated reports whether a file is rendered as a template before it is
// read: a .tpl file, or any file of a catalog entry that holds "{{", unless
// it starts with "#notemplating" (Rancher's way of saying no).
func Templated(file string, text []byte, catalogEntry bool) bool {
	trimmed := bytes.TrimSpace(text)
	if bytes.HasPrefix(trimmed, []byte("#notemplating")) || bytes.HasPrefix(trimmed, []byte("# notemplating")) {
		return false
	}
	return strings.HasSuffix(file, ".tpl") || catalogEntry && bytes.Contains(text, []byte("{{"))
}

// Rendered is a rendered template, and where each of its lines came from.
type Rendered struct {
	Text []byte
	// lines[i] is the template line that rendered line i+1 came from.
	lines []int
}

// Line returns the line of the template that rendered line n came from: a
// line an action wrote (an answer holding line breaks) counts as the
// action's; n itself when it is not known.
func (r *Rendered) Line(n int) int {
	if n < 1 || n > len(r.lines) {
		return n
	}
	return r.lines[n-1]
}

// Render executes a catalog template the way Rancher 1.6 did: Go
// text/template, the sprig functions and Rancher's splitPreserveQuotes,
// with .Values, .Stack, .Release and .Environment. Rancher printed
// "<no value>" for a variable that was never asked and ignored errors,
// leaving the file cut short; drover refuses both, naming the file, the
// line and the template expression. The functions are sprig's hermetic
// set: no clock, no randomness and no process environment, so that the
// same answers always render the same file (and upgrade nothing).
func Render(file string, text []byte, d Data) (*Rendered, error) {
	name := filepath.Base(file)
	t, err := template.New(name).Funcs(funcs()).Option("missingkey=error").Parse(string(text))
	if err != nil {
		return nil, templateError(file, text, err)
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			markLines(tt.Tree.Root, string(text))
		}
	}
	stack := map[string]string{"Name": d.Stack.Name, "Version": d.Stack.Version, "PreviousVersion": d.Stack.PreviousVersion}
	var out bytes.Buffer
	err = t.Execute(&out, map[string]any{
		"Values":      d.Values,
		"Stack":       stack,
		"Release":     stack,
		"Environment": map[string]string{"Name": ""},
	})
	if err != nil {
		return nil, templateError(file, text, err)
	}
	return unmark(out.Bytes()), nil
}

// Rendered lines are traced to the template's by marks: the text between
// actions is copied to the output as it is, so each piece of it gets, at
// its start and after each line break, a mark holding its line in the
// template (runes of Unicode's private use area, which no compose file
// holds). unmark reads the marks that start an output line and removes
// them all.
const markStart, markEnd = '\uE000', '\uE001'

func markLines(n parse.Node, src string) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			markLines(c, src)
		}
	case *parse.IfNode:
		markLines(n.List, src)
		markLines(n.ElseList, src)
	case *parse.RangeNode:
		markLines(n.List, src)
		markLines(n.ElseList, src)
	case *parse.WithNode:
		markLines(n.List, src)
		markLines(n.ElseList, src)
	case *parse.TextNode:
		pos := int(n.Pos)
		if pos < 0 || pos > len(src) {
			return
		}
		line := 1 + strings.Count(src[:pos], "\n")
		var b bytes.Buffer
		fmt.Fprintf(&b, "%c%d%c", markStart, line, markEnd)
		for _, c := range n.Text {
			b.WriteByte(c)
			if c == '\n' {
				line++
				fmt.Fprintf(&b, "%c%d%c", markStart, line, markEnd)
			}
		}
		n.Text = b.Bytes()
	}
}

var reMark = regexp.MustCompile("\uE000([0-9]+)\uE001")

func unmark(out []byte) *Rendered {
	r := &Rendered{}
	var text bytes.Buffer
	line := 1
	for _, l := range bytes.SplitAfter(out, []byte("\n")) {
		// Marks in a row at the start: the last one is where the line's
		// text begins (the others ended pieces that wrote nothing more).
		rest := l
		for {
			m := reMark.FindSubmatchIndex(rest)
			if m == nil || m[0] != 0 {
				break
			}
			line, _ = strconv.Atoi(string(rest[m[2]:m[3]]))
			rest = rest[m[1]:]
		}
		plain := reMark.ReplaceAll(l, nil)
		if len(plain) == 0 {
			continue // marks after the last line break
		}
		text.Write(plain)
		r.lines = append(r.lines, line)
	}
	r.Text = text.Bytes()
	return r
}

func funcs() template.FuncMap {
	f := sprig.HermeticTxtFuncMap()
	f["splitPreserveQuotes"] = SplitPreserveQuotes
	return f
}

// SplitPreserveQuotes splits s at whitespace outside quotes, as Rancher's
// template function of that name did: any Unicode quotation mark opens or
// closes a quoted part, and the quotes stay in the pieces. Empty pieces
// are left out.
func SplitPreserveQuotes(s string) []string {
	var pieces []string
	var cur strings.Builder
	quoted := false
	for _, r := range s {
		if unicode.In(r, unicode.Quotation_Mark) {
			quoted = !quoted
		}
		if unicode.IsSpace(r) && !quoted {
			if cur.Len() > 0 {
				pieces = append(pieces, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		pieces = append(pieces, cur.String())
	}
	return pieces
}

// text/template's errors read `template: NAME:LINE[:COL]: [executing "NAME"
// at <EXPR>: ]MESSAGE`.
var (
	reTemplateErr = regexp.MustCompile(`^template: [^:]*:(\d+)(?::\d+)?: (?:executing "[^"]*" at <(.*?)>: )?(.*)$`)
	reAction      = regexp.MustCompile(`\{\{.*?\}\}`)
)

// templateError places a template error in its file: line, the expression
// and what went wrong. A parse error names no expression; the actions
// written on its line are shown instead.
func templateError(file string, text []byte, err error) error {
	m := reTemplateErr.FindStringSubmatch(err.Error())
	if m == nil {
		return &Error{file, 0, "template: " + err.Error()}
	}
	line, _ := strconv.Atoi(m[1])
	expr, msg := m[2], m[3]
	if expr != "" {
		expr = "{{" + expr + "}}"
	} else {
		expr = strings.Join(reAction.FindAllString(lineOf(text, line), -1), " ")
	}
	if msg == "unexpected EOF" {
		msg += " (an {{if}}, {{range}} or {{with}} without its {{end}})"
	}
	if strings.HasPrefix(msg, "map has no entry for key ") {
		msg = fmt.Sprintf("no question or answer named %s", strings.TrimPrefix(msg, "map has no entry for key "))
	}
	if expr != "" {
		msg = expr + ": " + msg
	}
	return &Error{file, line, "template: " + msg}
}

func lineOf(text []byte, n int) string {
	lines := strings.Split(string(text), "\n")
	if n < 1 || n > len(lines) {
		return ""
	}
	return lines[n-1]
}

package reconcile

import (
	"errors"
	"strings"
	"testing"
)

func TestTagCheckNote(t *testing.T) {
	const (
		a = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		b = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	)
	for _, tc := range []struct {
		name  string
		check TagCheck
		want  string // "" for no note; else a part of it
		newer bool
	}{
		{name: "same digest", check: TagCheck{Ref: "127.0.0.1:5000/p/web:latest", Local: []string{"127.0.0.1:5000/p/web@" + a}, Remote: a}},
		{name: "moved", check: TagCheck{Ref: "127.0.0.1:5000/p/web:latest", Local: []string{"127.0.0.1:5000/p/web@" + a}, Remote: b},
			want: "web: the registry has a newer image for 127.0.0.1:5000/p/web:latest: here " + a + ", in the registry " + b, newer: true},
		{name: "docker hub familiar names", check: TagCheck{Ref: "nginx:1", Local: []string{"nginx@" + a}, Remote: a}},
		{name: "another repository's digest does not count", check: TagCheck{Ref: "r.example/web:1", Local: []string{"r.example/other@" + a}, Remote: a},
			want: "the engine's copy was not pulled from it", newer: true},
		{name: "cannot ask", check: TagCheck{Ref: "127.0.0.1:1/web:1", Err: errors.New("the registry 127.0.0.1:1 did not answer")},
			want: "web: cannot ask the registry about 127.0.0.1:1/web:1: the registry 127.0.0.1:1 did not answer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.check.Service = "web"
			got := tc.check.Note()
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("note %q, want %q", got, tc.want)
			}
			if tc.check.Newer() != tc.newer {
				t.Fatalf("Newer() = %v, want %v", !tc.newer, tc.newer)
			}
		})
	}
}

func TestTagsToAsk(t *testing.T) {
	p := load(t, `
services:
  always:
    image: r.example/a:1
    labels: {io.rancher.container.pull_image: always}
  daily:
    image: r.example/d:1
    pull_policy: daily
  plain:
    image: r.example/p:1
  never:
    image: r.example/n:1
    pull_policy: never
  built:
    image: r.example/b:1
    build: .
`, "")
	names := func(cs []TagCheck) string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Service+"="+c.Ref)
		}
		return strings.Join(out, " ")
	}
	if got := names(TagsToAsk(p, nil, false)); got != "always=r.example/a:1 daily=r.example/d:1" {
		t.Errorf("followers: %s", got)
	}
	if got := names(TagsToAsk(p, nil, true)); got != "always=r.example/a:1 daily=r.example/d:1 plain=r.example/p:1" {
		t.Errorf("all: %s", got)
	}
	if got := names(TagsToAsk(p, []string{"daily"}, true)); got != "daily=r.example/d:1" {
		t.Errorf("named: %s", got)
	}
}

package reconcile

import (
	"strings"
	"testing"
)

func TestHealthFromStatus(t *testing.T) {
	cases := map[string]string{
		"Up 3 minutes (healthy)":          "healthy",
		"Up 2 seconds (health: starting)": "starting",
		"Up 1 minute (unhealthy)":         "unhealthy",
		"Up 5 minutes":                    "",
		"Exited (0) 2 seconds ago":        "",
	}
	for status, want := range cases {
		if got := HealthFromStatus(status); got != want {
			t.Errorf("HealthFromStatus(%q) = %q, want %q", status, got, want)
		}
	}
}

func TestExitCodeFromStatus(t *testing.T) {
	cases := map[string]int{"Exited (0) 2 seconds ago": 0, "Exited (137) 1 hour ago": 137, "Up 3 minutes": -1, "Created": -1, "Exited (x)": -1}
	for status, want := range cases {
		if got := ExitCodeFromStatus(status); got != want {
			t.Errorf("ExitCodeFromStatus(%q) = %d, want %d", status, got, want)
		}
	}
}

func TestKeptNames(t *testing.T) {
	cases := []struct{ name, canonical string }{
		{"demo-web-1", "demo-web-1"},
		{"demo-web-1-r3", "demo-web-1"},
		{"demo-r2d2-1", "demo-r2d2-1"},
		{"demo-web-r", "demo-web-r"},
	}
	for _, tc := range cases {
		if got := canonicalName(tc.name); got != tc.canonical {
			t.Errorf("canonicalName(%q) = %q, want %q", tc.name, got, tc.canonical)
		}
	}
	if got := KeptName("demo-web-1-r3", 4); got != "demo-web-1-r4" {
		t.Errorf("KeptName = %q", got)
	}
}

func TestDiffSpecs(t *testing.T) {
	old := []byte(`{"image":"app:v1","environment":{"A":"1","GONE":"x","TOKEN":"s1"},"ports":[{"target":80}]}`)
	new := []byte(`{"image":"app:v2","environment":{"A":"1","NEW":"y","TOKEN":"s2"},"command":["serve"]}`)
	var got []string
	for _, c := range DiffSpecs(old, new) {
		got = append(got, c.Summary())
	}
	want := "command added|environment.GONE removed|environment.NEW added|environment.TOKEN changed|image app:v1 → app:v2|ports removed"
	if strings.Join(got, "|") != want {
		t.Errorf("summaries %q\nwant %q", strings.Join(got, "|"), want)
	}
	for _, c := range DiffSpecs(old, new) {
		if strings.HasPrefix(c.Key, "environment.") && !c.Secret {
			t.Errorf("%s is not marked secret", c.Key)
		}
	}
	if DiffSpecs([]byte("not json"), new) != nil {
		t.Error("an unreadable spec gave changes")
	}
}

func TestRoles(t *testing.T) {
	p := load(t, twoWeb, "")
	w := newWorld(p).ctr("web", 1, 1, "exited").ctr("web", 1, 2, "running")
	w.obs.Containers = append(w.obs.Containers, Container{ID: "o", Service: "old", Revision: 1})
	want := []Role{Kept, Serving, Orphan}
	roles := Roles(w.obs, []string{"web"})
	for i, c := range w.obs.Containers {
		if got := roles[c.ID]; got != want[i] {
			t.Errorf("%s r%d: role %s, want %s", c.Service, c.Revision, got, want[i])
		}
	}
}

package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

const testToken = "0123456789abcdef0123456789abcdef"

type fakeBackend struct {
	projects []Project
	mu       sync.Mutex
	ran      []Action
	done     chan struct{}
	release  chan struct{} // when set, Run waits for it
}

func (f *fakeBackend) Projects(context.Context) ([]Project, error) { return f.projects, nil }

func (f *fakeBackend) Run(_ context.Context, a Action, stdout, stderr io.Writer) error {
	f.mu.Lock()
	f.ran = append(f.ran, a)
	f.mu.Unlock()
	io.WriteString(stdout, `{"target":"web-1","action":"create","phase":"done"}`+"\n")
	if f.release != nil {
		<-f.release
	}
	if f.done != nil {
		close(f.done)
	}
	return nil
}

func (f *fakeBackend) runs() []Action {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Action(nil), f.ran...)
}

func newTest(t *testing.T) (*fakeBackend, http.Handler) {
	t.Helper()
	f := &fakeBackend{projects: []Project{{Name: "site", Files: true, Services: []Service{{Name: "web", State: "active", OutOfSync: "image", Revision: 1}}}}}
	return f, New(context.Background(), f, testToken, true).Handler()
}

func do(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func actionRequest(token string, form url.Values) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/action", strings.NewReader(form.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		r.Header.Set("X-Drover-Token", token)
	}
	return r
}

var upgradeWeb = url.Values{"project": {"site"}, "service": {"web"}, "verb": {"upgrade"}}

func TestTokenRequired(t *testing.T) {
	_, h := newTest(t)
	for _, path := range []string{"/", "/projects", "/events"} {
		for _, q := range []string{"", "?token=wrong", "?token=" + testToken[:31]} {
			w := do(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path+q, nil))
			if w.Code != http.StatusForbidden {
				t.Errorf("GET %s%s: status %d, want 403", path, q, w.Code)
			}
		}
	}
	w := do(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/?token="+testToken, nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "site") {
		t.Fatalf("GET / with the token: status %d, body %q", w.Code, w.Body.String())
	}
	// The token in the URL does not authorise an action: only the header.
	r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/action?token="+testToken, strings.NewReader(upgradeWeb.Encode()))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if w := do(h, r); w.Code != http.StatusForbidden {
		t.Errorf("POST /action with the token in the URL only: status %d, want 403", w.Code)
	}
	if w := do(h, actionRequest("wrong", upgradeWeb)); w.Code != http.StatusForbidden {
		t.Errorf("POST /action with a wrong token: status %d, want 403", w.Code)
	}
}

func TestActionsOnlyByPost(t *testing.T) {
	f, h := newTest(t)
	for _, m := range []string{http.MethodGet, http.MethodPut, http.MethodDelete} {
		r := httptest.NewRequest(m, "http://127.0.0.1:8080/action?token="+testToken+"&"+upgradeWeb.Encode(), nil)
		r.Header.Set("X-Drover-Token", testToken)
		w := do(h, r)
		if w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
			t.Errorf("%s /action: status %d Allow %q, want 405 POST", m, w.Code, w.Header().Get("Allow"))
		}
	}
	post := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:8080/?token="+testToken, nil)
	post.Header.Set("X-Drover-Token", testToken)
	if w := do(h, post); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: status %d, want 405", w.Code)
	}
	if n := len(f.runs()); n != 0 {
		t.Fatalf("%d actions ran from requests that were not POST", n)
	}
	f.done = make(chan struct{})
	w := do(h, actionRequest(testToken, upgradeWeb))
	if w.Code != http.StatusAccepted {
		t.Fatalf("POST /action: status %d %q, want 202", w.Code, w.Body.String())
	}
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the action did not run")
	}
	if got := f.runs(); len(got) != 1 || got[0] != (Action{Project: "site", Verb: "upgrade", Service: "web"}) {
		t.Fatalf("ran %+v", got)
	}
}

func TestCSRFRefused(t *testing.T) {
	f, h := newTest(t)
	cases := []struct {
		name   string
		header map[string]string
		host   string
	}{
		{"other origin", map[string]string{"Origin": "http://evil.example"}, ""},
		{"origin on another port", map[string]string{"Origin": "http://127.0.0.1:9999"}, ""},
		{"cross-site fetch", map[string]string{"Sec-Fetch-Site": "cross-site"}, ""},
		{"same-site fetch", map[string]string{"Sec-Fetch-Site": "same-site"}, ""},
		{"rebound host name", nil, "evil.example:8080"},
	}
	for _, c := range cases {
		r := actionRequest(testToken, upgradeWeb)
		for k, v := range c.header {
			r.Header.Set(k, v)
		}
		if c.host != "" {
			r.Host = c.host
		}
		if w := do(h, r); w.Code != http.StatusForbidden && w.Code != http.StatusMisdirectedRequest {
			t.Errorf("%s: status %d, want it refused", c.name, w.Code)
		}
	}
	// A form another site posts cannot set the header: no token, refused.
	r := actionRequest("", upgradeWeb)
	r.Header.Set("Origin", "http://127.0.0.1:8080")
	if w := do(h, r); w.Code != http.StatusForbidden {
		t.Errorf("same origin without the token header: status %d, want 403", w.Code)
	}
	if n := len(f.runs()); n != 0 {
		t.Fatalf("%d cross-site actions ran", n)
	}
	r = actionRequest(testToken, upgradeWeb)
	r.Header.Set("Origin", "http://127.0.0.1:8080")
	r.Header.Set("Sec-Fetch-Site", "same-origin")
	if w := do(h, r); w.Code != http.StatusAccepted {
		t.Errorf("the page's own request: status %d, want 202", w.Code)
	}
}

func TestHostileNamesEscaped(t *testing.T) {
	f, h := newTest(t)
	evil := `<script>alert(1)</script>"'><img src=x onerror=alert(2)>`
	f.projects = []Project{{Name: "p" + evil, Dir: "/d" + evil, Files: true, Notes: []string{"note" + evil}, Services: []Service{{
		Name: "web" + evil, State: "active" + evil, Image: "img" + evil, OutOfSync: "labels" + evil,
		Diff:  []Change{{Key: "labels.x" + evil, Old: "a" + evil, New: "b" + evil}},
		Proxy: []string{"8080: " + evil}, Ports: []Link{{URL: "javascript:alert(3)", Text: "8080" + evil}},
		Containers: []Container{{Name: "c" + evil, Role: "serving", State: "running"}},
		Failing:    "c" + evil, LastLogs: []string{"log" + evil}, Kept: 1,
	}}}}
	for _, path := range []string{"/", "/projects"} {
		body := do(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080"+path+"?token="+testToken, nil)).Body.String()
		for _, bad := range []string{"<script>alert", "<img src=x", "javascript:alert", `"'>`} {
			if strings.Contains(body, bad) {
				i := strings.Index(body, bad)
				t.Errorf("GET %s: %q unescaped: ...%s...", path, bad, body[max(0, i-80):min(len(body), i+80)])
			}
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("GET %s: the hostile name is not shown escaped", path)
		}
	}
}

func TestEventsReachEveryPage(t *testing.T) {
	f, h := newTest(t)
	srv := httptest.NewServer(h)
	defer srv.Close()
	f.done = make(chan struct{})
	open := func() *http.Response {
		resp, err := http.Get(srv.URL + "/events?token=" + testToken)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	tab1, tab2 := open(), open()
	defer tab1.Body.Close()
	defer tab2.Body.Close()
	r := actionRequest(testToken, upgradeWeb)
	r.URL, _ = url.Parse(srv.URL + "/action")
	r.RequestURI, r.Host = "", r.URL.Host
	resp, err := http.DefaultClient.Do(r)
	if err != nil || resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /action: %v %v", resp, err)
	}
	for i, tab := range []*http.Response{tab1, tab2} {
		got := readUntil(t, tab.Body, `"kind":"end"`)
		for _, want := range []string{`"kind":"start"`, `"action\":\"create\"`, `"verb":"upgrade"`} {
			if !strings.Contains(got, want) {
				t.Errorf("tab %d: no %s in %q", i+1, want, got)
			}
		}
	}
}

func readUntil(t *testing.T, r io.Reader, want string) string {
	t.Helper()
	var got strings.Builder
	buf := make([]byte, 4096)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if strings.Contains(got.String(), want) {
			return got.String()
		}
		if err != nil {
			break
		}
	}
	t.Fatalf("no %s in %q", want, got.String())
	return ""
}

func TestOneProjectPage(t *testing.T) {
	f, h := newTest(t)
	f.projects = append(f.projects, Project{Name: "other", Services: []Service{{Name: "db", State: "active"}}})
	body := do(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/?token="+testToken+"&project=other", nil)).Body.String()
	if !strings.Contains(body, `data-project="other"`) || strings.Contains(body, `data-project="site"`) {
		t.Errorf("?project=other shows:\n%s", body)
	}
	body = do(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/projects?token="+testToken, nil)).Body.String()
	if !strings.Contains(body, `data-project="other"`) || !strings.Contains(body, `data-project="site"`) {
		t.Errorf("without ?project, not every project:\n%s", body)
	}
}

// While a run from the page goes on, its project shows what runs and no
// buttons: a Finish pressed during an upgrade's last step would be refused.
func TestButtonsHiddenWhileARunGoesOn(t *testing.T) {
	f, h := newTest(t)
	f.projects[0].Services[0].Kept = 1
	f.release, f.done = make(chan struct{}), make(chan struct{})
	page := func() string {
		return do(h, httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8080/projects?token="+testToken, nil)).Body.String()
	}
	if body := page(); !strings.Contains(body, `data-verb="confirm"`) || strings.Contains(body, "running") {
		t.Fatalf("before the run: %s", body)
	}
	if w := do(h, actionRequest(testToken, upgradeWeb)); w.Code != http.StatusAccepted {
		t.Fatalf("POST /action: %d %s", w.Code, w.Body)
	}
	body := page()
	if strings.Contains(body, `class="act"`) || !strings.Contains(body, "upgrade running") {
		t.Errorf("during the run, buttons or no note:\n%s", body)
	}
	close(f.release)
	<-f.done
	deadline := time.Now().Add(5 * time.Second)
	for strings.Contains(page(), "running") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if body := page(); !strings.Contains(body, `data-verb="confirm"`) {
		t.Errorf("after the run, no Finish button:\n%s", body)
	}
}

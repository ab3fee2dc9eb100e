// Package ui serves drover's web page: the projects on one engine, their
// services' states, and buttons that run drover's own verbs, with each
// run's progress streamed live to every open page. It knows nothing of the
// engine: a Backend reads the projects and runs the verbs, so that a button
// runs exactly what the command line runs.
package ui

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// Project is one project as the page shows it.
type Project struct {
	Name string
	Dir  string
	// Files says whether the project's compose files were read: without
	// them there is no out-of-sync reason and no Upgrade.
	Files    bool
	Notes    []string // what reading the project said (a file unreadable...)
	Services []Service
	// Running is the verb this page is running on the project, if any: its
	// buttons are hidden until it ends, so that a Finish pressed during an
	// upgrade's last step is not refused.
	Running string
}

// Service is one service's row. Every value is shown as text.
type Service struct {
	Name      string
	State     string // active, upgrading, upgraded...
	Revision  int
	Serving   int
	Scale     int
	Kept      int
	Health    string
	Image     string
	Policy    string // the upgrade policy: "start-first, batches of 1, 1s apart"
	OutOfSync string
	Diff      []Change // the drover diff of the service, values of secret keys masked
	Next      string
	Proxy     []string
	Ports     []Link
	// Containers are the service's containers with their role.
	Containers []Container
	// Failing is the name of a container that failed, and LastLogs its
	// last lines of output.
	Failing  string
	LastLogs []string
}

// Change is one key that differs between the files and the running revision.
type Change struct{ Key, Old, New string }

// Container is one container of a service.
type Container struct{ Name, Role, State, Health string }

// Link is a published port, as a link.
type Link struct{ URL, Text string }

// Action is what a button asks for.
type Action struct {
	Project string
	Verb    string // one of Verbs
	Service string
	Scale   int // for scale
}

// Verbs are the actions the page offers.
var Verbs = []string{"upgrade", "confirm", "rollback", "scale", "stop", "start"}

// Backend reads the projects and runs verbs for the page.
type Backend interface {
	Projects(ctx context.Context) ([]Project, error)
	// Run runs the verb as the command line would, its progress (one JSON
	// event a line) to stdout and its messages to stderr; the error is
	// drover's own message when it refused or failed.
	Run(ctx context.Context, a Action, stdout, stderr io.Writer) error
}

// Server is the page and its handlers.
type Server struct {
	backend Backend
	token   string
	// loopback is true when the server listens on a loopback address only:
	// it then answers requests to a loopback host name only, so that a web
	// site rebinding its name to 127.0.0.1 cannot read the page.
	loopback bool
	hub      *hub
	ctx      context.Context // runs outlive the request that started them

	mu      sync.Mutex
	running map[string]string // project -> verb running from this page
	runs    int
}

// NewToken is a fresh random token for one run of the server.
func NewToken() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// New makes the server. ctx bounds the runs it starts.
func New(ctx context.Context, b Backend, token string, loopback bool) *Server {
	return &Server{backend: b, token: token, loopback: loopback, hub: newHub(), ctx: ctx, running: map[string]string{}}
}

// IsLoopback says whether a listen address is on loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

//go:embed page.html page.js page.css
var assets embed.FS

var templates = template.Must(template.New("").ParseFS(assets, "page.html"))

// Handler is the page's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/", s.guard(s.page))
	mux.HandleFunc("/projects", s.guard(s.projects))
	mux.HandleFunc("/events", s.guard(s.events))
	mux.HandleFunc("/action", s.guard(s.action))
	mux.HandleFunc("/page.js", s.asset("page.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("/page.css", s.asset("page.css", "text/css; charset=utf-8"))
	return s.headers(mux)
}

// headers sets what every answer carries: no framing (clickjacking), no
// script but the page's own, no referrer (the URL holds the token).
func (s *Server) headers(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		w.Header().Set("X-Frame-Options", "DENY")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-store")
		if s.loopback && !loopbackHost(r.Host) {
			http.Error(w, "drover ui answers to 127.0.0.1, localhost or [::1] only", http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func loopbackHost(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		host = hostport
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// guard checks the token on every request but the static assets: in the
// URL for a GET, in the X-Drover-Token header for an action (a header no
// other site's page can send without a CORS preflight, which is never
// answered: that is the CSRF protection, with the Origin check).
func (s *Server) guard(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got := r.URL.Query().Get("token")
		if r.Method == http.MethodPost {
			got = r.Header.Get("X-Drover-Token")
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			http.Error(w, "a valid token is required: use the URL drover ui printed", http.StatusForbidden)
			return
		}
		h(w, r)
	}
}

func (s *Server) asset(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		b, err := assets.ReadFile(name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(b)
	}
}

// pageData is what the templates get.
type pageData struct {
	Token string
	// Project is the one project shown (?project=NAME); all when empty.
	Project  string
	Projects []Project
	Error    string
	Verbs    []string
}

func (s *Server) load(r *http.Request) pageData {
	d := pageData{Token: s.token, Verbs: Verbs, Project: r.URL.Query().Get("project")}
	ps, err := s.backend.Projects(r.Context())
	if err != nil {
		d.Error = err.Error()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range ps {
		if d.Project == "" || p.Name == d.Project {
			p.Running = s.running[p.Name]
			d.Projects = append(d.Projects, p)
		}
	}
	return d
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if !getOnly(w, r) {
		return
	}
	s.render(w, "page", s.load(r))
}

// projects is the projects' part of the page alone, which the page's
// script fetches again as states change.
func (s *Server) projects(w http.ResponseWriter, r *http.Request) {
	if !getOnly(w, r) {
		return
	}
	s.render(w, "projects", s.load(r))
}

func (s *Server) render(w http.ResponseWriter, name string, d pageData) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, d); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(buf.Bytes())
}

func getOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}

// sameOrigin refuses a request another site's page sent: its Origin (or,
// without one, Sec-Fetch-Site) must be this server's.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host && (u.Scheme == "http" || u.Scheme == "https")
}

// action starts a verb; it answers at once, and the run's progress goes
// to every page over /events.
func (s *Server) action(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "actions are POST only", http.StatusMethodNotAllowed)
		return
	}
	if !sameOrigin(r) {
		http.Error(w, "cross-site request refused", http.StatusForbidden)
		return
	}
	a := Action{Project: r.PostFormValue("project"), Verb: r.PostFormValue("verb"), Service: r.PostFormValue("service")}
	known := false
	for _, v := range Verbs {
		known = known || v == a.Verb
	}
	if !known || a.Project == "" {
		http.Error(w, "expected a project and a verb: "+strings.Join(Verbs, ", "), http.StatusBadRequest)
		return
	}
	if a.Verb == "scale" {
		n, err := strconv.Atoi(r.PostFormValue("scale"))
		if err != nil || n < 0 || a.Service == "" {
			http.Error(w, "scale needs a service and a whole number of containers", http.StatusBadRequest)
			return
		}
		a.Scale = n
	}
	s.mu.Lock()
	if verb, busy := s.running[a.Project]; busy {
		s.mu.Unlock()
		http.Error(w, fmt.Sprintf("project %q: %s is running from this page; wait for it to end", a.Project, verb), http.StatusConflict)
		return
	}
	s.running[a.Project] = a.Verb
	s.runs++
	id := s.runs
	s.mu.Unlock()
	go s.run(id, a)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "{\"run\":%d}\n", id)
}

// run runs one action and tells every page how it goes.
func (s *Server) run(id int, a Action) {
	base := message{Run: id, Project: a.Project, Verb: a.Verb, Service: a.Service}
	s.hub.send(base.with("start", ""))
	stdout := &lineWriter{emit: func(l string) { s.hub.send(base.with("event", l)) }}
	stderr := &lineWriter{emit: func(l string) { s.hub.send(base.with("log", l)) }}
	err := s.backend.Run(s.ctx, a, stdout, stderr)
	stdout.flush()
	stderr.flush()
	// Free the project before the end is sent: the pages fetch it again on
	// the end and must find its buttons back.
	s.mu.Lock()
	delete(s.running, a.Project)
	s.mu.Unlock()
	end := base.with("end", "")
	if err != nil {
		end.Error = err.Error()
	}
	s.hub.send(end)
}

// lineWriter hands on whole lines.
type lineWriter struct {
	mu   sync.Mutex
	buf  []byte
	emit func(string)
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := strings.IndexByte(string(l.buf), '\n')
		if i < 0 {
			return len(p), nil
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}

func (l *lineWriter) flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(string(l.buf))
		l.buf = nil
	}
}

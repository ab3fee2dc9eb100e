package proxy

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestOrderRules(t *testing.T) {
	for _, tc := range []struct {
		name  string
		rules []Rule
		want  []string // hosts+paths in order
	}{
		{
			name:  "Rancher's default order",
			rules: []Rule{{}, {Path: "/a"}, {Host: "*.x.com"}, {Host: "*.x.com", Path: "/a"}, {Host: "x.com"}, {Host: "x.com", Path: "/a"}},
			want:  []string{"x.com/a", "x.com", "*.x.com/a", "*.x.com", "/a", ""},
		},
		{
			name:  "a prefix wildcard counts as a wildcard",
			rules: []Rule{{Host: "x.com.*"}, {Host: "y.com"}},
			want:  []string{"y.com", "x.com.*"},
		},
		{
			name:  "a longer path first",
			rules: []Rule{{Path: "/api"}, {Path: "/api/v2"}},
			want:  []string{"/api/v2", "/api"},
		},
		{
			name:  "a priority before the default order, lowest first",
			rules: []Rule{{Host: "x.com", Priority: 3}, {Priority: 1}, {Host: "y.com"}, {Path: "/b", Priority: 2}},
			want:  []string{"", "/b", "x.com", "y.com"},
		},
		{
			name:  "equals keep their order",
			rules: []Rule{{Host: "b.com", Sets: []string{"1"}}, {Host: "a.com", Sets: []string{"2"}}},
			want:  []string{"b.com", "a.com"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, ru := range orderRules(tc.rules) {
				got = append(got, ru.Host+ru.Path)
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("order %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRuleMatches(t *testing.T) {
	for _, tc := range []struct {
		rule       Rule
		host, path string
		want       bool
	}{
		{Rule{}, "anything", "/", true},
		{Rule{Host: "example.com"}, "example.com", "/", true},
		{Rule{Host: "example.com"}, "Example.COM:8080", "/", true},
		{Rule{Host: "example.com"}, "example.com.", "/", true},
		{Rule{Host: "example.com"}, "www.example.com", "/", false},
		{Rule{Host: "*.example.com"}, "www.example.com", "/", true},
		{Rule{Host: "*.example.com"}, "a.b.example.com:80", "/", true},
		{Rule{Host: "*.example.com"}, "example.com", "/", false},
		{Rule{Host: "*.example.com"}, "badexample.com", "/", false},
		{Rule{Host: "example.*"}, "example.org", "/", true},
		{Rule{Host: "example.*"}, "example", "/", false},
		{Rule{Host: "*"}, "whatever", "/", true},
		{Rule{Path: "/api"}, "x", "/api", true},
		{Rule{Path: "/api"}, "x", "/api/v1", true},
		{Rule{Path: "/api"}, "x", "/apix", true}, // haproxy's path_beg
		{Rule{Path: "/api"}, "x", "/ap", false},
		{Rule{Path: "/api"}, "x", "/", false},
		{Rule{Host: "example.com", Path: "/api"}, "example.com", "/api/x", true},
		{Rule{Host: "example.com", Path: "/api"}, "other.com", "/api/x", false},
		{Rule{Host: "example.com", Path: "/api"}, "example.com", "/web", false},
	} {
		if got := tc.rule.matches(tc.host, tc.path); got != tc.want {
			t.Errorf("rule host %q path %q, request %q %q: matches %v, want %v", tc.rule.Host, tc.rule.Path, tc.host, tc.path, got, tc.want)
		}
	}
}

func TestRulesInvalid(t *testing.T) {
	for _, tc := range []struct {
		name  string
		route Route
		want  string
	}{
		{"rules and backends", Route{Listen: 80, Mode: ModeHTTP, Backends: []Backend{{Addr: "a:1"}}, Rules: []Rule{{Sets: []string{"s"}}}}, "both rules and its own backends"},
		{"a rule without a set", Route{Listen: 80, Mode: ModeHTTP, Rules: []Rule{{Host: "x"}}}, "rule 1: no set"},
		{"a host on a tcp route", Route{Listen: 80, Rules: []Rule{{Host: "x", Sets: []string{"s"}}}}, "rule 1: host and path need mode http"},
		{"a path without a slash", Route{Listen: 80, Mode: ModeHTTP, Rules: []Rule{{Path: "api", Sets: []string{"s"}}}}, `path "api" does not start with /`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Table{Routes: []Route{tc.route}}.normalized()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want it to say %q", err, tc.want)
			}
		})
	}
	if _, err := (Table{Sets: map[string]Set{"s": {Backends: []Backend{{Addr: "nohost"}}}}}).normalized(); err == nil || !strings.Contains(err.Error(), `set "s": backend "nohost"`) {
		t.Errorf("a bad backend in a set: %v", err)
	}
}

// get sends one request with a Host header through the proxy and returns
// the status and body.
func getHost(t *testing.T, port int, host, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", "http://"+loopback(port)+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s %s: %v", host, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPRulesRoute sends requests through a route with rules and checks
// which backend each reaches: by exact host, wildcard host, path prefix,
// priority and the default rule; a paused set is passed over within a rule;
// and a switch of one set moves every rule that names it.
func TestHTTPRulesRoute(t *testing.T) {
	shop, wild, api, web, web2 := startHTTPBackend(t, "shop", 0), startHTTPBackend(t, "wild", 0), startHTTPBackend(t, "api", 0), startHTTPBackend(t, "web", 0), startHTTPBackend(t, "web2", 0)
	port := freePort(t)
	p := startProxy(t, "")
	sets := map[string]Set{
		"shop:80": {Backends: []Backend{httpServing(shop)}},
		"wild:80": {Backends: []Backend{httpServing(wild)}},
		"api:80":  {Backends: []Backend{httpServing(api)}},
		"web:80":  {Backends: []Backend{httpServing(web)}},
	}
	rules := []Rule{
		{Sets: []string{"web:80"}},
		{Path: "/api", Sets: []string{"api:80"}},
		{Host: "*.example.com", Sets: []string{"wild:80"}},
		{Host: "shop.example.com", Sets: []string{"shop:80"}},
		{Host: "admin.example.com", Priority: 1, Sets: []string{"web:80"}},
	}
	p.apply(t, Request{Table: &Table{Routes: []Route{{Listen: port, Mode: ModeHTTP, Rules: rules}}, Sets: sets}})
	for _, tc := range []struct{ host, path, want string }{
		{"shop.example.com", "/", "shop"},      // exact host before the wildcard
		{"SHOP.example.com:8080", "/", "shop"}, // case and port left out
		{"www.example.com", "/api/x", "wild"},  // a wildcard host before a path
		{"admin.example.com", "/", "web"},      // priority 1 before everything
		{"other.org", "/api/users", "api"},     // path prefix
		{"other.org", "/", "web"},              // the default rule
		{"shop.example.com", "/api", "shop"},   // host before path
		{"example.com", "/apiary", "api"},      // a prefix, as haproxy's path_beg
		{"example.com", "/index.html", "web"},  // nothing else matches
		{"deep.www.example.com", "/", "wild"},  // any depth under the wildcard
		{"example.com.evil.org", "/", "web"},   // a suffix wildcard is not a substring
		{"www.example.com.", "/", "wild"},      // a fully qualified name
		{"admin.example.com", "/api/", "web"},  // priority beats a path too
		{"shop.example.com", "/shop/cart", "shop"},
	} {
		if code, body := getHost(t, port, tc.host, tc.path); code != 200 || body != tc.want {
			t.Errorf("Host %s, path %s: %d %q, want 200 %q", tc.host, tc.path, code, body, tc.want)
		}
	}

	// A switch of one set: web drains, web2 serves; every rule that names
	// web:80 (the default and admin's) moves at once.
	sets["web:80"] = Set{Backends: []Backend{httpServing(web2), httpDraining(web)}}
	p.apply(t, Request{Table: &Table{Routes: []Route{{Listen: port, Mode: ModeHTTP, Rules: rules}}, Sets: sets}})
	for _, host := range []string{"admin.example.com", "other.org"} {
		if code, body := getHost(t, port, host, "/"); code != 200 || body != "web2" {
			t.Errorf("after the switch, Host %s: %d %q, want 200 web2", host, code, body)
		}
	}

	// Without a default rule, a request no rule matches gets a 503, as
	// haproxy answered without a default backend.
	p.apply(t, Request{Table: &Table{Routes: []Route{{Listen: port, Mode: ModeHTTP, Rules: rules[1:4]}}, Sets: sets}})
	if code, _ := getHost(t, port, "other.org", "/"); code != http.StatusServiceUnavailable {
		t.Errorf("no rule matches: %d, want 503", code)
	}

	// A rule over two sets balances across both, and passes a paused set
	// over (a stop-first upgrade of one of its services).
	two := []Rule{{Sets: []string{"api:80", "web:80"}}}
	sets["web:80"] = Set{Backends: []Backend{httpServing(web2)}}
	p.apply(t, Request{Table: &Table{Routes: []Route{{Listen: port, Mode: ModeHTTP, Rules: two}}, Sets: sets}})
	seen := map[string]int{}
	for range 4 {
		_, body := getHost(t, port, "x", "/")
		seen[body]++
	}
	if seen["api"] != 2 || seen["web2"] != 2 {
		t.Errorf("a rule over two sets answered %v, want api and web2 twice each", seen)
	}
	sets["web:80"] = Set{Backends: []Backend{httpServing(web2)}, Paused: true}
	p.apply(t, Request{Table: &Table{Routes: []Route{{Listen: port, Mode: ModeHTTP, Rules: two}}, Sets: sets}})
	for range 3 {
		if _, body := getHost(t, port, "x", "/"); body != "api" {
			t.Errorf("with web:80 paused: %q, want api", body)
		}
	}
}

// TestTCPRulesRoute: a TCP route's rule sends connections to its set, and a
// set that is absent from the table holds them until it arrives.
func TestTCPRulesRoute(t *testing.T) {
	a := startBackend(t, "a", 0)
	port := freePort(t)
	p := startProxy(t, "")
	rt := Route{Listen: port, Rules: []Rule{{Sets: []string{"db:5432"}}}}
	p.apply(t, Request{Table: &Table{Routes: []Route{rt}}})
	answered := make(chan string, 1)
	go func() {
		got, err := roundTrip(loopback(port), 5*time.Second)
		if err != nil {
			got = err.Error()
		}
		answered <- got
	}()
	time.Sleep(200 * time.Millisecond)
	select {
	case got := <-answered:
		t.Fatalf("answered %q before its set existed", got)
	default:
	}
	p.apply(t, Request{Table: &Table{Routes: []Route{rt}, Sets: map[string]Set{"db:5432": {Backends: []Backend{serving(a)}}}}})
	if got := <-answered; got != "a" {
		t.Errorf("held connection: %q, want a", got)
	}
}

// oldTable is a state file as the proxy wrote it before rules and sets
// (protocol 1), byte for byte.
const oldTable = `{
  "table": {
    "generation": 1764000000000000000,
    "routes": [
      {
        "listen": %PORT%,
        "mode": "http",
        "backends": [
          {
            "addr": "%ADDR%",
            "state": "serving"
          }
        ],
        "paused": false
      }
    ]
  },
  "max_pause_ms": 30000
}
`

// TestOldTableLoads: a proxy restarted by a newer drover on the state file
// of an older one serves it as before, answers get with the same table and
// says the protocol it speaks, and writes the table back in the old form
// (no rules, no sets) when it is applied again unchanged.
func TestOldTableLoads(t *testing.T) {
	b := startHTTPBackend(t, "v1", 0)
	port := freePort(t)
	state := filepath.Join(t.TempDir(), "table.json")
	old := strings.NewReplacer("%PORT%", strconv.Itoa(port), "%ADDR%", b.addr).Replace(oldTable)
	if err := os.WriteFile(state, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, state)
	if code, body := getHost(t, port, "any", "/"); code != 200 || body != "v1" {
		t.Fatalf("old table: %d %q, want 200 v1", code, body)
	}
	resp := p.get(t)
	if resp.Protocol != Protocol {
		t.Errorf("protocol %d, want %d", resp.Protocol, Protocol)
	}
	got, _ := json.Marshal(resp.Table)
	var want struct {
		Table json.RawMessage `json:"table"`
	}
	if err := json.Unmarshal([]byte(old), &want); err != nil {
		t.Fatal(err)
	}
	if !jsonEqual(t, got, want.Table) {
		t.Errorf("get returned %s, want the old table %s", got, want.Table)
	}
	p.apply(t, Request{Table: resp.Table, MaxPause: 30000})
	saved, err := os.ReadFile(state)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(saved), "rules") || strings.Contains(string(saved), "sets") {
		t.Errorf("an old table written back grew new keys:\n%s", saved)
	}
	var round savedState
	if err := json.Unmarshal(saved, &round); err != nil {
		t.Fatal(err)
	}
	round.Table.Generation = 1764000000000000000
	again, _ := json.Marshal(round.Table)
	if !jsonEqual(t, again, want.Table) {
		t.Errorf("written back as %s, want %s", again, want.Table)
	}
}

// TestRulesTableRoundTrip: a table with rules and sets survives the state
// file (a proxy restart) as it was applied, rules in their order.
func TestRulesTableRoundTrip(t *testing.T) {
	state := filepath.Join(t.TempDir(), "table.json")
	port := freePort(t)
	in := Table{
		Routes: []Route{{Listen: port, Mode: ModeHTTP, Rules: []Rule{{Sets: []string{"web:80"}}, {Host: "*.example.com", Path: "/api", Priority: 2, Sets: []string{"api:80", "web:80"}}}}},
		Sets:   map[string]Set{"web:80": {Backends: []Backend{{Addr: "web-1-r1:80", State: StateServing}}}, "api:80": {Backends: []Backend{{Addr: "api-1-r1:80", State: StateDraining}}, Paused: true}},
	}
	p := startProxy(t, state)
	p.apply(t, Request{Table: &in, DrainTimeout: 1})
	before := p.get(t).Table
	p.stop()
	p = startProxy(t, state)
	after := p.get(t).Table
	b1, _ := json.Marshal(before)
	b2, _ := json.Marshal(after)
	if string(b1) != string(b2) {
		t.Errorf("after a restart %s, before %s", b2, b1)
	}
	if r := after.Routes[0].Rules; len(r) != 2 || r[0].Host != "*.example.com" {
		t.Errorf("rules not in their order: %+v", r)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}

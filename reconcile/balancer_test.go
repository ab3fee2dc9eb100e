package reconcile

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

const lbCompose = `services:
  lb:
    image: rancher/lb-service-haproxy:v0.7.9
    ports: ['127.0.0.1:18080:80', '127.0.0.1:15433:5433']
  web:
    image: drover-hello:%s
  api:
    image: drover-hello:v1
    scale: 2
`

const lbRancher = `services:
  lb:
    lb_config:
      port_rules:
      - {source_port: 80, target_port: 80, service: web, hostname: shop.example.com}
      - {source_port: 80, target_port: 80, service: api, path: /api}
      - {source_port: 80, target_port: 80, service: web}
      - {source_port: 5433, target_port: 80, service: api, protocol: tcp}
  web:
    upgrade_strategy: {start_first: true}
`

// tableAfter carries the proxy switches of a plan out on a table, as the
// proxy would: the table the last of them leaves.
func tableAfter(table ProxyTable, plan Plan) ProxyTable {
	var steps []Step
	steps = append(steps, plan.Setup...)
	for _, sp := range plan.Services {
		steps = append(steps, sp.Steps...)
	}
	for _, s := range flatten(steps) {
		if a, ok := s.Action.(ProxyApply); ok {
			table = mergeTable(table, a)
		}
	}
	return table
}

// servingIn is the serving backends of a set, hosts only.
func servingIn(t ProxyTable, set string) []string {
	var out []string
	for _, b := range t.Sets[set].Backends {
		if b.State == "serving" {
			out = append(out, strings.Split(b.Addr, ":")[0])
		}
	}
	slices.Sort(out)
	return out
}

// withProxy is obs with the proxy a plan made running, holding table.
func withProxy(t *testing.T, obs Observed, table ProxyTable) Observed {
	t.Helper()
	var cs []Container
	for _, c := range obs.Containers {
		if _, ok := c.Labels[LabelProxy]; ok {
			c.State = "running"
			obs.Proxy = &c
			continue
		}
		cs = append(cs, c)
	}
	if obs.Proxy == nil {
		t.Fatal("no proxy container was made")
	}
	obs.Containers, obs.ProxyTable, obs.ProxyProtocol = cs, table, ProxyRulesProtocol
	return obs
}

// TestBalancerServedByTheProxy: a balancer's ports are the proxy's, its
// rules are put in the proxy by the setup, each target feeds its own set;
// nothing of the balancer's image is run; a second up changes nothing; an
// upgrade of one target switches only its set and never serves a stopped
// container; a rollback without files switches it back.
func TestBalancerServedByTheProxy(t *testing.T) {
	p1 := load(t, strings.ReplaceAll(lbCompose, "%s", "v1"), lbRancher)
	w := newWorld(p1)
	w.obs.Images[ProxyImage] = "sha256:proxy"
	up, err := Up(p1, w.obs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range flatten(append(append([]Step(nil), up.Setup...), flattenServices(up)...)) {
		if c, ok := s.Action.(CreateContainer); ok && strings.Contains(c.Request.Config.Image, "lb-service-haproxy") {
			t.Errorf("a container of the balancer's image is made: %s", c.Request.Name)
		}
	}
	var launcher *CreateRequest
	for _, s := range up.Setup {
		if c, ok := s.Action.(CreateContainer); ok && c.Request.Name == "demo-proxy-ports" {
			launcher = &c.Request
		}
	}
	if launcher == nil {
		t.Fatalf("no proxy launcher in the setup:\n%s", up)
	}
	if got := launcher.Config.Labels[LabelProxyPorts]; got != `["127.0.0.1:18080","127.0.0.1:15433"]` && got != `["127.0.0.1:15433","127.0.0.1:18080"]` {
		t.Errorf("the proxy's launcher opens %s, want the balancer's ports", got)
	}

	started := simulate(t, w.obs, up)
	table := tableAfter(ProxyTable{}, up)
	if len(table.Routes) != 2 {
		t.Fatalf("routes %+v, want the balancer's two ports", table.Routes)
	}
	for _, r := range table.Routes {
		switch r.Listen {
		case 18080:
			if r.Mode != "http" || len(r.Rules) != 3 || len(r.Backends) != 0 {
				t.Errorf("port 18080: %+v, want three http rules", r)
			}
		case 15433:
			if r.Mode != "tcp" || len(r.Rules) != 1 || !slices.Equal(r.Rules[0].Sets, []string{"api:80"}) {
				t.Errorf("port 15433: %+v, want one tcp rule to api:80", r)
			}
		}
	}
	if got := servingIn(table, "web:80"); !slices.Equal(got, []string{"demo-web-1-r1"}) {
		t.Errorf("web:80 serves %v", got)
	}
	if got := servingIn(table, "api:80"); !slices.Equal(got, []string{"demo-api-1-r1", "demo-api-2-r1"}) {
		t.Errorf("api:80 serves %v", got)
	}

	running := withProxy(t, started, table)
	again, err := Up(p1, running, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := again.String(); strings.Contains(s, "proxy-switch") || strings.Contains(s, "create") {
		t.Errorf("a second up changes things:\n%s", s)
	}

	// Upgrade of web behind the balancer, start-first and stop-first:
	// every switch is of web's set only, what it serves runs, and with
	// nothing serving the set is paused (clients wait, not fail).
	for _, startFirst := range []string{"true", "false"} {
		rancher := strings.Replace(lbRancher, "start_first: true", "start_first: "+startFirst, 1)
		p2 := load(t, strings.ReplaceAll(lbCompose, "%s", "v2"), rancher)
		plan, err := Upgrade(p2, running, UpgradeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		setup := len(flatten(plan.Setup))
		switches := 0
		for k, s := range flatten(flattenServices(plan)) {
			a, ok := s.Action.(ProxyApply)
			if !ok {
				continue
			}
			switches++
			where := fmt.Sprintf("start_first %s, switch at step %d (%s)", startFirst, k, s.Reason)
			if len(a.Routes) != 0 || len(a.Sets) != 1 || a.Sets["web:80"].Backends == nil {
				t.Errorf("%s: routes %v sets %v, want web:80 only", where, a.Routes, a.Sets)
			}
			left, _ := simulateSteps(t, running, plan, setup+k, "")
			after := mergeTable(table, a)
			serving := servingIn(after, "web:80")
			if len(serving) == 0 && !after.Sets["web:80"].Paused {
				t.Errorf("%s: nothing serves web:80 and it is not paused", where)
			}
			for _, host := range serving {
				for _, c := range left.Containers {
					if BackendHost(c) == host && !c.Running() {
						t.Errorf("%s: serves %s, which is %s", where, host, c.State)
					}
				}
			}
		}
		if switches < 2 {
			t.Errorf("start_first %s: %d switches in the upgrade, want at least 2:\n%s", startFirst, switches, plan)
		}
		upgraded := simulate(t, running, plan)
		after := tableAfter(table, plan)
		if got := servingIn(after, "web:80"); !slices.Equal(got, []string{"demo-web-1-r2"}) || after.Sets["web:80"].Paused {
			t.Errorf("start_first %s: after the upgrade web:80 serves %v (paused %v), want revision 2", startFirst, got, after.Sets["web:80"].Paused)
		}
		if got := servingIn(after, "api:80"); len(got) != 2 {
			t.Errorf("start_first %s: the upgrade of web touched api:80: %v", startFirst, got)
		}

		// Rollback, from the labels alone.
		upgraded.ProxyTable = after
		rb, err := Rollback(upgraded, RollbackOptions{Timeout: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		after = tableAfter(after, rb)
		if got := servingIn(after, "web:80"); !slices.Equal(got, []string{"demo-web-1-r1"}) {
			t.Errorf("start_first %s: after the rollback web:80 serves %v, want revision 1", startFirst, got)
		}
	}

	// Status: the balancer's rules in the proxy's order, each with its
	// backends; the targets' sets.
	rows := Status(p1, withProxy(t, started, tableAfter(ProxyTable{}, up)))
	var lb, api ServiceStatus
	for _, r := range rows {
		switch r.Service {
		case "lb":
			lb = r
		case "api":
			api = r
		}
	}
	if lb.State != "load-balancer" || lb.Next != "" || len(lb.Proxy) != 4 {
		t.Errorf("status of lb: %+v", lb)
	}
	if !slices.Contains(lb.Proxy, "18080 http shop.example.com → web:80: demo-web-1-r1:80 serving") {
		t.Errorf("status of lb lacks the host rule: %q", lb.Proxy)
	}
	if !slices.Contains(api.Proxy, "api:80: demo-api-2-r1:80 serving") {
		t.Errorf("status of api lacks its set: %q", api.Proxy)
	}
}

// TestBalancerNeedsANewerProxy: a proxy of an older drover (protocol 1)
// would drop the rules: up refuses before any change, and replaces it when
// asked.
func TestBalancerNeedsANewerProxy(t *testing.T) {
	p := load(t, strings.ReplaceAll(lbCompose, "%s", "v1"), lbRancher)
	obs := newWorld(p).obs
	obs.ProxyImage = "drover-proxy:new"
	obs.Images["drover-proxy:new"] = "sha256:new"
	obs.Proxy = &Container{ID: "old", Name: "demo-proxy", Image: "drover-proxy:old", State: "running", Labels: map[string]string{LabelProxy: routesLabel(proxyRoutes(p))}}
	obs.ProxyProtocol = 1
	if _, err := Up(p, obs, Options{}); err == nil || !strings.Contains(err.Error(), "cannot route by load-balancer rules (lb); run drover up --recreate-proxy") {
		t.Errorf("up with an old proxy: %v", err)
	}
	plan, err := Up(p, obs, Options{RecreateProxy: true})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, s := range plan.Setup {
		kinds = append(kinds, s.Action.Kind())
	}
	if got := strings.Join(kinds, " "); !strings.HasPrefix(got, "create-network remove create-volume create start create start proxy-switch") && !strings.HasPrefix(got, "remove create-volume create start create start proxy-switch") {
		t.Errorf("setup with --recreate-proxy: %s", got)
	}
}

func flattenServices(plan Plan) []Step {
	var out []Step
	for _, sp := range plan.Services {
		out = append(out, sp.Steps...)
	}
	return out
}

// TestUpOfABalancer: up of a balancer is up of its targets, and of nothing
// else; the setup puts its rules in the proxy.
func TestUpOfABalancer(t *testing.T) {
	p := load(t, strings.ReplaceAll(lbCompose, "%s", "v1")+"  other:\n    image: drover-hello:v1\n", lbRancher)
	w := newWorld(p)
	w.obs.Images[ProxyImage] = "sha256:proxy"
	plan, err := Up(p, w.obs, Options{Services: []string{"lb"}})
	if err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, sp := range plan.Services {
		services = append(services, sp.Service)
	}
	slices.Sort(services)
	if !slices.Equal(services, []string{"api", "web"}) {
		t.Errorf("up lb plans %v, want its targets api and web", services)
	}
	if !strings.Contains(plan.String(), "proxy-switch lb (the load balancers' rules)") {
		t.Errorf("up lb does not put its rules in the proxy:\n%s", plan)
	}
}

// TestInternalBalancerPort: a port in the balancer's expose: is listened on
// by the proxy but not published, and the proxy answers to the balancer's
// name on its networks.
func TestInternalBalancerPort(t *testing.T) {
	p := load(t, "services:\n  lb:\n    image: rancher/lb-service-haproxy\n    ports: ['127.0.0.1:18080:80']\n    expose: ['9000']\n  web:\n    image: drover-hello:v1\n",
		"services:\n  lb:\n    lb_config:\n      port_rules:\n      - {source_port: 80, target_port: 80, service: web}\n      - {source_port: 9000, target_port: 80, service: web}\n")
	req, err := proxyRequest(p, proxyRoutes(p), ProxyImage)
	if err != nil {
		t.Fatal(err)
	}
	if published := proxyAddrs(proxyRoutes(p)); !slices.Equal(published, []string{"127.0.0.1:18080"}) {
		t.Errorf("the proxy publishes %v, want 18080 only (9000 is internal)", published)
	}
	if ep := req.Networking.EndpointsConfig["demo_default"]; ep == nil || !slices.Equal(ep.Aliases, []string{"lb"}) {
		t.Errorf("the proxy's endpoint %+v, want the alias lb", ep)
	}
	routes := balancerTableRoutes(proxyRoutes(p))
	if len(routes) != 2 || routes[1].Listen != 9000 || routes[1].Rules[0].Sets[0] != "web:80" {
		t.Errorf("routes %+v, want 80 and the internal 9000, both to web:80", routes)
	}
}

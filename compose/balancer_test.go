package compose

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// loadProject writes a docker-compose.yml and, when given, a
// rancher-compose.yml into a directory named proj and loads them.
func loadProject(t *testing.T, compose, rancher string) (*Project, error) {
	t.Helper()
	cleanEnv(t)
	dir := filepath.Join(t.TempDir(), "proj")
	os.Mkdir(dir, 0o755)
	t.Chdir(dir)
	os.WriteFile("docker-compose.yml", []byte(compose), 0o644)
	if rancher != "" {
		os.WriteFile("rancher-compose.yml", []byte(rancher), 0o644)
	}
	return Load(context.Background(), Options{})
}

const lbTargets = "  web:\n    image: web\n  api:\n    image: api\n"

func TestBalancerRules(t *testing.T) {
	cases := []struct {
		name, compose, rancher string
		want                   []BalancerRule
	}{
		{
			name:    "port rules by host, path and priority; http by default",
			compose: "services:\n  lb:\n    image: rancher/lb-service-haproxy:v0.7.9\n    ports: ['127.0.0.1:8080:80', '5432']\n" + lbTargets,
			rancher: `services:
  lb:
    lb_config:
      port_rules:
      - {source_port: 80, target_port: 8080, service: web, hostname: Shop.Example.com}
      - {source_port: 80, target_port: 9000, service: proj/api, path: /api, priority: 2, protocol: http}
      - {source_port: 80, target_port: 8080, service: web, hostname: '*.example.com'}
      - {source_port: 5432, target_port: 5432, service: api, protocol: tcp}
`,
			want: []BalancerRule{
				{Listen: 8080, HostIP: "127.0.0.1", Source: 80, Service: "web", Target: 8080, Protocol: "http", Hostname: "shop.example.com"},
				{Listen: 8080, HostIP: "127.0.0.1", Source: 80, Service: "api", Target: 9000, Protocol: "http", Path: "/api", Priority: 2},
				{Listen: 8080, HostIP: "127.0.0.1", Source: 80, Service: "web", Target: 8080, Protocol: "http", Hostname: "*.example.com"},
				{Listen: 5432, Source: 5432, Service: "api", Target: 5432, Protocol: "tcp"},
			},
		},
		{
			name:    "internal ports: expose, as Rancher 1.2 and 1.1 wrote them",
			compose: "services:\n  lb:\n    image: rancher/lb-service-haproxy\n    ports: ['8080:80']\n    expose: ['9000', '5432/tcp']\n" + lbTargets,
			rancher: "services:\n  lb:\n    lb_config:\n      port_rules:\n      - {source_port: 9000, target_port: 80, service: web}\n      - {source_port: 5432, target_port: 5432, service: api, protocol: tcp}\n",
			want: []BalancerRule{
				{Listen: 9000, Source: 9000, Service: "web", Target: 80, Protocol: "http", Internal: true},
				{Listen: 5432, Source: 5432, Service: "api", Target: 5432, Protocol: "tcp", Internal: true},
			},
		},
		{
			name:    "Rancher 1.1 internal: expose 80:8080",
			compose: "lb:\n  image: rancher/load-balancer-service\n  expose: ['80:8080']\n  links: [web]\nweb:\n  image: web\n",
			want:    []BalancerRule{{Listen: 80, Source: 80, Service: "web", Target: 8080, Protocol: "http", Internal: true}},
		},
		{
			name:    "lb_config makes a balancer whatever the image",
			compose: "services:\n  front:\n    image: anything\n    ports: ['8080:80']\n" + lbTargets,
			rancher: "services:\n  front:\n    lb_config:\n      port_rules:\n      - {source_port: 80, target_port: 80, service: web}\n",
			want:    []BalancerRule{{Listen: 8080, Source: 80, Service: "web", Target: 80, Protocol: "http"}},
		},
		{
			name: "Rancher 1.1: links on every port, /tcp, labels",
			compose: `lb:
  image: rancher/load-balancer-service
  ports:
  - 8080:80
  - 9999:7000/tcp
  links:
  - web:web
  - api
  labels:
    io.rancher.loadbalancer.target.api: app.example.com:8080/v2=9000,'81'
web:
  image: web
api:
  image: api
`,
			rancher: "lb:\n  load_balancer_config:\n    name: lb config\n",
			want: []BalancerRule{
				{Listen: 8080, Source: 8080, Service: "api", Target: 9000, Protocol: "http", Hostname: "app.example.com", Path: "/v2"},
				{Listen: 8080, Source: 8080, Service: "api", Target: 81, Protocol: "http"},
				{Listen: 9999, Source: 9999, Service: "api", Target: 81, Protocol: "tcp"},
				{Listen: 8080, Source: 8080, Service: "web", Target: 80, Protocol: "http"},
				{Listen: 9999, Source: 9999, Service: "web", Target: 7000, Protocol: "tcp"},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := loadProject(t, tc.compose, tc.rancher)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Balancers) != 1 {
				t.Fatalf("balancers %+v, want one", p.Balancers)
			}
			if got := p.Balancers[0].Rules; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("rules\n%+v\nwant\n%+v", got, tc.want)
			}
			for _, s := range p.Services {
				if s.Name == p.Balancers[0].Name {
					t.Errorf("the balancer %q is a service too: a container would be run", s.Name)
				}
			}
			if !p.NeedsProxy() {
				t.Error("a project with a balancer needs no proxy?")
			}
		})
	}
}

func TestBalancerWarnings(t *testing.T) {
	p, err := loadProject(t, "services:\n  lb:\n    image: rancher/lb-service-haproxy\n    ports: ['80']\n    tty: true\n    stdin_open: true\n"+lbTargets,
		"services:\n  lb:\n    scale: 2\n    lb_config:\n      certs: []\n      port_rules:\n      - {source_port: 80, target_port: 80, service: web, backend_name: x}\n    health_check:\n      port: 42\n")
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(p.Warnings, "\n")
	for _, want := range []string{
		`service "lb": load balancer: served by drover's front proxy`,
		`service "lb": keys stdin_open, tty: no effect on a load balancer`,
		`service "lb": health_check: no effect on a load balancer`,
		`service "lb": scale: 2: no effect`,
		`service "lb": lb_config.certs: empty, no effect`,
		`service "lb": lb_config.port_rules.backend_name: no effect`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings lack %q:\n%s", want, got)
		}
	}
}

func TestBalancerErrors(t *testing.T) {
	const compose = "services:\n  lb:\n    image: rancher/lb-service-haproxy\n    ports: ['8080:80']\n    expose: ['81']\n" + lbTargets
	rule := func(extra string) string {
		return "services:\n  lb:\n    lb_config:\n      port_rules:\n      - source_port: 80\n        target_port: 80\n        service: web\n" + extra
	}
	cases := []struct {
		name, compose, rancher, want string
	}{
		{"https", compose, rule("        protocol: https\n"),
			`rancher-compose.yml:8: service "lb": lb_config.port_rules[0].protocol: protocol https needs TLS termination, which drover's proxy does not do: use tcp to pass TLS through to the service`},
		{"sni", compose, rule("        protocol: sni\n"), `rancher-compose.yml:8: service "lb": lb_config.port_rules[0].protocol: protocol sni needs TLS termination`},
		{"udp", compose, rule("        protocol: udp\n"), `rancher-compose.yml:8: service "lb": lb_config.port_rules[0].protocol: protocol udp is not served by drover's proxy (http or tcp)`},
		{"unknown service", compose, strings.Replace(rule(""), "service: web", "service: wbe", 1),
			`rancher-compose.yml:7: service "lb": lb_config.port_rules[0].service: no service "wbe" in the compose file`},
		{"another stack", compose, strings.Replace(rule(""), "service: web", "service: other/web", 1),
			`rancher-compose.yml:7: service "lb": lb_config.port_rules[0].service: service "other/web" is in stack "other": drover serves one project ("proj")`},
		{"itself", compose, strings.Replace(rule(""), "service: web", "service: lb", 1),
			`lb_config.port_rules[0].service: a load balancer cannot target itself`},
		{"no target port", compose, strings.Replace(rule(""), "        target_port: 80\n", "", 1),
			`rancher-compose.yml:5: service "lb": lb_config.port_rules[0].target_port: a port number (1-65535) is required`},
		{"source port not published", compose, strings.Replace(rule(""), "source_port: 80", "source_port: 90", 1),
			`rancher-compose.yml:5: service "lb": lb_config.port_rules[0].source_port: source port 90 is not one of the ports of service "lb" (it has 80, 81); add it under ports:, or under expose: for a port only the project's services reach`},
		{"a bad internal port", strings.Replace(compose, "expose: ['81']", "expose: ['http']", 1), rule(""),
			`docker-compose.yml:5: service "lb": expose.0: "http": a load balancer's internal port is PORT or PORT:TARGET`},
		{"tcp with a hostname", compose, rule("        protocol: tcp\n        hostname: x.com\n"),
			`rancher-compose.yml:9: service "lb": lb_config.port_rules[0].hostname: a tcp rule carries no host or path to route by`},
		{"a wildcard in the middle", compose, rule("        hostname: a.*.com\n"),
			`rancher-compose.yml:8: service "lb": lb_config.port_rules[0].hostname: hostname "a.*.com": a wildcard is *.example.com or example.com.*`},
		{"a path without a slash", compose, rule("        path: api\n"),
			`rancher-compose.yml:8: service "lb": lb_config.port_rules[0].path: path "api" must start with /`},
		{"selector", compose, "services:\n  lb:\n    lb_config:\n      port_rules:\n      - source_port: 80\n        selector: foo=bar\n",
			`rancher-compose.yml:6: service "lb": lb_config.port_rules[0].selector: selector rules are not served by drover's proxy`},
		{"http and tcp on one port", compose, rule("      - {source_port: 80, target_port: 5432, service: api, protocol: tcp}\n"),
			`rancher-compose.yml:8: service "lb": lb_config.port_rules[1].protocol: port 8080 has both http rules (to web) and tcp rules (to api)`},
		{"certs", compose, rule("      certs: [mycert]\n"),
			`rancher-compose.yml:8: service "lb": lb_config.certs: TLS termination is not done by drover's proxy`},
		{"default_cert", compose, rule("      default_cert: mycert\n"), `rancher-compose.yml:8: service "lb": lb_config.default_cert: TLS termination`},
		{"raw haproxy config", compose, rule("      config: |\n        global\n          maxconn 4096\n"),
			`rancher-compose.yml:8: service "lb": lb_config.config: raw haproxy configuration cannot be applied to drover's proxy`},
		{"stickiness", compose, rule("      stickiness_policy: {cookie: x}\n"),
			`rancher-compose.yml:8: service "lb": lb_config.stickiness_policy: cookie stickiness is not done by drover's proxy`},
		{"legacy haproxy_config", "lb:\n  image: rancher/load-balancer-service\n  ports: ['8080:80']\n  links: [web]\nweb:\n  image: web\n",
			"lb:\n  load_balancer_config:\n    haproxy_config:\n      global: maxconn 4096\n",
			`rancher-compose.yml:3: service "lb": load_balancer_config.haproxy_config: raw haproxy configuration cannot be applied`},
		{"legacy stickiness", "lb:\n  image: rancher/load-balancer-service\n  ports: ['8080:80']\n  links: [web]\nweb:\n  image: web\n",
			"lb:\n  load_balancer_config:\n    lb_cookie_stickiness_policy:\n      cookie: lbsticky\n",
			`rancher-compose.yml:3: service "lb": load_balancer_config.lb_cookie_stickiness_policy: cookie stickiness`},
		{"legacy ssl label", "lb:\n  image: rancher/load-balancer-service\n  ports: ['8443:443']\n  links: [web]\n  labels:\n    io.rancher.loadbalancer.ssl.ports: '443'\nweb:\n  image: web\n", "",
			`docker-compose.yml:5: service "lb": labels: label io.rancher.loadbalancer.ssl.ports: TLS termination`},
		{"legacy external link", "lb:\n  image: rancher/load-balancer-service\n  ports: ['8080:80']\n  external_links: [other/web:web]\n", "",
			`docker-compose.yml:4: service "lb": external_links: a load balancer target in another stack is not served`},
		{"legacy label for an unlinked service", "lb:\n  image: rancher/load-balancer-service\n  ports: ['8080:80']\n  links: [web]\n  labels:\n    io.rancher.loadbalancer.target.api: x.com\nweb:\n  image: web\napi:\n  image: api\n", "",
			`docker-compose.yml:5: service "lb": labels: label io.rancher.loadbalancer.target.api: service "api" is not linked`},
		{"legacy label source port", "lb:\n  image: rancher/load-balancer-service\n  ports: ['8080:80']\n  links: [web]\n  labels:\n    io.rancher.loadbalancer.target.web: x.com:90=80\nweb:\n  image: web\n", "",
			`label io.rancher.loadbalancer.target.web: "x.com:90=80": source port 90 is not one of the balancer's ports (it has 8080)`},
		{"a port published twice", compose + "    ports: ['8080:80']\n", rule(""),
			`docker-compose.yml:10: service "api": ports.0: host port 8080 is the load balancer "lb"'s: publish it there only`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadProject(t, tc.compose, tc.rancher)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error:\n  %v\nwant it to contain:\n  %s", err, tc.want)
			}
		})
	}
}

// TestCorpusBalancers loads the Rancher catalog entries of
// ../shared/corpus that have a load balancer, with their questions'
// defaults: each balancer is resolved to its rules and is not a service
// (no container of its image would run). Rancher 1.2 lb_config (postgres,
// gitea with an http and a tcp rule, influxdb, zammad) and Rancher 1.1
// labels and /tcp ports (registry-convoy, whose compose file sets a label
// twice). nuxeo-0 is refused for its cookie stickiness (TestCatalogCorpus).
func TestCorpusBalancers(t *testing.T) {
	for _, tc := range []struct {
		entry, balancer string
		want            []BalancerRule
	}{
		{"community/postgres-0", "postgres-lb", []BalancerRule{{Listen: 5432, Source: 5432, Service: "postgres", Target: 5432, Protocol: "tcp"}}},
		{"community/gitea-0", "lb", []BalancerRule{
			{Listen: 3000, Source: 3000, Service: "gitea", Target: 3000, Protocol: "http", Priority: 1},
			{Listen: 2222, Source: 2222, Service: "gitea", Target: 22, Protocol: "tcp", Priority: 2},
		}},
		{"community/influxdb-0", "lb", []BalancerRule{{Listen: 8086, Source: 8086, Service: "influxdb", Target: 8086, Protocol: "http", Priority: 1}}},
		{"community/zammad-1", "zammad-lb", []BalancerRule{{Listen: 9797, Source: 9797, Service: "zammad-nginx", Target: 80, Protocol: "http", Priority: 1}}},
		{"community/registry-convoy-0", "lb", []BalancerRule{
			{Listen: 5000, Source: 5000, Service: "registry", Target: 5000, Protocol: "tcp"},
			{Listen: 443, Source: 443, Service: "sslproxy", Target: 443, Protocol: "tcp"},
		}},
	} {
		t.Run(tc.entry, func(t *testing.T) {
			catalogCases(t) // skips without the corpus
			cleanEnv(t)
			p, err := Load(context.Background(), catalogOptions(tc.entry))
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Balancers) != 1 || p.Balancers[0].Name != tc.balancer || !reflect.DeepEqual(p.Balancers[0].Rules, tc.want) {
				t.Errorf("balancers %+v, want %s with %+v", p.Balancers, tc.balancer, tc.want)
			}
			if _, ok := p.Service(tc.balancer); ok {
				t.Errorf("%s is a service too: its haproxy image would be run", tc.balancer)
			}
		})
	}
}

// A v1-layout file reads a key set twice as docker-compose 1 did, the last
// value winning, and says so; a file of the current layout is refused as
// docker compose v2 refuses it.
func TestLastKeyWins(t *testing.T) {
	v1 := "web:\n  image: web\n  labels:\n    a: one\n    a: two\n"
	p, err := loadProject(t, v1, "")
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.Service("web")
	if web.Config.Labels["a"] != "two" {
		t.Errorf("label a = %q, want the last value", web.Config.Labels["a"])
	}
	if got := strings.Join(p.Warnings, "\n"); !strings.Contains(got, `docker-compose.yml:4: key "a" is set again at line 5: the last value is used`) {
		t.Errorf("warnings lack the duplicate key:\n%s", got)
	}
	current := "services:\n  web:\n    image: web\n    labels:\n      a: one\n      a: two\n"
	if _, err := loadProject(t, current, ""); err == nil || !strings.Contains(err.Error(), "already defined") {
		t.Errorf("a duplicate key in the current layout: %v, want it refused", err)
	}
}

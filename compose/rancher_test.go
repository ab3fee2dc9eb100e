package compose

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func intp(v int) *int    { return &v }
func boolp(v bool) *bool { return &v }

func TestParseRancherEveryKey(t *testing.T) {
	rf, err := ReadRancherFile("testdata/rancher/every-key.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]RancherService{
		"web": {
			Scale: intp(3), StartOnCreate: boolp(true), RetainIP: boolp(true), DrainTimeoutMs: intp(5000),
			UpgradeStrategy: &UpgradeStrategy{StartFirst: boolp(true), BatchSize: intp(2), IntervalMillis: intp(2000)},
			HealthCheck: &RancherHealth{
				Port: 80, RequestLine: "GET /healthz HTTP/1.0", Interval: 2000, ResponseTimeout: 2000,
				HealthyThreshold: 2, UnhealthyThreshold: 3, InitializingTimeout: 60000, ReinitializingTimeout: 60000,
				Strategy: "recreate", QuorumConfig: map[string]any{"quorum": 1},
			},
			Metadata:    map[string]any{"any": "thing", "nested": map[string]any{"a": 1}},
			ScalePolicy: &ScalePolicy{Min: 1, Max: 5, Increment: 1},
			ExternalIPs: []string{"10.0.0.1"},
			Hostname:    "web.example",
		},
		"lb": {
			Scale: intp(1),
			LBConfig: &LBConfig{
				PortRules: []PortRule{{SourcePort: 80, TargetPort: 8080, Service: "web", Protocol: "http", Hostname: "example.com", Path: "/api", Priority: 1}},
				Certs:     []string{}, StickinessPolicy: map[string]any{},
			},
		},
	}
	lb := rf.Services["lb"].LBConfig
	if lb.Lines["certs"] != 44 || lb.PortRules[0].Line != 37 || lb.PortRules[0].Lines["service"] != 39 {
		t.Errorf("lb_config lines %v, rule at %d, its service at %d; want certs at 44, the rule at 37, service at 39", lb.Lines, lb.PortRules[0].Line, lb.PortRules[0].Lines["service"])
	}
	lb.Lines, lb.PortRules[0].Line, lb.PortRules[0].Lines = nil, 0, nil
	if !reflect.DeepEqual(rf.Services, want) {
		t.Errorf("parsed:\n%#v\nwant:\n%#v", rf.Services, want)
	}
	if rf.Lines["web"] != 3 || rf.Lines["lb"] != 33 {
		t.Errorf("lines = %v, want web at 3, lb at 33", rf.Lines)
	}
}

func TestParseRancherV1Layout(t *testing.T) {
	rf, err := ReadRancherFile("testdata/rancher/v1-layout.yml")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]RancherService{
		"web": {Scale: intp(2), UpgradeStrategy: &UpgradeStrategy{StartFirst: boolp(true)}},
		"db":  {RetainIP: boolp(false)},
	}
	if !reflect.DeepEqual(rf.Services, want) {
		t.Errorf("parsed %#v, want %#v", rf.Services, want)
	}
}

func TestParseRancherEmpty(t *testing.T) {
	for _, text := range []string{"", "# nothing\n", "version: '2'\n", "version: '2'\nservices:\n"} {
		rf, err := ParseRancher("r.yml", []byte(text))
		if err != nil || len(rf.Services) != 0 {
			t.Errorf("%q: got %v, %v; want no services, no error", text, rf, err)
		}
	}
}

func TestParseRancherErrors(t *testing.T) {
	cases := []struct {
		name, text, want string
	}{
		{"unknown key", "version: '2'\nservices:\n  web:\n    scael: 2\n",
			`r.yml:4: service "web": scael: unknown rancher-compose key (did you mean "scale"?)`},
		{"scale not a number", "services:\n  web:\n    scale: many\n",
			`r.yml:3: service "web": scale: expected an integer, got "many"`},
		{"scale negative", "services:\n  web:\n    scale: -1\n",
			`r.yml:3: service "web": scale: must not be negative`},
		{"scale a list", "services:\n  web:\n    scale: [1]\n",
			`r.yml:3: service "web": scale: expected an integer, got a list`},
		{"start_first not a bool", "services:\n  web:\n    upgrade_strategy:\n      start_first: maybe\n",
			`r.yml:4: service "web": upgrade_strategy.start_first: expected true or false, got "maybe"`},
		{"batch size zero", "services:\n  web:\n    upgrade_strategy:\n      batch_size: 0\n",
			`r.yml:4: service "web": upgrade_strategy.batch_size: must be at least 1`},
		{"interval negative", "services:\n  web:\n    upgrade_strategy:\n      interval_millis: -5\n",
			`r.yml:4: service "web": upgrade_strategy.interval_millis: must not be negative`},
		{"unknown upgrade key", "services:\n  web:\n    upgrade_strategy:\n      order: start-first\n",
			`r.yml:4: service "web": upgrade_strategy.order: unknown key (expected start_first, batch_size, interval_millis)`},
		{"health port out of range", "services:\n  web:\n    health_check:\n      port: 70000\n",
			`r.yml:4: service "web": health_check.port: must be a port number`},
		{"health unknown key", "services:\n  web:\n    health_check:\n      path: /\n",
			`r.yml:4: service "web": health_check.path: unknown health_check key`},
		{"health strategy", "services:\n  web:\n    health_check:\n      strategy: restart\n",
			`r.yml:4: service "web": health_check.strategy: unknown strategy "restart" (expected none, recreate, recreateOnQuorum)`},
		{"health negative", "services:\n  web:\n    health_check:\n      interval: -1\n",
			`r.yml:4: service "web": health_check.interval: must not be negative`},
		{"port rules not a list", "services:\n  lb:\n    lb_config:\n      port_rules: {}\n",
			`r.yml:4: service "lb": lb_config.port_rules: expected a list of rules`},
		{"port rule protocol", "services:\n  lb:\n    lb_config:\n      port_rules:\n        - source_port: 80\n          protocol: ftp\n",
			`r.yml:6: service "lb": lb_config.port_rules[0].protocol: unknown protocol "ftp" (expected http, tcp, https, tls, sni, udp)`},
		{"port rule unknown key", "services:\n  lb:\n    lb_config:\n      port_rules:\n        - selectr: x\n",
			`r.yml:5: service "lb": lb_config.port_rules[0].selectr: unknown port rule key (expected source_port, target_port, service, protocol, hostname, path, priority, selector, backend_name)`},
		{"load_balancer_config unknown key", "lb:\n  load_balancer_config:\n    haproxy: {}\n",
			`r.yml:3: service "lb": load_balancer_config.haproxy: unknown load_balancer_config key (expected name, description, haproxy_config, lb_cookie_stickiness_policy, app_cookie_stickiness_policy)`},
		{"lb unknown key", "services:\n  lb:\n    lb_config:\n      rules: []\n",
			`r.yml:4: service "lb": lb_config.rules: unknown lb_config key`},
		{"metadata not a map", "services:\n  web:\n    metadata: [1]\n",
			`r.yml:3: service "web": metadata: expected a mapping, got a list`},
		{"scale policy key", "services:\n  web:\n    scale_policy:\n      step: 1\n",
			`r.yml:4: service "web": scale_policy.step: unknown key (expected min, max, increment)`},
		{"service not a map", "services:\n  web: 3\n",
			`r.yml:2: service "web": expected a mapping of rancher-compose keys`},
		{"services not a map", "services: [web]\n",
			`r.yml:1: services: expected a mapping`},
		{"top level unknown", "version: '2'\nservices: {}\nnetworks: {}\n",
			`r.yml:3: networks: unknown top-level key (expected version, services)`},
		{"bad version", "version: '9'\nservices: {}\n",
			`r.yml:1: version: unsupported version "9" (expected '2')`},
		{"not a mapping", "- web\n",
			`r.yml:1: expected a mapping at the top level`},
		{"yaml error", "services:\n  web:\n    scale: 1\n   bad: indent\n",
			`r.yml: invalid YAML: while parsing a block mapping at line 1, column 3: line 3, column 4: did not find expected key`},
		{"duplicate service (v1)", "web:\n  scale: 1\nweb:\n  scale: 2\n",
			`r.yml:3: service "web": service is declared twice`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRancher("r.yml", []byte(tc.text))
			if err == nil {
				t.Fatalf("parsed without error; want %q", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n  %s\nwant:\n  %s", err, tc.want)
			}
		})
	}
}

func FuzzParseRancher(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/rancher/*.yml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("services:\n  web:\n    scale: '3'\n"))
	f.Add([]byte("web: {health_check: {port: 80}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rf, err := ParseRancher("fuzz.yml", data)
		if err != nil {
			if _, ok := err.(*FileError); !ok {
				t.Fatalf("error of type %T, want *FileError: %v", err, err)
			}
			return
		}
		for name, s := range rf.Services {
			if s.Scale != nil && *s.Scale < 0 {
				t.Errorf("service %q: negative scale %d accepted", name, *s.Scale)
			}
			if u := s.UpgradeStrategy; u != nil && u.BatchSize != nil && *u.BatchSize < 1 {
				t.Errorf("service %q: batch size %d accepted", name, *u.BatchSize)
			}
		}
	})
}

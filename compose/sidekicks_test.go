package compose

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A sidekick label that cannot be followed is refused at its line, naming
// the service and the label.
func TestSidekickErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unknown sidekick", "services:\n  web:\n    image: x\n    labels: {io.rancher.sidekicks: data}\n",
			`docker-compose.yml:4: service "web": label io.rancher.sidekicks: no service "data" in the project`},
		{"its own sidekick", "services:\n  web:\n    image: x\n    labels: {io.rancher.sidekicks: web}\n",
			`service "web": label io.rancher.sidekicks: a service cannot be its own sidekick`},
		{"two primaries", "services:\n  a:\n    image: x\n    labels: {io.rancher.sidekicks: data}\n  b:\n    image: x\n    labels: {io.rancher.sidekicks: data}\n  data:\n    image: x\n",
			`service "b": label io.rancher.sidekicks: "data" is already a sidekick of "a"`},
		{"nested", "services:\n  a:\n    image: x\n    labels: {io.rancher.sidekicks: b}\n  b:\n    image: x\n    labels: {io.rancher.sidekicks: c}\n  c:\n    image: x\n",
			`"b" has sidekicks of its own; a sidekick cannot`},
		{"a sidekick asked behind the proxy", "services:\n  a:\n    image: x\n    labels: {io.rancher.sidekicks: b}\n  b:\n    image: x\n    ports: ['8080:80']\n    x-drover: {proxy: true}\n",
			`service "b": a sidekick (of "a") behind drover's front proxy is not supported`},
		{"container_name at scale 2", "services:\n  a:\n    image: x\n    scale: 2\n    labels: {io.rancher.sidekicks: b}\n  b:\n    image: x\n    container_name: fixed\n",
			`service "b": container_name "fixed" needs scale 1, but the service is a sidekick of "a", scale 2`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := loadFiles(t, [2]string{"docker-compose.yml", tc.text})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v\nwant %q", err, tc.want)
			}
		})
	}
}

// A sidekick takes its primary's scale and policy; a scale of its own is
// said to be unused.
func TestSidekickFollowsItsPrimary(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	files := map[string]string{
		"docker-compose.yml":  "services:\n  web:\n    image: x\n    labels: {io.rancher.sidekicks: ' data , log'}\n  data:\n    image: x\n    scale: 5\n  log:\n    image: x\n",
		"rancher-compose.yml": "services:\n  web:\n    scale: 3\n    upgrade_strategy: {start_first: true, batch_size: 1}\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Load(context.Background(), Options{ProjectDir: dir, ProjectName: "demo"})
	if err != nil {
		t.Fatal(err)
	}
	web, _ := p.Service("web")
	if strings.Join(web.Sidekicks, ",") != "data,log" || strings.Join(p.Unit("log"), ",") != "web,data,log" || !p.SameUnit("data", "log") {
		t.Errorf("sidekicks %v, unit of log %v", web.Sidekicks, p.Unit("log"))
	}
	for _, name := range []string{"data", "log"} {
		s, _ := p.Service(name)
		if s.Primary != "web" || s.Scale != 3 || !s.Policy.StartFirst || s.Policy.BatchSize != 1 {
			t.Errorf("%s: primary %q scale %d policy %+v; want web's", name, s.Primary, s.Scale, s.Policy)
		}
	}
	if got := strings.Join(p.Warnings, "\n"); !strings.Contains(got, `service "data": scale 5 not used: a sidekick runs at its primary's scale ("web": 3)`) || strings.Contains(got, "io.rancher.sidekicks") {
		t.Errorf("warnings:\n%s", got)
	}
}

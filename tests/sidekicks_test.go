package tests

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

const sidekickCompose = `services:
  web:
    image: IMAGE:%s
    labels: {io.rancher.sidekicks: data}
    volumes_from: [data]
  data:
    image: IMAGE:%s
    volumes: [/shared]
`

// Issue 9, part 6: a primary and its sidekick (the primary takes its
// volumes from it) are created at the primary's scale, slot by slot,
// upgraded together in the primary's batches, and scaled together.
func TestSidekicksUpgradeWithTheirPrimary(t *testing.T) {
	t.Parallel()
	rancher := "services:\n  web:\n    scale: 2\n    upgrade_strategy: {start_first: false, batch_size: 1, interval_millis: 0}\n"
	p := newProject(t, fmt.Sprintf(sidekickCompose, "v1", "v1"), rancher)
	p.mustDrover("up")
	checkSlotVolumes(t, p, 2)

	p.write("docker-compose.yml", fmt.Sprintf(sidekickCompose, "v2", "v2"))
	r := p.mustDrover("--progress", "json", "up", "--upgrade")
	var batches []string
	sc := bufio.NewScanner(strings.NewReader(r.stdout))
	for sc.Scan() {
		var ev progressEvent
		if json.Unmarshal(sc.Bytes(), &ev) == nil && ev.Action == "batch" && ev.Phase == "done" {
			batches = append(batches, ev.Reason)
		}
	}
	if got := strings.Join(batches, " | "); got != "1/2: data#1, web#1 | 2/2: data#2, web#2" {
		t.Errorf("batches %q; want each slot's pair in one batch", got)
	}
	serving, _ := byRole(p.ps(), "serving")
	if got := strings.Join(serving, " "); strings.Count(got, "@v2/running") != 4 {
		t.Errorf("after the upgrade, serving: %s; want data and web, 2 each, of v2", got)
	}
	checkSlotVolumes(t, p, 2)

	p.mustDrover("up", "--confirm-upgrade")
	p.mustDrover("scale", "web=3")
	serving, _ = byRole(p.ps(), "serving")
	if len(serving) != 6 {
		t.Errorf("after scale web=3, serving: %v; want data and web, 3 each", serving)
	}
	checkSlotVolumes(t, p, 3)
}

// checkSlotVolumes: each serving web container n has the volume of the
// serving data container n at /shared.
func checkSlotVolumes(t *testing.T, p *project, scale int) {
	t.Helper()
	ctx := context.Background()
	for n := 1; n <= scale; n++ {
		volume := func(service string) string {
			c, err := docker.ContainerInspect(ctx, fmt.Sprintf("%s-%s-%d", p.name, service, n))
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range c.Mounts {
				if m.Destination == "/shared" {
					return m.Name
				}
			}
			return ""
		}
		web, data := volume("web"), volume("data")
		if web == "" || web != data {
			t.Errorf("slot %d: web has volume %q at /shared, data %q; want the same", n, web, data)
		}
	}
}

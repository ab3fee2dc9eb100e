package reconcile

import (
	"fmt"
	"github.com/drover/drover/compose"
	"strings"
	"testing"
)

// BenchmarkPlanNoop plans a 20-service project that is fully in step: the
// work of a no-op up once the engine has been listed.
func BenchmarkPlanNoop(b *testing.B) {
	var y strings.Builder
	y.WriteString("services:\n")
	for i := 0; i < 20; i++ {
		fmt.Fprintf(&y, "  svc%02d:\n    image: drover-hello:v1\n    scale: 2\n", i)
	}
	p := load(b, y.String(), "")
	w := newWorld(p)
	for _, s := range p.Services {
		w.ctr(s.Name, 1, 1, "running").ctr(s.Name, 2, 1, "running")
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plan, err := Up(p, w.obs, Options{})
		if err != nil || !plan.Empty() {
			b.Fatalf("plan not empty: %v\n%s", err, plan)
		}
	}
}

// project of n services of 3 containers each, all running revision 1, and
// the files changed for every service (an upgrade of the whole project).
func scaledWorld(b *testing.B, n int) (*compose.Project, *compose.Project, Observed) {
	var v1, v2 strings.Builder
	v1.WriteString("services:\n")
	v2.WriteString("services:\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&v1, "  svc%04d:\n    image: drover-hello:v1\n    scale: 3\n", i)
		fmt.Fprintf(&v2, "  svc%04d:\n    image: drover-hello:v2\n    scale: 3\n", i)
	}
	p1, p2 := load(b, v1.String(), ""), load(b, v2.String(), "")
	w := newWorld(p1)
	for _, s := range p1.Services {
		w.ctr(s.Name, 1, 1, "running").ctr(s.Name, 2, 1, "running").ctr(s.Name, 3, 1, "running")
	}
	sortContainers(w.obs.Containers)
	return p1, p2, w.obs
}

// BenchmarkScale measures, at 10, 100 and 1000 services of 3 containers,
// what a no-op up, ps, status and the plan of a whole-project upgrade cost
// once the engine is listed. Each should grow linearly: ns/op per service
// stays flat from one size to the next (reported as ns/svc).
func BenchmarkScale(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		p1, p2, obs := scaledWorld(b, n)
		known := make([]string, 0, n)
		for _, s := range p1.Services {
			known = append(known, s.Name)
		}
		perService := func(b *testing.B) {
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/svc")
		}
		b.Run(fmt.Sprintf("noop-up/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if plan, err := Up(p1, obs, Options{}); err != nil || !plan.Empty() {
					b.Fatalf("%v\n%s", err, plan)
				}
			}
			perService(b)
		})
		b.Run(fmt.Sprintf("ps-roles/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if len(Roles(obs, known)) != 3*n {
					b.Fatal("roles")
				}
			}
			perService(b)
		})
		b.Run(fmt.Sprintf("status/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if len(Status(p1, obs)) != n {
					b.Fatal("status")
				}
			}
			perService(b)
		})
		b.Run(fmt.Sprintf("upgrade-plan/%d", n), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if plan, err := Upgrade(p2, obs, UpgradeOptions{}); err != nil || plan.Empty() {
					b.Fatalf("%v", err)
				}
			}
			perService(b)
		})
	}
}

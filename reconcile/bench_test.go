package reconcile

import (
	"fmt"
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

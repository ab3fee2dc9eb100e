package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/reconcile"
)

// TestProgressLinesLineUp: with a target longer than the default column
// (a project's proxy launcher), every plain line of the run puts its action
// in the same column.
func TestProgressLinesLineUp(t *testing.T) {
	var out bytes.Buffer
	a := &app{stdout: &out, progress: "plain"}
	targets := []string{"web#1", "static-site-proxy-ports"}
	p := a.printer(targets...)
	now := time.Now()
	for _, target := range targets {
		p.event(reconcile.Event{Target: target, Action: "create", Phase: reconcile.Done, Time: now})
	}
	p.event(reconcile.Event{Target: "web#1", Action: "start", Phase: reconcile.Failed, Time: now, Error: "boom"})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %q", out.String())
	}
	col := -1
	for _, l := range lines {
		i := strings.Index(l, " create ")
		if i < 0 {
			i = strings.Index(l, " start ")
		}
		if col >= 0 && i != col {
			t.Errorf("the action is at column %d, not %d:\n%s", i, col, out.String())
		}
		col = i
	}
}

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/drover/drover/reconcile"
)

// printer renders Apply's events: a line per finished step in plain and tty
// modes, one JSON object per event in json mode.
type printer struct {
	w       io.Writer
	json    bool
	start   time.Time
	counts  map[string]int
	failed  int
	printed bool
}

func (a *app) printer() *printer {
	return &printer{w: a.stdout, json: a.progress == "json", start: time.Now(), counts: map[string]int{}}
}

func (p *printer) event(ev reconcile.Event) {
	if p.json {
		data, _ := json.Marshal(ev)
		fmt.Fprintf(p.w, "%s\n", data)
		return
	}
	at := ev.Time.Sub(p.start).Seconds()
	switch ev.Phase {
	case reconcile.Begun:
		// Long steps announce themselves, so a wait is never silent.
		switch ev.Action {
		case "build", "pull", "wait-ready", "wait-healthy", "wait-completed", "wait-interval":
			fmt.Fprintf(p.w, "[%6.2fs] %-20s %-14s ...%s\n", at, ev.Target, ev.Action, reason(ev))
		}
	case reconcile.Done:
		if ev.Action == "batch" {
			fmt.Fprintf(p.w, "[%6.2fs] %s: batch %s\n", at, ev.Service, ev.Reason)
			break
		}
		p.counts[ev.Action]++
		fmt.Fprintf(p.w, "[%6.2fs] %-20s %-14s done in %s%s\n", at, ev.Target, ev.Action, ev.Duration.Round(time.Millisecond), reason(ev))
	case reconcile.Failed:
		p.failed++
		fmt.Fprintf(p.w, "[%6.2fs] %-20s %-14s FAILED after %s: %s\n", at, ev.Target, ev.Action, ev.Duration.Round(time.Millisecond), ev.Error)
	}
	p.printed = true
}

func reason(ev reconcile.Event) string {
	if ev.Reason == "" {
		return ""
	}
	return " (" + ev.Reason + ")"
}

// summary prints one closing line of what was done.
func (p *printer) summary(verb string) {
	if p.json {
		data, _ := json.Marshal(map[string]any{"summary": verb, "counts": p.counts, "failed": p.failed, "duration_ns": time.Since(p.start)})
		fmt.Fprintf(p.w, "%s\n", data)
		return
	}
	if !p.printed {
		fmt.Fprintf(p.w, "%s: nothing to do\n", verb)
		return
	}
	fmt.Fprintf(p.w, "%s: %d created, %d started, %d stopped, %d removed", verb,
		p.counts["create"], p.counts["start"], p.counts["stop"], p.counts["remove"])
	if p.failed > 0 {
		fmt.Fprintf(p.w, ", %d failed", p.failed)
	}
	fmt.Fprintf(p.w, " in %s\n", time.Since(p.start).Round(10*time.Millisecond))
}

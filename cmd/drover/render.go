package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/drover/drover/reconcile"
)

// printer renders Apply's events: a line per finished step (plain), the same
// with a live line of the steps under way at the bottom (tty), or one JSON
// object per event (json).
type printer struct {
	w       io.Writer
	mode    string // plain, tty or json
	start   time.Time
	counts  map[string]int
	failed  int
	printed bool
	width   int // of the target column

	mu      sync.Mutex // guards what the live line reads
	running map[string]time.Time
	// progress is the last progress of each pull or push under way, and
	// of those done (for their closing line).
	progress map[string]reconcile.Progress
	stop     chan struct{}
	done     chan struct{}
}

// printer makes the renderer for the --progress mode; auto is tty on a
// terminal, plain elsewhere. The target column is as wide as the longest of
// targets (the plan's), 20 at least, so the lines of one run line up.
func (a *app) printer(targets ...string) *printer {
	mode := a.progress
	if mode == "auto" {
		mode = "plain"
		if f, ok := a.stdout.(*os.File); ok && isTerminal(f) {
			mode = "tty"
		}
	}
	p := &printer{w: a.stdout, mode: mode, start: time.Now(), counts: map[string]int{}, running: map[string]time.Time{}, progress: map[string]reconcile.Progress{}, width: 20}
	for _, t := range targets {
		p.width = max(p.width, len(t))
	}
	if mode == "tty" {
		p.stop, p.done = make(chan struct{}), make(chan struct{})
		go p.tick()
	}
	return p
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// tick redraws the live line, so that a long wait shows its time going by.
func (p *printer) tick() {
	defer close(p.done)
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			p.mu.Lock()
			fmt.Fprint(p.w, "\r\033[K")
			p.mu.Unlock()
			return
		case <-t.C:
			p.mu.Lock()
			p.drawLive()
			p.mu.Unlock()
		}
	}
}

// drawLive rewrites the bottom line with the steps under way, the longest
// running first.
func (p *printer) drawLive() {
	type item struct {
		name  string
		since time.Time
	}
	var items []item
	for name, since := range p.running {
		items = append(items, item{name, since})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].since.Before(items[j].since) })
	var parts []string
	for _, it := range items {
		part := fmt.Sprintf("%s %.1fs", it.name, time.Since(it.since).Seconds())
		if pr, ok := p.progress[it.name]; ok {
			part += " " + pr.String()
		}
		parts = append(parts, part)
	}
	line := strings.Join(parts, " | ")
	if len(line) > 110 {
		line = line[:107] + "..."
	}
	if line != "" {
		line = "  ⋯ " + line
	}
	fmt.Fprintf(p.w, "\r\033[K%s", line)
}

func (p *printer) event(ev reconcile.Event) {
	if p.mode == "json" {
		data, _ := json.Marshal(ev)
		fmt.Fprintf(p.w, "%s\n", data)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	key := ev.Target + " " + ev.Action
	live := p.mode == "tty"
	if ev.Phase == reconcile.Underway {
		// On a terminal the live line shows it; plain output says it once,
		// on the step's closing line.
		if ev.Progress != nil {
			p.progress[key] = *ev.Progress
		}
		return
	}
	if live {
		fmt.Fprint(p.w, "\r\033[K")
	}
	at := ev.Time.Sub(p.start).Seconds()
	switch ev.Phase {
	case reconcile.Begun:
		p.running[key] = ev.Time
		// Long steps announce themselves, so that a wait is never silent
		// (on a terminal the live line shows them instead).
		switch ev.Action {
		case "build", "pull", "push", "wait-ready", "wait-healthy", "wait-completed", "wait-interval":
			if !live {
				fmt.Fprintf(p.w, "[%6.2fs] %-*s %-14s ...%s\n", at, p.width, ev.Target, ev.Action, reason(ev))
			}
		}
	case reconcile.Done:
		delete(p.running, key)
		if ev.Action == "batch" {
			fmt.Fprintf(p.w, "[%6.2fs] %s: batch %s\n", at, ev.Service, ev.Reason)
			break
		}
		p.counts[ev.Action]++
		size := ""
		if pr, ok := p.progress[key]; ok {
			size = " [" + pr.String() + "]"
			delete(p.progress, key)
		}
		fmt.Fprintf(p.w, "[%6.2fs] %-*s %-14s done in %s%s%s\n", at, p.width, ev.Target, ev.Action, ev.Duration.Round(time.Millisecond), reason(ev), size)
		if ev.Note != "" {
			fmt.Fprintf(p.w, "           note: %s\n", ev.Note)
		}
	case reconcile.Failed:
		delete(p.running, key)
		delete(p.progress, key)
		p.failed++
		fmt.Fprintf(p.w, "[%6.2fs] %-*s %-14s FAILED after %s: %s\n", at, p.width, ev.Target, ev.Action, ev.Duration.Round(time.Millisecond), ev.Error)
	}
	if live {
		p.drawLive()
	}
	p.printed = true
}

func reason(ev reconcile.Event) string {
	if ev.Reason == "" {
		return ""
	}
	return " (" + ev.Reason + ")"
}

// summary stops the live line and prints one closing line of what was done.
func (p *printer) summary(verb string) {
	if p.stop != nil {
		close(p.stop)
		<-p.done
	}
	if p.mode == "json" {
		data, _ := json.Marshal(map[string]any{"summary": verb, "counts": p.counts, "failed": p.failed, "duration_ns": time.Since(p.start)})
		fmt.Fprintf(p.w, "%s\n", data)
		return
	}
	if !p.printed {
		fmt.Fprintf(p.w, "%s: nothing to do\n", verb)
		return
	}
	var parts []string
	for _, c := range []struct{ action, word string }{{"pull", "pulled"}, {"build", "built"}, {"push", "pushed"}} {
		if n := p.counts[c.action]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, c.word))
		}
	}
	// Containers are always counted, except after a run that only
	// fetched or pushed images.
	if containers := p.counts["create"] + p.counts["start"] + p.counts["stop"] + p.counts["remove"]; containers > 0 || len(parts) == 0 && p.failed == 0 {
		parts = append([]string{fmt.Sprintf("%d created, %d started, %d stopped, %d removed",
			p.counts["create"], p.counts["start"], p.counts["stop"], p.counts["remove"])}, parts...)
	}
	if p.failed > 0 {
		parts = append(parts, fmt.Sprintf("%d failed", p.failed))
	}
	fmt.Fprintf(p.w, "%s: %s in %s\n", verb, strings.Join(parts, ", "), time.Since(p.start).Round(10*time.Millisecond))
}

// checkFormat refuses a --format other than table or json.
func checkFormat(format string) error {
	if format != "table" && format != "json" {
		return usageError{fmt.Sprintf("--format %q: expected table or json", format)}
	}
	return nil
}

// printPlan prints a plan's warnings and, for a dry run, the plan itself;
// it reports whether the run stops there. One engine's plans and Swarm's
// print alike.
func (a *app) printPlan(warnings []string, plan interface {
	String() string
	Empty() bool
}, dryRun bool) bool {
	for _, w := range warnings {
		fmt.Fprintf(a.stderr, "warning: %s\n", w)
	}
	if !dryRun {
		return false
	}
	fmt.Fprint(a.stdout, plan.String())
	if plan.Empty() {
		fmt.Fprintln(a.stdout, "nothing to do")
	}
	return true
}

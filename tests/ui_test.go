package tests

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// The walk-through in a real browser: Debian's chromium, headless, drives
// drover ui's page while a load of requests goes through the front proxy to
// the project's port. Screenshots of each state go to $DROVER_ARTIFACTS (a
// temporary directory otherwise), named in the log.
func TestUIWalkThroughInABrowser(t *testing.T) {
	browser, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("the browser test needs Debian's chromium package (apt-get install chromium; .ci/run installs it): " + err.Error())
	}
	artifacts := os.Getenv("DROVER_ARTIFACTS")
	if artifacts == "" {
		if artifacts, err = os.MkdirTemp("", "drover-ui-artifacts-"); err != nil {
			t.Fatal(err)
		}
	} else if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	p := newProject(t, fmt.Sprintf(proxiedSite, "v1", port, true), "services:\n  site:\n    upgrade_strategy: {start_first: true, batch_size: 1}\n")
	p.mustDrover("up")
	site := fmt.Sprintf("http://127.0.0.1:%d/version", port)
	if v := get(t, site); v != "v1\n" {
		t.Fatalf("through the proxy: %q", v)
	}

	pageURL := startUI(t)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.WindowSize(1280, 720))...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	ctx, cancel := context.WithTimeout(tab, 4*time.Minute)
	defer cancel()
	// The project's own page (?project=): the engine may hold others.
	if err := chromedp.Do(ctx, chromedp.Navigate(pageURL+"&project="+p.name)); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	// A second tab sees the same runs.
	tab2, cancelTab2 := chromedp.NewContext(tab)
	defer cancelTab2()
	if err := chromedp.Do(tab2, chromedp.Navigate(pageURL)); err != nil {
		t.Fatalf("opening a second tab: %v", err)
	}

	svc := fmt.Sprintf(`section[data-project=%q] tbody[data-service="site"]`, p.name)
	page := uiPage{t: t, ctx: ctx, svc: svc, dir: artifacts}
	page.waitFor("active", func(s uiState) bool { return s.State == "active" && !s.OutOfSync })
	if want := fmt.Sprintf("127.0.0.1:%d/", port); !strings.Contains(page.state().Ports, want) {
		t.Errorf("the page shows ports %q, want a link to %s", page.state().Ports, want)
	}
	page.shot("1-active")

	p.write("docker-compose.yml", fmt.Sprintf(proxiedSite, "v2", port, true))
	page.waitFor("out of sync", func(s uiState) bool { return s.OutOfSync && s.Buttons["upgrade"] })
	page.shot("2-out-of-sync")

	load := startLoad(site, 4, 3)
	time.Sleep(300 * time.Millisecond)
	page.click("upgrade")
	page.waitFor("upgrading", func(s uiState) bool { return s.State == "upgrading" })
	page.shot("3-upgrading")
	page.waitFor("upgraded", func(s uiState) bool { return s.State == "upgraded" && s.Buttons["confirm"] && s.Buttons["rollback"] })
	page.waitLog("upgrade site: done")
	page.shot("4-upgraded")
	if v := get(t, site); v != "v2\n" {
		t.Errorf("after the upgrade: %q", v)
	}

	page.click("rollback")
	// Upgrade is back once the rollback's run has ended.
	page.waitFor("active at revision 1", func(s uiState) bool {
		return s.State == "active" && s.Revision == "1" && s.OutOfSync && s.Buttons["upgrade"]
	})
	page.waitLog("rollback site: done")
	page.shot("5-rolled-back")
	time.Sleep(300 * time.Millisecond)
	load.finish()
	t.Logf("%d requests during upgrade and rollback, %d failed, versions %v", load.ok.Load()+load.failed.Load(), load.failed.Load(), load.versions)
	if load.failed.Load() != 0 {
		t.Errorf("%d of %d requests failed: %v", load.failed.Load(), load.ok.Load()+load.failed.Load(), load.errs)
	}
	if load.ok.Load() < 100 || load.versions["v1"] == 0 || load.versions["v2"] == 0 {
		t.Errorf("%d requests answered, versions %v: want at least 100, v1 and v2", load.ok.Load(), load.versions)
	}
	if v := get(t, site); v != "v1\n" {
		t.Errorf("after the rollback: %q", v)
	}

	page.click("upgrade")
	// The buttons come back when the run ends: a Finish pressed during the
	// upgrade's last step would be refused.
	page.waitFor("upgraded again", func(s uiState) bool { return s.State == "upgraded" && s.Buttons["confirm"] })
	page.click("confirm")
	page.waitFor("active at revision 2, nothing kept", func(s uiState) bool {
		return s.State == "active" && s.Revision == "2" && s.Kept == "0" && !s.OutOfSync && !s.Buttons["rollback"] && s.Buttons["stop"]
	})
	page.waitLog("confirm site: done")
	page.shot("6-finished")
	if v := get(t, site); v != "v2\n" {
		t.Errorf("after the finish: %q", v)
	}

	// A refused action shows drover's own message.
	page.post("start", "nosuch")
	page.waitLog(`start nosuch: drover start: no such service: "nosuch"`)

	// The second tab saw every run.
	log2 := uiPage{t: t, ctx: tab2}.log()
	for _, want := range []string{"upgrade site: done", "rollback site: done", "confirm site: done"} {
		if !strings.Contains(log2, want) {
			t.Errorf("the second tab's log lacks %q:\n%s", want, log2)
		}
	}
	t.Logf("screenshots in %s", artifacts)
}

// startUI runs drover ui on a free loopback port until the test ends and
// returns the URL it prints.
func startUI(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(droverBin, "ui", "--listen", "127.0.0.1:0")
	cmd.Dir = t.TempDir()
	cmd.Env = cleanEnviron()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
		if stderr.Len() > 0 {
			t.Logf("drover ui's stderr:\n%s", stderr.String())
		}
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "drover ui: http://127.0.0.1:") || !strings.Contains(line, "/?token=") {
		t.Fatalf("drover ui printed %q (%v)", line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "drover ui: "))
}

// uiPage is the page in one tab, as the test reads it.
type uiPage struct {
	t   *testing.T
	ctx context.Context
	svc string // the selector of the service's rows
	dir string
}

type uiState struct {
	State, Revision, Kept, Ports string
	OutOfSync                    bool
	Buttons                      map[string]bool
}

func (p uiPage) state() uiState {
	p.t.Helper()
	js := fmt.Sprintf(`(function () {
		var b = document.querySelector(%q);
		if (!b) return {};
		var cells = b.querySelectorAll("tr:first-child > td");
		var buttons = {};
		b.querySelectorAll("button.act").forEach(function (x) { buttons[x.dataset.verb] = true; });
		return {State: b.querySelector(".state").dataset.state, Revision: cells[2].textContent.trim(),
			Kept: cells[4].textContent.trim(), Ports: cells[7].textContent.trim(),
			OutOfSync: !!b.querySelector(".outofsync"), Buttons: buttons};
	})()`, p.svc)
	s, err := chromedp.Run(p.ctx, chromedp.Evaluate[uiState](js))
	if err != nil {
		p.t.Fatalf("reading the page: %v", err)
	}
	return s
}

// waitFor waits until the page shows what ok wants, failing with the
// states it went through.
func (p uiPage) waitFor(what string, ok func(uiState) bool) {
	p.t.Helper()
	var seen []string
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		s := p.state()
		if ok(s) {
			return
		}
		if d := fmt.Sprintf("%s rev %s kept %s out-of-sync %v", s.State, s.Revision, s.Kept, s.OutOfSync); len(seen) == 0 || seen[len(seen)-1] != d {
			seen = append(seen, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
	p.t.Fatalf("the page never showed %s; it showed: %s\nrun log:\n%s", what, strings.Join(seen, " → "), p.log())
}

func (p uiPage) log() string {
	s, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`document.getElementById("runlog").textContent`))
	return s
}

func (p uiPage) waitLog(want string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.log(), want) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("the run log never said %q:\n%s", want, p.log())
}

// click presses the service's button, answering yes to its question.
func (p uiPage) click(verb string) {
	p.t.Helper()
	js := fmt.Sprintf(`(function () {
		window.confirm = function () { return true; };
		var b = document.querySelector(%q + ' button[data-verb=%q]');
		if (!b) return false;
		b.click();
		return true;
	})()`, p.svc, verb)
	if ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js)); err != nil || !ok {
		p.t.Fatalf("no %s button to click (%v)", verb, err)
	}
}

// post sends an action as the page's script does, for a service the page
// need not show.
func (p uiPage) post(verb, service string) {
	p.t.Helper()
	js := fmt.Sprintf(`(function () {
		var b = document.querySelector(%q + ' button[data-verb="stop"]');
		b.dataset.verb = %q;
		b.dataset.service = %q;
		b.removeAttribute("data-ask");
		b.click();
		return true;
	})()`, p.svc, verb, service)
	if _, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](js)); err != nil {
		p.t.Fatalf("posting %s: %v", verb, err)
	}
}

func (p uiPage) shot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Errorf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(p.dir, name+".png"), png, 0o644); err != nil {
		p.t.Error(err)
	}
}

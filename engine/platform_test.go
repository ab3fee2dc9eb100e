package engine

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The proxy's binary is drover's own for an engine of its platform, else
// the release's binary for the engine's beside it, else an error that says
// what is missing.
func TestProxyBinary(t *testing.T) {
	dir := t.TempDir()
	self := filepath.Join(dir, "drover")
	other := "arm64"
	if runtime.GOARCH == "arm64" {
		other = "amd64"
	}
	if got, err := ProxyBinary(self, runtime.GOOS, runtime.GOARCH); err != nil || got != self {
		t.Errorf("same platform: %q, %v; want %s", got, err, self)
	}
	_, err := ProxyBinary(self, "linux", other)
	want := "the engine runs linux/" + other + " containers but this drover is a " + runtime.GOOS + "/" + runtime.GOARCH + " binary"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "drover-linux-"+other+" beside "+self) {
		t.Errorf("other platform without its binary: %v; want %q", err, want)
	}
	sibling := filepath.Join(dir, "drover-linux-"+other)
	if err := os.WriteFile(sibling, nil, 0o755); err != nil {
		t.Fatal(err)
	}
	if got, err := ProxyBinary(self, "linux", other); err != nil || got != sibling {
		t.Errorf("other platform with its binary: %q, %v; want %s", got, err, sibling)
	}
}

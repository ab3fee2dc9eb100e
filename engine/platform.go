package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
)

// Server is what the engine says of itself.
type Server struct {
	Version       string `json:"version"`
	APIVersion    string `json:"apiVersion"`
	MinAPIVersion string `json:"minAPIVersion"`
	OS            string `json:"os"`
	Arch          string `json:"arch"`
}

// Platform is the engine's os/arch, as Go names them.
func (s Server) Platform() string { return s.OS + "/" + s.Arch }

// Server asks the engine for its version and platform.
func (d *Docker) Server(ctx context.Context) (Server, error) {
	v, err := d.c.ServerVersion(ctx)
	if err != nil {
		return Server{}, fmt.Errorf("engine version: %w", err)
	}
	return Server{Version: v.Version, APIVersion: v.APIVersion, MinAPIVersion: v.MinAPIVersion, OS: v.Os, Arch: v.Arch}, nil
}

// ProxyBinary is the drover binary the front proxy's image is built from
// for an engine of that os/arch: the running one when its platform is the
// engine's, else the release's drover-OS-ARCH beside it (make release
// builds them side by side). A drover for another platform with no such
// binary cannot run the proxy, and the error says what to put where.
func ProxyBinary(self, engineOS, engineArch string) (string, error) {
	if engineOS == runtime.GOOS && engineArch == runtime.GOARCH {
		return self, nil
	}
	name := "drover-" + engineOS + "-" + engineArch
	sibling := filepath.Join(filepath.Dir(self), name)
	if _, err := os.Stat(sibling); err == nil {
		return sibling, nil
	}
	return "", fmt.Errorf("the engine runs %s/%s containers but this drover is a %s/%s binary, and the front proxy runs drover's own binary on the engine: put the release's %s beside %s (make release builds it)",
		engineOS, engineArch, runtime.GOOS, runtime.GOARCH, name, self)
}

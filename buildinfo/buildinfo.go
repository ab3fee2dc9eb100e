// Package buildinfo is what drover's binary says of itself: the version,
// commit and date that 'make release' stamps in with -ldflags -X, else what
// the Go toolchain recorded (vcs.revision and vcs.time of a build in a git
// checkout), and the toolchain and platform.
package buildinfo

import (
	"runtime"
	"runtime/debug"
)

// Stamped by the linker: -X github.com/drover/drover/buildinfo.version=...
var (
	version string
	commit  string
	date    string
)

// Info describes the running binary.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Date      string `json:"date"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"` // GOOS/GOARCH
}

// Read is the binary's build information; fallback is the version of a
// build that was not stamped.
func Read(fallback string) Info {
	in := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if in.Version == "" {
		in.Version = fallback
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		vcs := map[string]string{}
		for _, s := range bi.Settings {
			vcs[s.Key] = s.Value
		}
		if in.Commit == "" && vcs["vcs.revision"] != "" {
			in.Commit = vcs["vcs.revision"]
			if vcs["vcs.modified"] == "true" {
				in.Commit += "-dirty"
			}
		}
		if in.Date == "" {
			in.Date = vcs["vcs.time"]
		}
	}
	return in
}

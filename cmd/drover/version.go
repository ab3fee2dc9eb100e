package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/pflag"

	"github.com/drover/drover/buildinfo"
	"github.com/drover/drover/engine"
	"github.com/drover/drover/reconcile"
)

// versionReport is drover's build and the engine it talks to.
type versionReport struct {
	Client buildinfo.Info `json:"client"`
	Engine *engineReport  `json:"engine"`
	// EngineError says why the engine could not be asked.
	EngineError string `json:"engineError,omitempty"`
}

type engineReport struct {
	engine.Server
	Context string `json:"context"`
	Host    string `json:"host"`
	// Proxy is the binary the front proxy's image is built from, or why
	// there is none for this engine's platform.
	Proxy      string `json:"proxyBinary,omitempty"`
	ProxyError string `json:"proxyBinaryError,omitempty"`
}

func versionCommand() command {
	return command{
		name: "version", summary: "Print drover's version, commit and build date, and the engine's version.",
		example: "  drover version\n  drover version --format json",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			format := fs.String("format", "text", "output format: text or json")
			return func(ctx context.Context, a *app, args []string) error {
				if *format != "text" && *format != "json" {
					return usageError{fmt.Sprintf("--format %q: expected text or json", *format)}
				}
				if len(args) > 0 {
					return usageError{"version takes no arguments"}
				}
				r, err := a.version(ctx)
				if *format == "json" {
					if werr := writeJSON(a.stdout, r); werr != nil {
						return werr
					}
				} else {
					printVersion(a, r)
				}
				return err // as docker version: the engine unreachable fails
			}
		},
	}
}

func (a *app) version(ctx context.Context) (versionReport, error) {
	r := versionReport{Client: buildinfo.Read(reconcile.Version)}
	ep, err := a.endpoint()
	if err == nil {
		var d *engine.Docker
		if d, err = a.connect(ctx); err == nil {
			defer d.Close()
			var srv engine.Server
			if srv, err = d.Server(ctx); err == nil {
				r.Engine = &engineReport{Server: srv, Context: ep.Context, Host: d.Host()}
				self, serr := os.Executable()
				if serr == nil {
					r.Engine.Proxy, serr = engine.ProxyBinary(self, srv.OS, srv.Arch)
				}
				if serr != nil {
					r.Engine.ProxyError = serr.Error()
				}
			}
		}
	}
	if err != nil {
		r.EngineError = err.Error()
	}
	return r, err
}

func printVersion(a *app, r versionReport) {
	c := r.Client
	fmt.Fprintf(a.stdout, "drover version %s\n", c.Version)
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 1, ' ', 0)
	fmt.Fprintf(tw, " Commit:\t%s\n Commit date:\t%s\n Go version:\t%s\n OS/Arch:\t%s\n", dash(c.Commit), dash(c.Date), c.GoVersion, c.Platform)
	if e := r.Engine; e != nil {
		fmt.Fprintf(tw, "\nEngine:\n Version:\t%s\n API version:\t%s (minimum %s)\n OS/Arch:\t%s\n Context:\t%s\n Host:\t%s\n",
			e.Version, e.APIVersion, e.MinAPIVersion, e.Platform(), e.Context, e.Host)
		if e.ProxyError != "" {
			fmt.Fprintf(tw, " Proxy binary:\tnone: %s\n", e.ProxyError)
		} else {
			fmt.Fprintf(tw, " Proxy binary:\t%s\n", e.Proxy)
		}
	}
	tw.Flush()
}

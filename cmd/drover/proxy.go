package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"github.com/drover/drover/proxy"
	"github.com/drover/drover/reconcile"
)

// proxyCommand is what runs inside the front proxy's container: serve runs
// the proxy; ctl, run by drover through an exec, passes one request from
// stdin to it over its control socket and prints the answer. Hidden from
// the usage: people do not run it.
func proxyCommand() command {
	return command{
		name: "proxy", args: "serve|ctl|probe", hidden: true,
		summary: "The front proxy, inside its container (serve), and its control client (ctl: a JSON request on stdin).",
		example: "  drover proxy serve --state " + reconcile.ProxyState + " --control " + reconcile.ProxySocket,
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			state := fs.String("state", reconcile.ProxyState, "where the proxy keeps its table")
			control := fs.String("control", reconcile.ProxySocket, "the proxy's control socket")
			addr := fs.String("addr", "", "probe: the backend, host:port")
			request := fs.String("request", "", "probe: the request line (GET /healthz HTTP/1.0); empty: a TCP connect")
			timeout := fs.Duration("timeout", 2*time.Second, "probe: how long the answer may take")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) != 1 {
					return usageError{"expected serve, ctl or probe"}
				}
				if args[0] == "probe" {
					return proxy.Probe(ctx, *addr, *request, *timeout)
				}
				switch args[0] {
				case "serve":
					for _, dir := range []string{filepath.Dir(*state), filepath.Dir(*control)} {
						if err := os.MkdirAll(dir, 0o755); err != nil {
							return err
						}
					}
					// Its log is the container's: docker logs <project>-proxy.
					log := slog.New(slog.NewTextHandler(os.Stderr, nil))
					return proxy.Serve(ctx, proxy.ServeOptions{StateFile: *state, ControlSocket: *control, Logger: log})
				case "ctl":
					return proxyCtl(ctx, *control, os.Stdin, a.stdout)
				}
				return usageError{fmt.Sprintf("%q: expected serve or ctl", args[0])}
			}
		},
	}
}

func proxyCtl(ctx context.Context, socket string, in io.Reader, out io.Writer) error {
	var req proxy.Request
	if err := json.NewDecoder(in).Decode(&req); err != nil {
		return fmt.Errorf("reading the request: %w", err)
	}
	resp, err := proxy.Ctl(ctx, socket, req)
	if werr := json.NewEncoder(out).Encode(resp); werr != nil && err == nil {
		err = werr
	}
	return err
}

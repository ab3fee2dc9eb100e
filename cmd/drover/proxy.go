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
// stdin to it over its control socket and prints the answer; ports runs the
// launcher, on the host's network, that holds the published ports and hands
// their sockets to serve --ports (proxy.ServePorts). Hidden from the usage:
// people do not run it.
func proxyCommand() command {
	return command{
		name: "proxy", args: "serve|ctl|probe|ports", hidden: true,
		summary: "The front proxy, inside its container (serve), its control client (ctl: a JSON request on stdin), and the launcher that holds the host's published ports and hands their sockets to serve --ports (ports).",
		example: "  drover proxy serve --state " + reconcile.ProxyState + " --control " + reconcile.ProxySocket + " --ports /run/drover-ports/ports.sock\n" +
			"  drover proxy ports --socket /run/drover-ports/ports.sock --listen :80 --listen 127.0.0.1:8080",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			state := fs.String("state", reconcile.ProxyState, "where the proxy keeps its table")
			control := fs.String("control", reconcile.ProxySocket, "the proxy's control socket")
			addr := fs.String("addr", "", "probe: the backend, host:port")
			request := fs.String("request", "", "probe: the request line (GET /healthz HTTP/1.0); empty: a TCP connect")
			timeout := fs.Duration("timeout", 2*time.Second, "probe: how long the answer may take")
			ports := fs.String("ports", "", "serve: the launcher's socket, to accept on the host's published ports too; empty: in-container listeners only")
			socket := fs.String("socket", "", "ports: the socket the proxy fetches the listeners from")
			listen := fs.StringArray("listen", nil, "ports: an address to hold, host:port (host empty: all interfaces); repeat for each")
			return func(ctx context.Context, a *app, args []string) error {
				if len(args) != 1 {
					return usageError{"expected serve, ctl, probe or ports"}
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
					return proxy.Serve(ctx, proxy.ServeOptions{StateFile: *state, ControlSocket: *control, PortsSocket: *ports, Logger: log})
				case "ctl":
					return proxyCtl(ctx, *control, os.Stdin, a.stdout)
				case "ports":
					if *socket == "" || len(*listen) == 0 {
						return usageError{"ports needs --socket and at least one --listen"}
					}
					if err := os.MkdirAll(filepath.Dir(*socket), 0o755); err != nil {
						return err
					}
					log := slog.New(slog.NewTextHandler(os.Stderr, nil))
					return proxy.ServePorts(ctx, proxy.PortsOptions{Socket: *socket, Listen: *listen, Logger: log})
				}
				return usageError{fmt.Sprintf("%q: expected serve, ctl, probe or ports", args[0])}
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

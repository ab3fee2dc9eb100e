package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	cliflags "github.com/docker/cli/cli/flags"
	"github.com/spf13/cobra"

	"github.com/drover/drover/buildinfo"
	"github.com/drover/drover/dockerctx"
	"github.com/drover/drover/engine"
	"github.com/drover/drover/reconcile"
)

// pluginName is the command drover answers under the docker CLI:
// docker drover.
const pluginName = "drover"

// isPlugin says whether drover was started under its plugin name, as the
// docker CLI runs it from its cli-plugins directory (a link to drover).
func isPlugin(argv0 string) bool {
	return strings.TrimSuffix(filepath.Base(argv0), ".exe") == "docker-"+pluginName
}

// runPlugin is drover as a Docker CLI plugin. The CLI asks for
// "docker-drover docker-cli-plugin-metadata" when it lists its plugins,
// and runs "docker drover ARGS..." as "docker-drover [DOCKER OPTIONS]
// drover ARGS...": docker's global options (-H, --context, --tls...) come
// first, and choose the engine as they do for docker itself.
//
// github.com/docker/cli's plugin.Run would do the same, but it brings the
// whole docker CLI (gRPC, OpenTelemetry's SDK, notary) into a binary that
// also runs as the front proxy; its flags and context store are used here.
func runPlugin(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watchPluginSocket(os.Getenv("DOCKER_CLI_PLUGIN_SOCKET"), cancel)

	a := &app{stdout: stdout, stderr: stderr, docker: cliflags.NewClientOptions()}
	root := &cobra.Command{
		Use:                   "docker [OPTIONS] " + pluginName + " [ARG...]",
		Short:                 "docker-" + pluginName + " is a Docker CLI plugin",
		TraverseChildren:      true,
		DisableFlagsInUseLine: true,
		SilenceErrors:         true,
		SilenceUsage:          true,
		CompletionOptions:     cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	a.docker.InstallFlags(root.Flags())
	a.dockerFlags = root.Flags()
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { printHelp(cmd.OutOrStdout(), cmd) })
	root.AddCommand(newRootCommand(a, argsAfter(args, pluginName)), metadataCommand())
	return execute(ctx, root, args, stdout, stderr)
}

// argsAfter is what follows the first name in args: drover's own
// arguments, after docker's options.
func argsAfter(args []string, name string) []string {
	for i, arg := range args {
		if arg == name {
			return args[i+1:]
		}
	}
	return nil
}

// pluginMetadata is what the docker CLI reads to list and run a plugin.
type pluginMetadata struct {
	SchemaVersion    string
	Vendor           string
	Version          string
	ShortDescription string
}

func metadataCommand() *cobra.Command {
	return &cobra.Command{
		Use:    "docker-cli-plugin-metadata",
		Short:  "The plugin's metadata, for the docker CLI.",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "     ")
			return enc.Encode(pluginMetadata{
				SchemaVersion:    "0.1.0",
				Vendor:           "drover",
				Version:          buildinfo.Read(reconcile.Version).Version,
				ShortDescription: "Keep a Docker engine in step with a compose project, with staged upgrades",
			})
		},
	}
}

// watchPluginSocket cancels when the docker CLI closes its plugin socket:
// that is how the CLI passes on a Ctrl-C when it has no terminal to share
// with the plugin. Without the socket (an older CLI, or run by hand)
// nothing is watched.
func watchPluginSocket(addr string, cancel func()) {
	if addr == "" {
		return
	}
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: addr, Net: "unix"})
	if err != nil {
		return
	}
	go func() {
		defer conn.Close()
		b := make([]byte, 1)
		for {
			if _, err := conn.Read(b); err != nil {
				if errors.Is(err, io.EOF) {
					cancel()
				}
				return
			}
		}
	}()
}

// connect reaches the engine the docker CLI would (dockerctx): docker's
// options when drover is its plugin, DOCKER_HOST, DOCKER_CONTEXT, the
// context of 'docker context use'.
func (a *app) connect(ctx context.Context) (*engine.Docker, error) {
	ep, err := a.endpoint()
	if err != nil {
		return nil, err
	}
	d, err := engine.Connect(ctx, ep.Opts...)
	if err != nil && ep.Context != dockerctx.DefaultContext {
		return nil, fmt.Errorf("docker context %q: %w", ep.Context, err)
	}
	return d, err
}

// endpoint is the engine chosen, and its docker context.
func (a *app) endpoint() (dockerctx.Endpoint, error) {
	if a.docker != nil {
		a.docker.SetDefaultOptions(a.dockerFlags)
	}
	return dockerctx.Resolve(a.docker, os.Getenv)
}

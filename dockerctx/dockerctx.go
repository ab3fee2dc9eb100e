// Package dockerctx finds the Docker engine to talk to as the docker CLI and
// docker compose do: docker's own -H and --context (when drover runs as a
// CLI plugin), then DOCKER_HOST, DOCKER_CONTEXT, the context chosen with
// 'docker context use' (config.json's currentContext), else the local
// socket; a context's host and TLS material come from the CLI's context
// store.
package dockerctx

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/docker/cli/cli/config"
	dcontext "github.com/docker/cli/cli/context"
	"github.com/docker/cli/cli/context/docker"
	"github.com/docker/cli/cli/context/store"
	cliflags "github.com/docker/cli/cli/flags"
	"github.com/docker/cli/opts"
	"github.com/docker/docker/client"
	"github.com/docker/docker/errdefs"
)

// DefaultContext is the name of the context that DOCKER_HOST, -H and the
// local socket make: the one the CLI calls default.
const DefaultContext = "default"

// Endpoint is the engine chosen and how to reach it.
type Endpoint struct {
	// Context names the docker context the engine comes from.
	Context string
	// Host is the engine's address; empty when the environment decides
	// (DOCKER_HOST, else the local socket), as client.FromEnv reads it.
	Host string
	// Opts configure a client for it, applied after client.FromEnv.
	Opts []client.Opt
}

// Resolve chooses the engine. flags are docker's global options when drover
// runs as a CLI plugin (after SetDefaultOptions), nil otherwise; getenv
// reads the environment.
func Resolve(flags *cliflags.ClientOptions, getenv func(string) string) (Endpoint, error) {
	if flags == nil {
		flags = &cliflags.ClientOptions{}
	}
	if flags.Context != "" && len(flags.Hosts) > 0 {
		return Endpoint{}, errors.New("conflicting options: either specify --host or --context, not both")
	}
	dir := configDir(flags.ConfigDir, getenv)
	name, err := contextName(flags, dir, getenv)
	if err != nil {
		return Endpoint{}, err
	}
	if name == DefaultContext {
		return defaultEndpoint(flags, getenv)
	}
	s := store.New(filepath.Join(dir, "contexts"), storeConfig())
	meta, err := s.GetMetadata(name)
	if errdefs.IsNotFound(err) {
		return Endpoint{}, fmt.Errorf("docker context %q does not exist (in %s; see docker context ls)", name, dir)
	}
	if err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	em, err := docker.EndpointFromContext(meta)
	if err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	ep, err := docker.WithTLSData(s, name, em)
	if err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	return endpoint(name, ep)
}

// contextName is the docker CLI's order: --context, then -H or DOCKER_HOST
// (the default context), DOCKER_CONTEXT, then config.json's
// currentContext.
func contextName(flags *cliflags.ClientOptions, dir string, getenv func(string) string) (string, error) {
	switch {
	case flags.Context != "":
		return flags.Context, nil
	case len(flags.Hosts) > 0, getenv(client.EnvOverrideHost) != "":
		return DefaultContext, nil
	case getenv("DOCKER_CONTEXT") != "":
		return getenv("DOCKER_CONTEXT"), nil
	}
	cfg, err := config.Load(dir)
	if err != nil {
		return "", err
	}
	if cfg.CurrentContext != "" {
		return cfg.CurrentContext, nil
	}
	return DefaultContext, nil
}

// defaultEndpoint is the engine of -H and docker's TLS flags; without them
// the environment decides, through client.FromEnv.
func defaultEndpoint(flags *cliflags.ClientOptions, getenv func(string) string) (Endpoint, error) {
	if len(flags.Hosts) == 0 && flags.TLSOptions == nil {
		return Endpoint{Context: DefaultContext}, nil
	}
	host, err := opts.ParseHost(flags.TLSOptions != nil, firstOr(flags.Hosts, getenv(client.EnvOverrideHost)))
	if err != nil {
		return Endpoint{}, err
	}
	ep := docker.Endpoint{EndpointMeta: docker.EndpointMeta{Host: host}}
	if t := flags.TLSOptions; t != nil {
		ep.SkipTLSVerify = t.InsecureSkipVerify
		if ep.TLSData, err = dcontext.TLSDataFromFiles(t.CAFile, t.CertFile, t.KeyFile); err != nil {
			return Endpoint{}, fmt.Errorf("TLS files: %w", err)
		}
	}
	return endpoint(DefaultContext, ep)
}

func endpoint(name string, ep docker.Endpoint) (Endpoint, error) {
	o, err := ep.ClientOpts()
	if err != nil {
		return Endpoint{}, fmt.Errorf("docker context %q: %w", name, err)
	}
	return Endpoint{Context: name, Host: ep.Host, Opts: o}, nil
}

// configDir is docker's --config, else DOCKER_CONFIG, else ~/.docker.
func configDir(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	if d := getenv("DOCKER_CONFIG"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".docker"
	}
	return filepath.Join(home, ".docker")
}

// storeConfig reads the docker endpoint of each context, as the CLI
// writes it.
func storeConfig() store.Config {
	return store.NewConfig(
		func() any { return &map[string]any{} },
		store.EndpointTypeGetter(docker.DockerEndpoint, func() any { return &docker.EndpointMeta{} }),
	)
}

func firstOr(list []string, or string) string {
	if len(list) > 0 {
		return list[0]
	}
	return or
}

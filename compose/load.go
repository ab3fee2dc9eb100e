package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"go.yaml.in/yaml/v4"
)

// Options says where a project's files are and how to read them; its fields
// mirror the global command-line flags.
type Options struct {
	Files       []string // -f; empty: COMPOSE_FILE, then compose.yaml / docker-compose.yml and the override file
	RancherFile string   // -r; empty: rancher-compose.yml beside the first compose file, if present
	ProjectName string   // -p; empty: COMPOSE_PROJECT_NAME, the name: key, then the directory name
	ProjectDir  string   // --project-directory
	EnvFiles    []string // --env-file
	Profiles    []string // --profile
	Answers     []string // --answers: answers files for a catalog entry's questions
	// Swarm loads for Docker Swarm (--engine swarm): the deploy keys that
	// only a swarm applies (placement, mode: global, endpoint_mode) and
	// configs are let through; the swarm package checks what it maps.
	Swarm bool
}

// Load reads and validates a project. Every problem found in the files is
// reported here, before anything touches an engine.
func Load(ctx context.Context, o Options) (*Project, error) {
	p, e, err := load(ctx, o)
	if err != nil {
		return nil, e.templateLines(err)
	}
	return p, nil
}

// load is Load, returning also what was made of a catalog entry's files,
// even on error: the lines of an error in a rendered file are the
// rendered text's until Load places them in the template.
func load(ctx context.Context, o Options) (*Project, *entry, error) {
	cp, srcs, e, err := loadCompose(ctx, o)
	if err != nil {
		return nil, e, err
	}
	cp = withVolumeDrivers(cp)
	rf := e.rancher
	if rf != nil {
		if err := checkRancherServices(rf, func(name string) bool {
			_, ok := cp.Services[name]
			_, disabled := cp.DisabledServices[name]
			return ok || disabled
		}); err != nil {
			return nil, e, relativeFile(err)
		}
		for _, n := range rancherLabels(cp, rf) {
			e.warnings = append(e.warnings, relativeFile(e.templateLines(n)).Error())
		}
	} else {
		rf = &RancherFile{Services: map[string]RancherService{}}
	}
	withDriverKeys(cp, rf)
	if cp, err = cp.WithServicesEnvironmentResolved(true); err != nil {
		return nil, e, err
	}
	if cp, err = cp.WithServicesLabelsResolved(true); err != nil {
		return nil, e, err
	}

	p := &Project{Name: cp.Name, WorkingDir: cp.WorkingDir, ConfigFiles: cp.ComposeFiles, Compose: cp, Questions: e.questions}
	if e.rancher != nil {
		p.RancherFile = rf.Path
	}

	for _, name := range dependencyOrder(cp) {
		if isBalancer(cp.Services[name], rf.Services[name]) {
			b, err := newBalancer(cp, cp.Services[name], rf.Services[name], rf.Path, srcs)
			if err != nil {
				return nil, e, err
			}
			p.Balancers = append(p.Balancers, b)
			continue
		}
		var files serviceFiles
		if !o.Swarm {
			// A swarm makes its own config and secret objects (swarm/).
			if files.configs, err = serviceConfigs(cp, cp.Services[name], srcs); err != nil {
				return nil, e, err
			}
			if files.secrets, err = serviceSecrets(cp, cp.Services[name], srcs); err != nil {
				return nil, e, err
			}
		}
		s, err := newService(cp.Services[name], rf.Services[name], srcs, o.Swarm, files)
		if err != nil {
			return nil, e, err
		}
		p.Services = append(p.Services, s)
	}
	if err := checkProject(p.Services, srcs); err != nil {
		return nil, e, err
	}
	p.index()
	if err := checkBalancerPorts(p, srcs); err != nil {
		return nil, e, err
	}
	if err := linkSidekicks(p, srcs); err != nil {
		return nil, e, err
	}
	explained := slices.Clone(p.Services)
	for _, b := range p.Balancers {
		explained = append(explained, Service{Name: b.Name, NoEffect: b.NoEffect})
	}
	p.Warnings = append(append(append(e.warnings, noEffectWarnings(explained)...), e.volumeNotes...), p.Warnings...)
	return p, e, nil
}

// projectOptions are compose-go's project options for o: the files, the
// working directory and the environment, as docker compose reads them.
func projectOptions(o Options) (*cli.ProjectOptions, error) {
	return cli.NewProjectOptions(o.Files,
		cli.WithWorkingDirectory(o.ProjectDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		withCatalogTemplate,
		cli.WithDefaultConfigPath,
	)
}

// loadCompose loads the compose files with compose-go, after a catalog
// entry's questions are answered and its templates rendered, converting
// files of the v1 layout first. It reads the files itself (compose-go would
// refuse a v1 file while parsing it), so it applies the name precedence
// compose-go's own project loading would: -p, COMPOSE_PROJECT_NAME, name:,
// the directory.
func loadCompose(ctx context.Context, o Options) (*types.Project, sources, *entry, error) {
	popts, err := projectOptions(o)
	if err != nil {
		return nil, nil, nil, loadError(err)
	}
	workingDir, err := popts.GetWorkingDir()
	if err != nil {
		return nil, nil, nil, err
	}
	details, err := popts.ReadConfigFiles(ctx, workingDir, popts)
	if err != nil {
		return nil, nil, nil, loadError(err)
	}
	e, err := prepareEntry(o, details, popts.Environment, workingDir)
	if err != nil {
		return nil, nil, nil, err
	}
	named := false
	var notes []string
	for i, f := range details.ConfigFiles {
		content, dups := lastKeyWins(f.Filename, f.Content)
		notes = append(notes, dups...)
		v1, err := convertV1(content)
		if err != nil {
			return nil, nil, e, v1FileError(f, err)
		}
		if v1 != nil {
			fileNotes, _ := rancherVolumes(v1, layoutV1, e.env)
			rancherDrivers(v1)
			notes = append(notes, fileNotes...)
			details.ConfigFiles[i].Config = v1
		} else if model, fileNotes := rancherModel(content, e.env); model != nil {
			notes = append(notes, fileNotes...)
			details.ConfigFiles[i].Config = model
		}
		named = named || fileName(f.Content) != ""
	}
	srcs := newSources(details.ConfigFiles)
	details.Environment = e.env
	profiles := o.Profiles
	if len(profiles) == 0 && e.env["COMPOSE_PROFILES"] != "" {
		profiles = strings.Split(e.env["COMPOSE_PROFILES"], ",")
	}
	cp, err := loader.LoadWithContext(ctx, *details, func(lo *loader.Options) {
		lo.Profiles = profiles
		switch env := e.env["COMPOSE_PROJECT_NAME"]; {
		case o.ProjectName != "":
			lo.SetProjectName(o.ProjectName, true)
		case env != "":
			lo.SetProjectName(env, true)
		case !named:
			lo.SetProjectName(loader.NormalizeProjectName(filepath.Base(workingDir)), false)
		}
	})
	if err != nil {
		return nil, nil, e, srcs.locateError(err)
	}
	for _, f := range details.ConfigFiles {
		cp.ComposeFiles = append(cp.ComposeFiles, f.Filename)
	}
	e.volumeNotes = append(notes, volumeDriverNotes(cp)...)
	return cp, srcs, e, nil
}

// fileName returns the name: key of a compose file, "" when it has none. A
// file that is not valid YAML is searched for a top-level name: line.
func fileName(content []byte) string {
	var top struct {
		Name string `yaml:"name"`
	}
	if err := yaml.Unmarshal(content, &top); err != nil {
		if m := reNameLine.FindSubmatch(content); m != nil {
			return string(m[1])
		}
	}
	return top.Name
}

var reNameLine = regexp.MustCompile(`(?m)^name:[ \t]*["']?([A-Za-z0-9_.-]+)["']?[ \t]*(?:#.*)?$`)

// v1FileError places an error of the v1 conversion in its file.
func v1FileError(f types.ConfigFile, err error) error {
	var fe *FileError
	if !errors.As(err, &fe) {
		return fmt.Errorf("%s: %w", displayPath(f.Filename), err)
	}
	located := *fe
	located.File = displayPath(f.Filename)
	// The conversion read the file as the v1 layout: services at the top.
	located.Line = newSources([]types.ConfigFile{f})[0].find(fe.path).line
	return &located
}

// serviceFiles are what a service puts into its containers from its
// configs and its secrets of environment:.
type serviceFiles struct{ configs, secrets []ConfigFile }

func newService(cfg types.ServiceConfig, rs RancherService, srcs sources, swarm bool, files serviceFiles) (Service, error) {
	bad, err := unsupportedKeys(cfg, swarm)
	if err != nil {
		return Service{}, fmt.Errorf("service %q: %w", cfg.Name, err)
	}
	if len(bad) > 0 {
		return Service{}, unsupportedError(cfg.Name, bad, srcs)
	}
	if cfg.Image == "" && cfg.Build == nil {
		return Service{}, srcs.at(cfg.Name, "", "neither image nor build is set")
	}
	s := Service{
		Name:     cfg.Name,
		Config:   cfg,
		Scale:    ResolveScale(cfg, rs),
		Policy:   ResolvePolicy(cfg, rs),
		Rancher:  rs,
		NoEffect: append(noEffect(cfg, rs), configNotes(files.configs)...),
		Configs:  files.configs,
		Secrets:  files.secrets,
	}
	if cfg.ContainerName != "" && s.Scale > 1 {
		if rs.Scale == nil {
			return Service{}, srcs.at(cfg.Name, "container_name", fmt.Sprintf("container_name: %q needs scale 1, but scale is %d", cfg.ContainerName, s.Scale))
		}
		// rancher-compose's scale: Rancher 1.6 named a service's
		// containers itself and used container_name only to resolve
		// volumes_from, so such a file ran there.
		s.NoEffect = append(s.NoEffect, fmt.Sprintf("container_name: %q: no effect at scale %d from rancher-compose.yml: the containers are named <project>-%s-<n>, as Rancher named them itself", cfg.ContainerName, s.Scale, cfg.Name))
		cfg.ContainerName = ""
		s.Config = cfg
	}
	if s.Pull, err = ResolvePull(cfg); err != nil {
		return Service{}, srcs.at(cfg.Name, "pull_policy", err.Error())
	}
	if s.Proxy, err = proxied(cfg); err != nil {
		return Service{}, srcs.at(cfg.Name, "x-drover", err.Error())
	}
	if s.History, err = historyLimit(cfg); err != nil {
		return Service{}, srcs.at(cfg.Name, "x-drover", err.Error())
	}
	if s.Hash, s.Spec, err = Hash(cfg, contentDigests(files.configs, files.secrets)); err != nil {
		return Service{}, err
	}
	return s, nil
}

// proxied reads x-drover.proxy: whether drover's front proxy owns the
// service's published host ports. It does by default when every published
// port is one fixed TCP port on a service that joins networks (the proxy
// reaches it there); x-drover: {proxy: false} keeps the ports on the
// containers. A service without published ports has nothing for a proxy to
// own. An explicit true on ports the proxy cannot own is refused later, by
// the planner, with the port named.
func proxied(cfg types.ServiceConfig) (bool, error) {
	published := false
	for _, p := range cfg.Ports {
		published = published || p.Published != ""
	}
	if !published {
		return false, nil
	}
	if ext, ok := cfg.Extensions["x-drover"].(map[string]any); ok {
		if v, ok := ext["proxy"]; ok {
			on, ok := v.(bool)
			if !ok {
				return false, fmt.Errorf("x-drover.proxy: expected true or false, got %v", v)
			}
			return on, nil
		}
	}
	return proxyCanOwn(cfg), nil
}

// proxyCanOwn: the proxy splices TCP on fixed ports and reaches its
// backends on the project's networks.
func proxyCanOwn(cfg types.ServiceConfig) bool {
	switch mode := cfg.NetworkMode; {
	case mode == "host", mode == "none", strings.HasPrefix(mode, "service:"), strings.HasPrefix(mode, "container:"):
		return false
	}
	for _, p := range cfg.Ports {
		if p.Published == "" {
			continue
		}
		if p.Protocol != "" && p.Protocol != "tcp" || strings.Contains(p.Published, "-") {
			return false
		}
	}
	return true
}

// dependencyOrder returns the service names so that each comes after the
// services it depends on; among services that are free to go, by name.
// compose-go has already refused cycles and unknown dependencies.
func dependencyOrder(p *types.Project) []string {
	done := map[string]bool{}
	var order []string
	for len(order) < len(p.Services) {
		var ready []string
		for name, s := range p.Services {
			if done[name] {
				continue
			}
			ok := true
			for dep := range s.DependsOn {
				if _, exists := p.Services[dep]; exists && !done[dep] {
					ok = false
				}
			}
			if ok {
				ready = append(ready, name)
			}
		}
		if len(ready) == 0 {
			break // a cycle; compose-go reports it before we get here
		}
		sort.Strings(ready)
		for _, name := range ready {
			done[name] = true
		}
		order = append(order, ready...)
	}
	return order
}

// relativeFile shows the file of a FileError as the user would name it
// from the current directory.
func relativeFile(err error) error {
	var fe *FileError
	if errors.As(err, &fe) {
		fe.File = displayPath(fe.File)
	}
	return err
}

// loadError turns compose-go's errors into one line that names the file.
func loadError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "no configuration file provided") {
		return errors.New("no compose file found: looked for compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml in this directory and its parents; use -f FILE")
	}
	return err
}

// FallbackName is the name a project would have had, for the commands that
// go on from the containers' labels when the files do not load: -p,
// COMPOSE_PROJECT_NAME (from the environment or .env), a name: key read
// without validating the files, else the project directory, normalised as
// compose does. It is "" when there is neither a name nor a compose file.
func FallbackName(o Options) string {
	if o.ProjectName != "" {
		return o.ProjectName
	}
	popts, err := projectOptions(o)
	if err != nil {
		return os.Getenv("COMPOSE_PROJECT_NAME")
	}
	if env := popts.Environment["COMPOSE_PROJECT_NAME"]; env != "" {
		return env
	}
	name := ""
	for _, f := range popts.ConfigPaths {
		content, err := os.ReadFile(f)
		if err != nil {
			// A file named with -f that is not there is a mistake to
			// report, not a reason to guess a project.
			return ""
		}
		// A later file's name: overrides an earlier one's; one that needs
		// interpolation is left to compose-go, which could not load.
		if n := fileName(content); n != "" && !strings.Contains(n, "$") {
			name = n
		}
	}
	if name != "" {
		return loader.NormalizeProjectName(name)
	}
	dir, err := popts.GetWorkingDir()
	if err != nil {
		return ""
	}
	return loader.NormalizeProjectName(filepath.Base(dir))
}

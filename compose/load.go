package compose

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
}

// Load reads and validates a project. Every problem found in the files is
// reported here, before anything touches an engine.
func Load(ctx context.Context, o Options) (*Project, error) {
	cp, err := loadCompose(ctx, o)
	if err != nil {
		return nil, err
	}
	if cp, err = cp.WithServicesEnvironmentResolved(true); err != nil {
		return nil, err
	}
	if cp, err = cp.WithServicesLabelsResolved(true); err != nil {
		return nil, err
	}

	p := &Project{Name: cp.Name, WorkingDir: cp.WorkingDir, ConfigFiles: cp.ComposeFiles, Compose: cp}
	rf, err := readRancherFile(o.RancherFile, cp.ComposeFiles)
	if err != nil {
		return nil, err
	}
	if rf != nil {
		p.RancherFile = rf.Path
		if err := checkRancherServices(rf, func(name string) bool {
			_, ok := cp.Services[name]
			_, disabled := cp.DisabledServices[name]
			return ok || disabled
		}); err != nil {
			return nil, err
		}
	} else {
		rf = &RancherFile{}
	}

	for _, name := range dependencyOrder(cp) {
		s, err := newService(cp.Services[name], rf.Services[name])
		if err != nil {
			return nil, err
		}
		p.Services = append(p.Services, s)
		for _, n := range s.NoEffect {
			p.Warnings = append(p.Warnings, fmt.Sprintf("service %q: %s", s.Name, n))
		}
	}
	if rf.Catalog {
		p.Warnings = append(p.Warnings, fmt.Sprintf("%s: the catalog section (questions, version, description) is for the Rancher catalog UI: ignored", rf.Path))
	}
	return p, nil
}

// loadCompose loads the compose files with compose-go, converting files of
// the v1 layout first. It reads the files itself (compose-go would refuse a
// v1 file while parsing it), so it applies the name precedence compose-go's
// own project loading would: -p, COMPOSE_PROJECT_NAME, name:, the directory.
func loadCompose(ctx context.Context, o Options) (*types.Project, error) {
	popts, err := cli.NewProjectOptions(o.Files,
		cli.WithWorkingDirectory(o.ProjectDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
	)
	if err != nil {
		return nil, loadError(err)
	}
	workingDir, err := popts.GetWorkingDir()
	if err != nil {
		return nil, err
	}
	details, err := popts.ReadConfigFiles(ctx, workingDir, popts)
	if err != nil {
		return nil, loadError(err)
	}
	named := false
	for i, f := range details.ConfigFiles {
		v1, err := convertV1(f.Content)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Filename, err)
		}
		if v1 != nil {
			details.ConfigFiles[i].Config = v1
		}
		var top struct {
			Name string `yaml:"name"`
		}
		_ = yaml.Unmarshal(f.Content, &top)
		named = named || top.Name != ""
	}
	details.Environment = popts.Environment
	profiles := o.Profiles
	if len(profiles) == 0 && popts.Environment["COMPOSE_PROFILES"] != "" {
		profiles = strings.Split(popts.Environment["COMPOSE_PROFILES"], ",")
	}
	cp, err := loader.LoadWithContext(ctx, *details, func(lo *loader.Options) {
		lo.Profiles = profiles
		switch env := popts.Environment["COMPOSE_PROJECT_NAME"]; {
		case o.ProjectName != "":
			lo.SetProjectName(o.ProjectName, true)
		case env != "":
			lo.SetProjectName(env, true)
		case !named:
			lo.SetProjectName(loader.NormalizeProjectName(filepath.Base(workingDir)), false)
		}
	})
	if err != nil {
		return nil, withFiles(err, popts.ConfigPaths)
	}
	for _, f := range details.ConfigFiles {
		cp.ComposeFiles = append(cp.ComposeFiles, f.Filename)
	}
	return cp, nil
}

func newService(cfg types.ServiceConfig, rs RancherService) (Service, error) {
	bad, err := unsupportedKeys(cfg)
	if err != nil {
		return Service{}, fmt.Errorf("service %q: %w", cfg.Name, err)
	}
	if len(bad) > 0 {
		return Service{}, unsupportedError(cfg.Name, bad)
	}
	if cfg.Image == "" && cfg.Build == nil {
		return Service{}, fmt.Errorf("service %q: neither image nor build is set", cfg.Name)
	}
	s := Service{
		Name:     cfg.Name,
		Config:   cfg,
		Scale:    ResolveScale(cfg, rs),
		Policy:   ResolvePolicy(cfg, rs),
		Rancher:  rs,
		NoEffect: noEffect(cfg, rs),
	}
	if cfg.ContainerName != "" && s.Scale > 1 {
		return Service{}, fmt.Errorf("service %q: container_name %q needs scale 1, but scale is %d", cfg.Name, cfg.ContainerName, s.Scale)
	}
	if s.Hash, s.Spec, err = Hash(cfg); err != nil {
		return Service{}, err
	}
	return s, nil
}

// readRancherFile reads the file named by -r, or rancher-compose.yml beside
// the first compose file when -r is absent. Only a named file must exist.
func readRancherFile(named string, composeFiles []string) (*RancherFile, error) {
	path := named
	if path == "" {
		if len(composeFiles) == 0 {
			return nil, nil
		}
		path = filepath.Join(filepath.Dir(composeFiles[0]), "rancher-compose.yml")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	rf, err := ReadRancherFile(path)
	if err != nil {
		var fe *FileError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("rancher-compose file: %w", err)
	}
	return rf, nil
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

// withFiles names the compose files in an error that names none (YAML
// syntax errors from compose-go do not).
func withFiles(err error, files []string) error {
	for _, f := range files {
		if strings.Contains(err.Error(), filepath.Base(f)) {
			return err
		}
	}
	if len(files) == 0 {
		return err
	}
	return fmt.Errorf("%s: %w", strings.Join(files, ", "), err)
}

// loadError turns compose-go's errors into one line that names the file.
func loadError(err error) error {
	msg := err.Error()
	if strings.Contains(msg, "no configuration file provided") {
		return errors.New("no compose file found: looked for compose.yaml, compose.yml, docker-compose.yml, docker-compose.yaml in this directory and its parents; use -f FILE")
	}
	return err
}

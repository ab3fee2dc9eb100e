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
	"github.com/compose-spec/compose-go/v2/types"
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
	popts, err := cli.NewProjectOptions(o.Files,
		cli.WithWorkingDirectory(o.ProjectDir),
		cli.WithOsEnv,
		cli.WithEnvFiles(o.EnvFiles...),
		cli.WithDotEnv,
		cli.WithConfigFileEnv,
		cli.WithDefaultConfigPath,
		cli.WithName(o.ProjectName),
		cli.WithDefaultProfiles(o.Profiles...),
	)
	if err != nil {
		return nil, loadError(err)
	}
	cp, err := popts.LoadProject(ctx)
	if err != nil {
		return nil, loadError(withFiles(err, popts.ConfigPaths))
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
	}
	return p, nil
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
		Name:    cfg.Name,
		Config:  cfg,
		Scale:   ResolveScale(cfg, rs),
		Policy:  ResolvePolicy(cfg, rs),
		Rancher: rs,
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

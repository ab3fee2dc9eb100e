package compose

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/drover/drover/catalog"
)

// A Rancher 1.6 catalog entry is a compose project with questions in its
// rancher-compose.yml and, often, Go templates for files. This file puts
// package catalog between reading the files and compose-go: it resolves
// the questions, builds the environment every file is interpolated with,
// renders the templates, and reads the rancher-compose file.

// entry is what the files of a project became before compose-go reads
// them.
type entry struct {
	rancher   *RancherFile // nil when the project has no rancher-compose file
	questions []catalog.Value
	env       map[string]string
	warnings  []string
	// volumeNotes say what became of Rancher's volume extensions.
	volumeNotes []string
	// rendered are the files that were templates, by absolute path.
	rendered map[string]*catalog.Rendered
}

// templateLines places an error found in a rendered file at the line of
// the template it came from: the user edits the template, not its output.
func (e *entry) templateLines(err error) error {
	var fe *FileError
	if e == nil || !errors.As(err, &fe) || fe.Line == 0 {
		return err
	}
	if r := e.rendered[absPath(fe.File)]; r != nil {
		fe.Line = r.Line(fe.Line)
	}
	return err
}

func absPath(file string) string {
	if abs, err := filepath.Abs(file); err == nil {
		return abs
	}
	return file
}

// templateFile is the name of a catalog entry's templated compose file.
const templateFile = "docker-compose.yml.tpl"

// withCatalogTemplate makes a directory's docker-compose.yml.tpl its
// compose file when none is named (-f, COMPOSE_FILE): Rancher's catalog
// preferred it to a docker-compose.yml beside it.
func withCatalogTemplate(o *cli.ProjectOptions) error {
	if len(o.ConfigPaths) > 0 {
		return nil
	}
	dir, err := o.GetWorkingDir()
	if err != nil {
		return err
	}
	if tpl := filepath.Join(dir, templateFile); fileExists(tpl) {
		o.ConfigPaths = []string{tpl}
	}
	return nil
}

func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir()
}

// prepareEntry resolves a project's questions and renders its templates,
// changing details in place: its files' content rendered, its environment
// the one every file is interpolated with (answers files over the process
// environment over --env-file and .env over the questions' defaults). A
// question without an acceptable value is an error here, before anything
// reaches an engine.
func prepareEntry(o Options, details *types.ConfigDetails, env map[string]string, workingDir string) (*entry, error) {
	rpath, raw, err := rancherSource(o.RancherFile, details.ConfigFiles[0].Filename)
	if err != nil {
		return nil, err
	}
	var cat *catalog.Catalog
	if rpath != "" {
		if cat, err = catalog.Parse(displayPath(rpath), raw); err != nil {
			return nil, err
		}
	}
	answers, err := catalog.ReadAnswers(o.Answers)
	if err != nil {
		return nil, err
	}
	e := &entry{env: env, rendered: map[string]*catalog.Rendered{}}
	if cat != nil {
		if e.questions, err = cat.Resolve(env, answers); err != nil {
			return nil, err
		}
	}
	if cat != nil || len(answers) > 0 {
		e.env = catalog.Environment(env, e.questions, answers)
	}
	data := catalog.Data{
		Values: catalog.Values(e.questions, answers),
		Stack:  catalog.Stack{Name: stackName(o, e.env, details.ConfigFiles, workingDir)},
	}
	if cat != nil {
		data.Stack.Version = cat.Version
	}
	for i, f := range details.ConfigFiles {
		if !catalog.Templated(f.Filename, f.Content, cat != nil) {
			continue
		}
		r, err := catalog.Render(displayPath(f.Filename), f.Content, data)
		if err != nil {
			return nil, err
		}
		details.ConfigFiles[i].Content = r.Text
		e.rendered[absPath(f.Filename)] = r
	}
	if rpath == "" {
		return e, nil
	}
	if catalog.Templated(rpath, raw, cat != nil) {
		// The catalog section was read as written; the rest is rendered,
		// line for line.
		r, err := catalog.Render(displayPath(rpath), catalog.WithoutSection(raw), data)
		if err != nil {
			return nil, err
		}
		raw = r.Text
		e.rendered[absPath(rpath)] = r
	}
	rf, err := ParseRancherWith(rpath, raw, e.env)
	if err != nil {
		return nil, relativeFile(e.templateLines(err))
	}
	e.rancher = rf
	for _, w := range append(rf.Duplicates, rf.Unset...) {
		e.warnings = append(e.warnings, relativeFile(e.templateLines(w)).Error())
	}
	return e, nil
}

// rancherSource finds and reads the rancher-compose file: the one named by
// -r, else rancher-compose.yml.tpl or rancher-compose.yml beside the first
// compose file. Only a named file must exist; "" when there is none.
func rancherSource(named, firstCompose string) (string, []byte, error) {
	path := named
	if path == "" {
		dir := filepath.Dir(firstCompose)
		for _, name := range []string{"rancher-compose.yml.tpl", "rancher-compose.yml"} {
			if p := filepath.Join(dir, name); fileExists(p) {
				path = p
				break
			}
		}
		if path == "" {
			return "", nil, nil
		}
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && named == "" {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("rancher-compose file: %w", err)
	}
	return path, data, nil
}

// stackName is the project name a template sees as .Stack.Name, found as
// loadCompose finds it: -p, COMPOSE_PROJECT_NAME, a name: key (of a file
// that needs no rendering), the directory.
func stackName(o Options, env map[string]string, files []types.ConfigFile, workingDir string) string {
	if o.ProjectName != "" {
		return o.ProjectName
	}
	if n := env["COMPOSE_PROJECT_NAME"]; n != "" {
		return n
	}
	name := ""
	for _, f := range files {
		if n := fileName(f.Content); n != "" && !strings.Contains(n, "$") {
			name = n
		}
	}
	if name == "" {
		name = filepath.Base(workingDir)
	}
	return loader.NormalizeProjectName(name)
}

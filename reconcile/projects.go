package reconcile

import (
	"fmt"
	"sort"
	"strings"
)

// ProjectSummary is one project on an engine, as drover ls shows it.
type ProjectSummary struct {
	Name       string   `json:"name"`
	Services   []string `json:"services"`
	Running    int      `json:"running"`
	Containers int      `json:"containers"`
	// States sums the services' states: "web upgraded, db active".
	States     string `json:"states"`
	WorkingDir string `json:"working_dir,omitempty"`
}

// Projects groups containers from every project (each carries its
// project's label) into one summary per project, sorted by name.
func Projects(cs []Container) []ProjectSummary {
	byProject := map[string][]Container{}
	for _, c := range cs {
		p := c.Labels[LabelProject]
		byProject[p] = append(byProject[p], c)
	}
	var out []ProjectSummary
	for _, name := range sortedKeys(byProject) {
		mine, _ := accountable(byProject[name])
		ps := ProjectSummary{Name: name, Containers: len(byProject[name])}
		var states []string
		groups := byService(mine)
		for _, svc := range sortedKeys(groups) {
			view := viewOf(groups[svc], 0)
			ps.Services = append(ps.Services, svc)
			states = append(states, svc+" "+view.State.String())
		}
		for _, c := range byProject[name] {
			if c.Running() {
				ps.Running++
			}
			if ps.WorkingDir == "" {
				ps.WorkingDir = c.Labels[LabelWorkingDir]
			}
		}
		ps.States = strings.Join(states, ", ")
		out = append(out, ps)
	}
	return out
}

// NoProjectError is a project that has no container on the engine.
type NoProjectError struct {
	Name  string
	Known []string // the projects that do exist, sorted
}

func (e *NoProjectError) Error() string {
	if len(e.Known) == 0 {
		return fmt.Sprintf("no project %q on this engine: it has no Compose project at all", e.Name)
	}
	return fmt.Sprintf("no project %q on this engine; the projects here are: %s (drover ls lists them)", e.Name, strings.Join(e.Known, ", "))
}

// NoSuchProject is the error for a project that has no container on the
// engine, naming those that do.
func NoSuchProject(name string, all []ProjectSummary) error {
	e := &NoProjectError{Name: name}
	for _, p := range all {
		e.Known = append(e.Known, p.Name)
	}
	sort.Strings(e.Known)
	return e
}

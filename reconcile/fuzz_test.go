package reconcile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/drover/drover/history"
)

// FuzzLabels builds containers from arbitrary label values (garbage,
// conflicting, hostile) and plans every command on them: no plan may panic,
// and no step may touch a container that accountable left out.
func FuzzLabels(f *testing.F) {
	f.Add("web|1|1|demo-web-1|running|0", "web|1|2|demo-web-1-r2|exited|1")
	f.Add("web|1||demo-web-1|running|0", "web|1|1|x|running|0")
	f.Add("|0|x|odd|running|0", "web|99999|-3|demo-web-1-r1|dead|137")
	f.Add("web|2|2|demo-web-2|running|0", "web|2|2|demo-web-2-r2|created|0")
	f.Add("other|1|1|demo-other-1|running|0", "web|1|1|demo-web-1-r1|exited|0")
	// A history whose revision 1 has an odd spec: made again, it must be
	// refused or made, never panic.
	odd, _ := history.Encode([]history.Revision{{Number: 1, ImageID: "sha256:2", Spec: json.RawMessage(`{"image":"x","extra_hosts":{"a":[1]},"ports":[{"target":"x"}],"healthcheck":{"interval":5}}`)}})
	f.Add("web|1|2|demo-web-1|running|"+odd, "web|2|2|demo-web-2|running|0")
	p := load(f, fourWeb, "web:\n  scale: 2\n")
	f.Fuzz(func(t *testing.T, a, b string) {
		var cs []Container
		for i, spec := range []string{a, b} {
			parts := strings.SplitN(spec, "|", 6)
			for len(parts) < 6 {
				parts = append(parts, "")
			}
			// The last part is also the history label: arbitrary text.
			labels := map[string]string{LabelProject: "demo", LabelSpec: parts[3], LabelHistory: parts[5]}
			for k, v := range map[string]string{LabelService: parts[0], LabelNumber: parts[1], LabelRevision: parts[2]} {
				if v != "" {
					labels[k] = v
				}
			}
			c := Container{ID: "c" + string(rune('0'+i)), Name: parts[3], State: parts[4], Labels: labels, ExitCode: len(parts[5])}
			ContainerFromLabels(&c)
			cs = append(cs, c)
		}
		kept, _ := accountable(cs)
		ours := map[string]bool{}
		for _, c := range kept {
			ours[c.ID] = true
			ours[c.Name] = true
		}
		obs := Observed{Project: "demo", Containers: kept, Images: map[string]string{"drover-hello:v2": "sha256:2", "sha256:2": "sha256:2"}, Networks: map[string]bool{"demo_default": true}, APIVersion: "1.41"}
		sortContainers(obs.Containers)
		var plans []Plan
		if pl, err := Up(p, obs, Options{}); err == nil {
			plans = append(plans, pl)
		}
		if pl, err := Upgrade(p, obs, UpgradeOptions{}); err == nil {
			plans = append(plans, pl)
		}
		if pl, err := Rollback(obs, RollbackOptions{Timeout: time.Second}); err == nil {
			plans = append(plans, pl)
		}
		for _, rev := range []int{0, 1} {
			if pl, _, err := RollbackTo(p, obs, RollbackToOptions{Revision: rev}); err == nil {
				plans = append(plans, pl)
			}
		}
		History(obs, nil)
		for _, force := range []bool{false, true} {
			if pl, err := Confirm(obs, nil, force); err == nil {
				plans = append(plans, pl)
			}
		}
		Status(p, obs)
		Status(nil, obs)
		Roles(obs, []string{"web"})
		for _, pl := range plans {
			var steps []Step
			for _, sp := range pl.Services {
				steps = append(steps, flatten(sp.Steps)...)
			}
			for _, s := range append(steps, flatten(pl.Teardown)...) {
				if ref := touched(s.Action); ref != "" && !ours[ref] && !strings.HasPrefix(ref, "demo-") {
					t.Fatalf("step %s touches %q, which drover cannot account for", s, ref)
				}
			}
		}
	})
}

// touched is the container an action changes, "" for the others.
func touched(a Action) string {
	switch a := a.(type) {
	case StartContainer:
		return a.Ref
	case StopContainer:
		return a.Ref
	case RemoveContainer:
		return a.Ref
	case RenameContainer:
		return a.Ref
	case SetRestartPolicy:
		return a.Ref
	}
	return ""
}

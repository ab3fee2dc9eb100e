package compose

import (
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

func TestResolvePull(t *testing.T) {
	label := map[string]string{LabelPullImage: "always"}
	for _, tc := range []struct {
		name, policy string
		labels       map[string]string
		build        bool
		want, err    string
	}{
		{name: "default", want: "missing"},
		{name: "rancher label", labels: label, want: "always (label io.rancher.container.pull_image)"},
		{name: "pull_policy over the label", policy: "never", labels: label, want: "never (pull_policy)"},
		{name: "always", policy: "always", want: "always (pull_policy)"},
		{name: "if_not_present is missing", policy: "if_not_present", want: "missing (pull_policy)"},
		{name: "daily", policy: "daily", want: "refresh every 24h0m0s (pull_policy)"},
		{name: "weekly", policy: "weekly", want: "refresh every 168h0m0s (pull_policy)"},
		{name: "every", policy: "every_12h", want: "refresh every 12h0m0s (pull_policy)"},
		{name: "build", policy: "build", build: true, want: "build (pull_policy)"},
		{name: "build without build", policy: "build", err: "no build section"},
		{name: "unknown", policy: "sometimes", err: `pull_policy "sometimes": expected always`},
		{name: "bad duration", policy: "every_soon", err: `pull_policy "every_soon"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := types.ServiceConfig{Name: "web"}
			cfg.Image, cfg.PullPolicy, cfg.Labels = "web", tc.policy, tc.labels
			if tc.build {
				cfg.Build = &types.BuildConfig{Context: "."}
			}
			got, err := ResolvePull(cfg)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestPullDue(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	day := PullPolicy{Mode: PullRefresh, Every: 24 * time.Hour}
	for _, tc := range []struct {
		name    string
		pull    PullPolicy
		build   bool
		present bool
		tagged  time.Time
		want    Fetch
	}{
		{name: "missing, absent", pull: PullPolicy{Mode: PullMissing}, want: FetchPull},
		{name: "missing, present", pull: PullPolicy{Mode: PullMissing}, present: true, want: FetchNothing},
		{name: "never, absent", pull: PullPolicy{Mode: PullNever}, want: FetchNothing},
		{name: "always, present", pull: PullPolicy{Mode: PullAlways}, present: true, want: FetchPull},
		{name: "refresh, fresh", pull: day, present: true, tagged: now.Add(-23 * time.Hour), want: FetchNothing},
		{name: "refresh, stale", pull: day, present: true, tagged: now.Add(-24 * time.Hour), want: FetchPull},
		{name: "refresh, absent", pull: day, want: FetchPull},
		{name: "build, absent", pull: PullPolicy{Mode: PullMissing}, build: true, want: FetchBuild},
		{name: "build, present", pull: PullPolicy{Mode: PullMissing}, build: true, present: true, want: FetchNothing},
		{name: "build policy, present", pull: PullPolicy{Mode: PullBuild}, build: true, present: true, want: FetchBuild},
		{name: "always with build: built when missing only", pull: PullPolicy{Mode: PullAlways}, build: true, present: true, want: FetchNothing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := Service{Name: "web", Pull: tc.pull}
			s.Config.Image = "web"
			if tc.build {
				s.Config.Build = &types.BuildConfig{Context: "."}
			}
			if got := s.PullDue(tc.present, tc.tagged, now); got != tc.want {
				t.Fatalf("PullDue = %v, want %v", got, tc.want)
			}
		})
	}
}

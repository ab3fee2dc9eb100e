package main

import (
	"context"
	"sync"
	"time"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

// refresh pulls (or builds) before planning what the services' pull
// policies ask for now (reconcile.Refresh), so that a tag that moved in its
// registry is planned as a change. It returns whether it fetched anything:
// the caller then observes again. A failed pull stops the command here,
// before any change to a container.
func (a *app) refresh(ctx context.Context, s *session, services []string, obs reconcile.Observed, dryRun bool) (bool, error) {
	tagged := map[string]time.Time{}
	for _, svc := range s.project.Services {
		if svc.Pull.Mode != compose.PullRefresh {
			continue
		}
		ref := reconcile.NormalizeRef(reconcile.ImageRef(s.project.Name, svc.Config))
		if _, ok := obs.Images[ref]; !ok {
			continue
		}
		t, err := s.engine.LastTagged(ctx, ref)
		if err != nil {
			return false, err
		}
		tagged[ref] = t
	}
	plan, err := reconcile.Refresh(s.project, services, obs, tagged, time.Now())
	if err != nil || plan.Empty() {
		return false, err
	}
	if err := a.run(ctx, s, plan, dryRun, "pull"); err != nil {
		return false, err
	}
	return !dryRun, nil
}

// overrideFetch applies up's --pull and --build over the files' policies.
func (a *app) overrideFetch(s *session, f upFlags) {
	if f.pull != "" {
		s.project.OverridePull(f.pull)
	}
	if f.build {
		s.project.OverrideBuild()
	}
}

// refreshed runs refresh and returns the observation to plan from: read
// again when something was fetched.
func (a *app) refreshed(ctx context.Context, s *session, services []string, obs reconcile.Observed, dryRun bool) (reconcile.Observed, error) {
	fetched, err := a.refresh(ctx, s, services, obs, dryRun)
	if err != nil || !fetched {
		return obs, err
	}
	return s.observe(ctx)
}

// askRegistries asks the registries, side by side, for the digests of the
// tags the services follow (all: every service that pulls its image).
func (a *app) askRegistries(ctx context.Context, s *session, services []string, all bool) []reconcile.TagCheck {
	if s.project == nil {
		return nil
	}
	checks := reconcile.TagsToAsk(s.project, services, all)
	var wg sync.WaitGroup
	slots := make(chan struct{}, reconcile.FetchParallel)
	for i := range checks {
		wg.Add(1)
		go func(c *reconcile.TagCheck) {
			defer wg.Done()
			slots <- struct{}{}
			defer func() { <-slots }()
			c.Local, c.Remote, c.Err = s.engine.TagDigests(ctx, c.Ref)
		}(&checks[i])
	}
	wg.Wait()
	return checks
}

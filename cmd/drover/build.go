package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/pflag"

	"github.com/drover/drover/reconcile"
)

func buildCommand() command {
	return command{
		name: "build", args: "[SERVICE...]",
		summary: "Build the images of services that have a build section, through the engine's build API.",
		example: "  drover build\n  drover build --no-cache --build-arg RELEASE=42 web",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			var opts reconcile.BuildOptions
			fs.BoolVar(&opts.NoCache, "no-cache", false, "build every step again, without the build cache")
			fs.BoolVar(&opts.Pull, "pull", false, "pull a newer version of the base images")
			args := fs.StringArray("build-arg", nil, "KEY=VALUE build argument, over the files' build args (repeatable)")
			return func(ctx context.Context, a *app, services []string) error {
				for _, kv := range *args {
					k, v, ok := strings.Cut(kv, "=")
					if !ok || k == "" {
						return usageError{fmt.Sprintf("--build-arg %q: expected KEY=VALUE", kv)}
					}
					if opts.Args == nil {
						opts.Args = map[string]string{}
					}
					opts.Args[k] = v
				}
				s, err := a.open(ctx, filesRequired, false)
				if err != nil {
					return err
				}
				defer s.close()
				plan, err := reconcile.BuildPlan(s.project, services, opts)
				if err != nil {
					return err
				}
				return a.run(ctx, s, plan, false, "build")
			}
		},
	}
}

func pushCommand() command {
	return command{
		name: "push", args: "[SERVICE...]",
		summary: "Push the images that services build (build and image set) to their registries, with the Docker CLI's credentials.",
		example: "  drover build web && drover push web",
		flags: func(fs *pflag.FlagSet) func(context.Context, *app, []string) error {
			return func(ctx context.Context, a *app, services []string) error {
				s, err := a.open(ctx, filesRequired, false)
				if err != nil {
					return err
				}
				defer s.close()
				plan, err := reconcile.PushPlan(s.project, services)
				if err != nil {
					return err
				}
				return a.run(ctx, s, plan, false, "push")
			}
		},
	}
}

package main

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

// Shell completion ('drover completion bash|zsh|fish|powershell', cobra's):
// the shell asks 'drover __complete ARGS...' for the words that fit. Service
// names come from the project's files, else from the containers of the
// project named with -p; project names from the engine's labels.

// completeArgs is how a command's arguments complete, read from its
// synopsis: service names for [SERVICE...], "web=" for SERVICE=N, nothing
// (not even files) for the rest.
func (a *app) completeArgs(args string) cobra.CompletionFunc {
	switch {
	case strings.Contains(args, "SERVICE=N"):
		return a.completeServices("=", cobra.ShellCompDirectiveNoSpace)
	case strings.Contains(args, "SERVICE"):
		return a.completeServices("", 0)
	}
	return cobra.NoFileCompletions
}

// completeServices offers the services not already named.
func (a *app) completeServices(suffix string, directive cobra.ShellCompDirective) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		for _, name := range a.serviceNames(cmd.Context()) {
			given := slices.ContainsFunc(args, func(arg string) bool {
				n, _, _ := strings.Cut(arg, "=")
				return n == name
			})
			if !given && strings.HasPrefix(name, toComplete) {
				out = append(out, name+suffix)
			}
		}
		return out, directive | cobra.ShellCompDirectiveNoFileComp
	}
}

// serviceNames are the project's services: from its files, else from the
// containers on the engine of the project given with -p. A completion
// says nothing of errors: the shell just offers no word.
func (a *app) serviceNames(ctx context.Context) []string {
	if ctx == nil {
		ctx = context.Background()
	}
	if p, err := compose.Load(ctx, a.files); err == nil {
		var names []string
		for _, s := range p.Services {
			names = append(names, s.Name)
		}
		return names
	}
	name := a.projectNameOnly()
	if name == "" {
		return nil
	}
	d, err := a.connect(ctx)
	if err != nil {
		return nil
	}
	defer d.Close()
	cs, err := d.ListContainers(ctx, name)
	if err != nil {
		return nil
	}
	var names []string
	for _, c := range cs {
		if c.Service != "" && !slices.Contains(names, c.Service) {
			names = append(names, c.Service)
		}
	}
	slices.Sort(names)
	return names
}

// completeProjects offers the projects on the engine, drover's and docker
// compose's (as ls lists them).
func (a *app) completeProjects(cmd *cobra.Command, _ []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	d, err := a.connect(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	defer d.Close()
	cs, err := d.AllProjects(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, p := range reconcile.Projects(cs) {
		if strings.HasPrefix(p.Name, toComplete) {
			out = append(out, p.Name)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeGlobalFlags says how the global options' values complete.
func (a *app) completeGlobalFlags(root *cobra.Command) {
	_ = root.MarkFlagFilename("file", "yml", "yaml")
	_ = root.MarkFlagFilename("rancher-file", "yml", "yaml")
	_ = root.MarkFlagDirname("project-directory")
	for _, name := range []string{"env-file", "answers"} {
		if root.Flags().Lookup(name) != nil {
			_ = root.MarkFlagFilename(name)
		}
	}
	_ = root.RegisterFlagCompletionFunc("project-name", a.completeProjects)
	_ = root.RegisterFlagCompletionFunc("progress", cobra.FixedCompletions([]cobra.Completion{"auto", "tty", "plain", "json"}, cobra.ShellCompDirectiveNoFileComp))
}

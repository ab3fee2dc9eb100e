package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// printHelp writes a command's help in the Docker CLI's layout: usage line,
// description, commands, options, examples.
func printHelp(w io.Writer, cmd *cobra.Command) {
	desc := cmd.Long
	if desc == "" {
		desc = cmd.Short
	}
	fmt.Fprintf(w, "Usage:  %s\n\n%s\n", cmd.UseLine(), strings.TrimSpace(desc))
	if cmd.HasAvailableSubCommands() {
		width := 0
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				width = max(width, len(c.Name()))
			}
		}
		fmt.Fprintf(w, "\nCommands:\n")
		for _, c := range cmd.Commands() {
			if c.IsAvailableCommand() {
				fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name(), c.Short)
			}
		}
	}
	if cmd.HasAvailableLocalFlags() {
		header := "Options"
		if cmd.HasAvailableSubCommands() {
			header = "Global Options"
		}
		fmt.Fprintf(w, "\n%s:\n%s", header, flagUsages(cmd.LocalFlags()))
	}
	if cmd.Example != "" {
		fmt.Fprintf(w, "\nExamples:\n%s\n", strings.TrimRight(cmd.Example, "\n"))
	}
	if cmd.HasAvailableSubCommands() {
		fmt.Fprintf(w, "\nRun '%s COMMAND --help' for more information on a command.\n", cmd.CommandPath())
		return
	}
	fmt.Fprintf(w, "\nGlobal options (-f, -p, --progress...) go before the command: see '%s --help'.\n", droverRoot(cmd).CommandPath())
}

// droverRoot is the command that holds drover's global options: the root,
// or under docker (plugin.go) the drover command below docker's.
func droverRoot(cmd *cobra.Command) *cobra.Command {
	for cmd.HasParent() && cmd.Name() != pluginName {
		cmd = cmd.Parent()
	}
	return cmd
}

// flagUsages lists a flag set's flags as pflag's FlagUsages does, except
// that a boolean flag reads --flag: pflag 1.1 writes --flag[=true|false],
// which looks as if a value were expected.
func flagUsages(fs *pflag.FlagSet) string {
	type row struct{ left, usage string }
	var rows []row
	width := 0
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Hidden {
			return
		}
		left := "      --" + f.Name
		if f.Shorthand != "" {
			left = "  -" + f.Shorthand + ", --" + f.Name
		}
		varname, usage := pflag.UnquoteUsage(f)
		if f.Value.Type() != "bool" && varname != "" {
			left += " " + varname
		}
		usage += defaultText(f)
		width = max(width, len(left))
		rows = append(rows, row{left, usage})
	})
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "%-*s   %s\n", width, r.left, r.usage)
	}
	return b.String()
}

// defaultText is " (default X)" for a flag whose default is not its type's
// zero value, as pflag writes it.
func defaultText(f *pflag.Flag) string {
	switch f.DefValue {
	case "", "false", "[]", "0", "0s":
		return ""
	}
	if f.Value.Type() == "string" {
		return fmt.Sprintf(" (default %q)", f.DefValue)
	}
	return fmt.Sprintf(" (default %s)", f.DefValue)
}

// choice is a string flag that takes one of a few values, refused while
// the command line is read.
type choice struct {
	value   *string
	allowed []string
}

func (c *choice) String() string { return *c.value }
func (c *choice) Type() string   { return "string" }
func (c *choice) Set(v string) error {
	if !slices.Contains(c.allowed, v) {
		return fmt.Errorf("expected %s or %s", strings.Join(c.allowed[:len(c.allowed)-1], ", "), c.allowed[len(c.allowed)-1])
	}
	*c.value = v
	return nil
}

// commandTakenAsValue finds a global flag that took the command as its value
// ("drover -r up": -r read "up" as its file, and no command is left), so
// that drover can say which flag lacks a value instead of printing the
// usage. It returns the flag and the value it took, or nil.
func commandTakenAsValue(root *cobra.Command, args []string) (*pflag.Flag, string) {
	global := root.Flags()
	for i := 0; i+1 < len(args); i++ {
		var f *pflag.Flag
		switch a := args[i]; {
		case a == "--":
			return nil, ""
		case strings.HasPrefix(a, "--") && !strings.Contains(a, "="):
			f = global.Lookup(a[2:])
		case len(a) == 2 && a[0] == '-':
			f = global.ShorthandLookup(a[1:])
		}
		if f == nil || f.Value.Type() == "bool" {
			continue
		}
		if v := args[i+1]; subcommand(root, v) != nil {
			return f, v
		}
		i++ // the next argument is this flag's value
	}
	return nil, ""
}

// subcommand is root's command of that name, or nil.
func subcommand(root *cobra.Command, name string) *cobra.Command {
	for _, c := range root.Commands() {
		if c.Name() == name || c.HasAlias(name) {
			return c
		}
	}
	return nil
}

// flagName shows a flag as the user may have typed it: "-r/--rancher-file".
func flagName(f *pflag.Flag) string {
	if f.Shorthand != "" {
		return "-" + f.Shorthand + "/--" + f.Name
	}
	return "--" + f.Name
}

// commandFlagHint points at the command's own flag of the same letter, when
// it has one: "drover -r up" is most likely "drover up -r" (--rollback).
func commandFlagHint(root *cobra.Command, global *pflag.Flag, name string) string {
	cmd := subcommand(root, name)
	if cmd == nil || global.Shorthand == "" {
		return ""
	}
	if f := cmd.Flags().ShorthandLookup(global.Shorthand); f != nil {
		return fmt.Sprintf(" (for %s's own %s, write it after the command: drover %s -%s)", name, flagName(f), name, f.Shorthand)
	}
	return ""
}

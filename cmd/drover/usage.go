package main

import (
	"fmt"
	"strings"

	"github.com/spf13/pflag"
)

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

// commandTakenAsValue finds a global flag that took the command as its value
// ("drover -r up": -r read "up" as its file, and no command is left), so
// that drover can say which flag lacks a value instead of printing the
// usage. It returns the flag and the value it took, or nil.
func commandTakenAsValue(global *pflag.FlagSet, args []string) (*pflag.Flag, string) {
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
		if v := args[i+1]; isCommandName(v) {
			return f, v
		}
		i++ // the next argument is this flag's value
	}
	return nil, ""
}

func isCommandName(name string) bool {
	_, ok := findCommand(name)
	return ok || name == "help"
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
func commandFlagHint(global *pflag.Flag, name string) string {
	cmd, ok := findCommand(name)
	if !ok || global.Shorthand == "" {
		return ""
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	cmd.flags(fs)
	if f := fs.ShorthandLookup(global.Shorthand); f != nil {
		return fmt.Sprintf(" (for %s's own %s, write it after the command: drover %s -%s)", name, flagName(f), name, f.Shorthand)
	}
	return ""
}

// Command drover keeps a Docker engine in step with a compose project, in
// the style of rancher-compose: it creates what is missing, upgrades what
// changed in health-gated batches, and keeps the previous containers so that
// a bad release is rolled back in seconds.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/drover/drover/compose"
	"github.com/drover/drover/reconcile"
)

func main() {
	// compose-go warns through logrus, for instance that version: is
	// obsolete, which every Rancher-era file has; drover reports what
	// matters itself.
	logrus.SetLevel(logrus.ErrorLevel)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends drover at once
	}()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// app is the global options and the streams every command writes to.
type app struct {
	files    compose.Options
	progress string
	stdout   io.Writer
	stderr   io.Writer
}

// command is one subcommand: flags registers its flags and returns what runs
// it, so that help can list the flags without running anything.
type command struct {
	hidden  bool // not listed in the usage
	name    string
	args    string
	summary string
	example string
	flags   func(fs *pflag.FlagSet) func(ctx context.Context, a *app, args []string) error
}

func commands() []command {
	return []command{
		upCommand(), psCommand(), configCommand(), downCommand(),
		stopCommand(), startCommand(), restartCommand(), scaleCommand(),
		logsCommand(), pullCommand(), statusCommand(), diffCommand(), versionCommand(), unlockCommand(), lsCommand(), proxyCommand(),
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	global := pflag.NewFlagSet("drover", pflag.ContinueOnError)
	global.SetInterspersed(false)
	global.SetOutput(io.Discard)
	global.StringArrayVarP(&a.files.Files, "file", "f", nil, "compose file (repeatable; default: COMPOSE_FILE, else compose.yaml or docker-compose.yml and its override file)")
	global.StringVarP(&a.files.RancherFile, "rancher-file", "r", "", "rancher-compose file (default: rancher-compose.yml beside the first compose file)")
	global.StringVarP(&a.files.ProjectName, "project-name", "p", "", "project name (default: COMPOSE_PROJECT_NAME, the name: key, else the directory name)")
	global.StringVar(&a.files.ProjectDir, "project-directory", "", "working directory of the project (default: the first compose file's directory)")
	global.StringArrayVar(&a.files.EnvFiles, "env-file", nil, "environment file for interpolation (repeatable; default .env)")
	global.StringArrayVar(&a.files.Profiles, "profile", nil, "enable a profile (repeatable; default: COMPOSE_PROFILES)")
	global.StringVar(&a.progress, "progress", "auto", "progress output: auto, tty, plain or json")
	showVersion := global.Bool("version", false, "print drover's version and exit")
	help := global.BoolP("help", "h", false, "show this help")
	if err := global.Parse(args); err != nil {
		fmt.Fprintf(stderr, "drover: %v\nRun 'drover --help' for usage.\n", err)
		return 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "drover version %s\n", reconcile.Version)
		return 0
	}
	rest := global.Args()
	if f, v := commandTakenAsValue(global, args); f != nil && len(rest) == 0 && !*help {
		fmt.Fprintf(stderr, "drover: flag %s needs a value: it took %q, the command, as its value%s\nRun 'drover --help' for usage.\n", flagName(f), v, commandFlagHint(f, v))
		return 2
	}
	if *help || len(rest) == 0 {
		printUsage(stdout, global)
		if len(rest) == 0 && !*help {
			return 2
		}
		return 0
	}
	switch a.progress {
	case "auto", "tty", "plain", "json":
	default:
		fmt.Fprintf(stderr, "drover: --progress %q: expected auto, tty, plain or json\n", a.progress)
		return 2
	}
	if len(a.files.Profiles) == 0 && os.Getenv("COMPOSE_PROFILES") != "" {
		a.files.Profiles = strings.Split(os.Getenv("COMPOSE_PROFILES"), ",")
	}
	name, cmdArgs := rest[0], rest[1:]
	if name == "help" {
		return helpCommand(stdout, stderr, cmdArgs, global)
	}
	cmd, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "drover: unknown command %q\nRun 'drover --help' for the list of commands.\n", name)
		return 2
	}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	runCmd := cmd.flags(fs)
	cmdHelp := fs.BoolP("help", "h", false, "show this help")
	if err := fs.Parse(cmdArgs); err != nil {
		fmt.Fprintf(stderr, "drover %s: %v\nRun 'drover help %s' for usage.\n", name, err, name)
		return 2
	}
	if *cmdHelp {
		printCommandUsage(stdout, cmd, fs)
		return 0
	}
	if err := runCmd(ctx, a, fs.Args()); err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "drover %s: %v\nRun 'drover help %s' for usage.\n", name, err, name)
			return 2
		}
		fmt.Fprintf(stderr, "drover %s: %v\n", name, err)
		var ec interface{ ExitCode() int }
		if errors.As(err, &ec) {
			return ec.ExitCode()
		}
		return 1
	}
	return 0
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func helpCommand(stdout, stderr io.Writer, args []string, global *pflag.FlagSet) int {
	if len(args) == 0 {
		printUsage(stdout, global)
		return 0
	}
	cmd, ok := findCommand(args[0])
	if !ok {
		fmt.Fprintf(stderr, "drover: unknown command %q\n", args[0])
		return 2
	}
	fs := pflag.NewFlagSet(cmd.name, pflag.ContinueOnError)
	cmd.flags(fs)
	fs.BoolP("help", "h", false, "show this help")
	printCommandUsage(stdout, cmd, fs)
	return 0
}

func printUsage(w io.Writer, global *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: drover [OPTIONS] COMMAND [ARGS...]\n\n")
	fmt.Fprintf(w, "Keep a Docker engine in step with a compose project, with staged upgrades\nthat keep the previous containers for a rollback.\n\nCommands:\n")
	cmds := commands()
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].name < cmds[j].name })
	for _, c := range cmds {
		if !c.hidden {
			fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
		}
	}
	fmt.Fprintf(w, "\nOptions:\n%s\nRun 'drover help COMMAND' for a command's options and an example.\n", flagUsages(global))
}

func printCommandUsage(w io.Writer, c command, fs *pflag.FlagSet) {
	fmt.Fprintf(w, "Usage: drover [OPTIONS] %s [FLAGS] %s\n\n%s\n\nFlags:\n%s\nExample:\n%s\n", c.name, c.args, c.summary, flagUsages(fs), c.example)
}

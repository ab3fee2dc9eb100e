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
	"strconv"
	"strings"
	"syscall"

	cliflags "github.com/docker/cli/cli/flags"
	"github.com/sirupsen/logrus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/drover/drover/buildinfo"
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
	if isPlugin(os.Args[0]) {
		os.Exit(runPlugin(ctx, os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitStatus ends drover with a status and nothing more to say: what there
// was to say (the usage) is written.
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
func (e exitStatus) ExitCode() int { return int(e) }

// app is the global options and the streams every command writes to.
type app struct {
	files    compose.Options
	progress string
	engine   string // docker or swarm (--engine, DROVER_ENGINE)
	stdout   io.Writer
	stderr   io.Writer
	// docker holds the docker CLI's global options (-H, --context, TLS)
	// when drover runs as its plugin, read from dockerFlags; nil otherwise.
	docker      *cliflags.ClientOptions
	dockerFlags *pflag.FlagSet
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
		logsCommand(), pullCommand(), buildCommand(), pushCommand(), statusCommand(), diffCommand(), historyCommand(), versionCommand(), unlockCommand(), lsCommand(), proxyCommand(), uiCommand(),
	}
}

// run is drover with these arguments and streams; it returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	a := &app{stdout: stdout, stderr: stderr}
	return execute(ctx, newRootCommand(a, args), args, stdout, stderr)
}

// execute runs a command tree and turns its error into words on stderr and
// an exit status.
func execute(ctx context.Context, root *cobra.Command, args []string, stdout, stderr io.Writer) int {
	root.SetArgs(append([]string{}, args...))
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	var st exitStatus
	if errors.As(err, &st) {
		return int(st)
	}
	name := cmd.CommandPath()
	var ue usageError
	// The root command runs nothing: its every error is about the command
	// line, including the global flags' (cobra reads them while it looks for
	// the command, without its flag error hook).
	if errors.As(err, &ue) || !cmd.HasParent() {
		printUsageError(stderr, name, err)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return 1
}

// printUsageError says what is wrong with the command line and where the
// usage is.
func printUsageError(w io.Writer, name string, err error) {
	fmt.Fprintf(w, "%s: %v\nRun '%s --help' for usage.\n", name, err, name)
}

// newRootCommand is drover's command tree. The global options are the root
// command's own flags, written before the command as with docker
// (TraverseChildren), so that a command's flag may reuse a letter: -r is
// --rancher-file before the command and up's --rollback after it.
func newRootCommand(a *app, args []string) *cobra.Command {
	root := &cobra.Command{
		Use:   "drover [OPTIONS] COMMAND [ARGS...]",
		Short: "Keep a Docker engine in step with a compose project",
		Long: "Keep a Docker engine in step with a compose project, with staged upgrades\n" +
			"that keep the previous containers for a rollback.",
		Version:               buildinfo.Read(reconcile.Version).Version,
		TraverseChildren:      true,
		DisableFlagsInUseLine: true,
		SilenceErrors:         true,
		SilenceUsage:          true,
		// "stauts" is two letters from status.
		SuggestionsMinimumDistance: 2,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return unknownCommand(cmd, args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f, v := commandTakenAsValue(cmd, args); f != nil {
				return usageError{fmt.Sprintf("flag %s needs a value: it took %q, the command, as its value%s",
					flagName(f), v, commandFlagHint(cmd, f, v))}
			}
			cmd.HelpFunc()(cmd, nil)
			return exitStatus(2)
		},
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if len(a.files.Profiles) == 0 && os.Getenv("COMPOSE_PROFILES") != "" {
				a.files.Profiles = strings.Split(os.Getenv("COMPOSE_PROFILES"), ",")
			}
			// As docker compose: compose-go leaves COMPOSE_ENV_FILES to the
			// command line.
			if len(a.files.EnvFiles) == 0 && os.Getenv("COMPOSE_ENV_FILES") != "" {
				a.files.EnvFiles = strings.Split(os.Getenv("COMPOSE_ENV_FILES"), ",")
			}
			kind, err := engineKind(a.engine, droverRoot(cmd).Flags().Changed("engine"))
			if err != nil {
				return usageError{err.Error()}
			}
			a.engine = kind
			return nil
		},
	}
	root.SetVersionTemplate("drover version {{.Version}}\n")
	global := root.Flags()
	global.SetInterspersed(false)
	global.StringArrayVarP(&a.files.Files, "file", "f", nil, "compose file (repeatable; default: COMPOSE_FILE, else compose.yaml or docker-compose.yml and its override file)")
	global.StringVarP(&a.files.RancherFile, "rancher-file", "r", "", "rancher-compose file (default: rancher-compose.yml beside the first compose file)")
	global.StringVarP(&a.files.ProjectName, "project-name", "p", "", "project name (default: COMPOSE_PROJECT_NAME, the name: key, else the directory name)")
	global.StringVar(&a.files.ProjectDir, "project-directory", "", "working directory of the project (default: the first compose file's directory)")
	global.StringArrayVar(&a.files.EnvFiles, "env-file", nil, "environment file for interpolation (repeatable; default: COMPOSE_ENV_FILES, else .env)")
	global.StringArrayVar(&a.files.Answers, "answers", nil, "answers to a catalog entry's questions: KEY=VALUE lines, or a .yml/.json map (repeatable; a later file wins)")
	global.StringArrayVar(&a.files.Profiles, "profile", nil, "enable a profile (repeatable; default: COMPOSE_PROFILES)")
	a.progress = "auto"
	global.Var(&choice{value: &a.progress, allowed: []string{"auto", "tty", "plain", "json"}}, "progress", "progress output: auto, tty, plain or json")
	global.StringVar(&a.engine, "engine", "docker", "docker (one engine) or swarm (a Docker Swarm manager: services, Swarm's rolling updates and rollback) (default: DROVER_ENGINE, else docker)")
	global.Bool("version", false, "print drover's version and exit")
	global.BoolP("help", "h", false, "show this help")

	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err.Error()} })
	root.SetHelpFunc(func(cmd *cobra.Command, _ []string) { printHelp(cmd.OutOrStdout(), cmd) })
	root.SetHelpCommand(helpCommand(root))
	a.completeGlobalFlags(root)
	for _, c := range commands() {
		root.AddCommand(cobraCommand(a, c))
	}
	return root
}

// cobraCommand turns a command into cobra's: its flags go to cobra's flag
// set and its function runs with the arguments left.
func cobraCommand(a *app, c command) *cobra.Command {
	cc := &cobra.Command{
		Use:                   strings.TrimSpace(c.name + " [OPTIONS] " + c.args),
		Short:                 c.summary,
		Example:               c.example,
		Hidden:                c.hidden,
		DisableFlagsInUseLine: true,
	}
	runCmd := c.flags(cc.Flags())
	cc.Flags().BoolP("help", "h", false, "show this help")
	cc.ValidArgsFunction = a.completeArgs(c.args)
	if cc.Flags().Lookup("project-name") != nil { // unlock's -p, after the command
		_ = cc.RegisterFlagCompletionFunc("project-name", a.completeProjects)
	}
	cc.RunE = func(cmd *cobra.Command, args []string) error {
		if a.engine == "swarm" {
			sw, err := swarmRunner(c.name, cmd.Flags())
			if err != nil {
				return err
			}
			if sw != nil {
				return sw(cmd.Context(), a, args)
			}
		}
		return runCmd(cmd.Context(), a, args)
	}
	return cc
}

// helpCommand is "drover help [COMMAND]": the help of drover or of one
// command; an unknown command is a usage error, as elsewhere.
func helpCommand(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "help [COMMAND]",
		Short:  "Show the help of drover or of a command.",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			target, rest, err := root.Find(args)
			if err != nil {
				return usageError{err.Error()}
			}
			if len(rest) > 0 {
				// The mistake is in the command named, not in help's usage.
				printUsageError(cmd.ErrOrStderr(), root.Name(), unknownCommand(root, rest[0]))
				return exitStatus(2)
			}
			target.InitDefaultHelpFlag()
			target.HelpFunc()(target, nil)
			return nil
		},
	}
}

// unknownCommand names the command typed, with the nearest ones drover has.
func unknownCommand(root *cobra.Command, name string) error {
	msg := fmt.Sprintf("unknown command %q", name)
	if s := root.SuggestionsFor(name); len(s) > 0 {
		quoted := make([]string, len(s))
		for i, n := range s {
			quoted[i] = strconv.Quote(n)
		}
		msg += fmt.Sprintf(" (did you mean %s?)", strings.Join(quoted, " or "))
	}
	return usageError{msg}
}

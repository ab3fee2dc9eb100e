package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A global flag that swallowed the command says so, and help shows boolean
// flags without a value.
func TestFlagMistakes(t *testing.T) {
	cases := []struct {
		name string
		args []string
		code int
		want string
		not  string
	}{
		{"flag took the command", []string{"-r", "up"}, 2,
			`drover: flag -r/--rancher-file needs a value: it took "up", the command, as its value (for up's own -r/--rollback, write it after the command: drover up -r)`, "Usage:"},
		{"long flag took the command", []string{"--project-name", "ps"}, 2,
			`drover: flag -p/--project-name needs a value: it took "ps", the command, as its value`, "Usage:"},
		{"flag at the end", []string{"-p"}, 2, "drover: flag needs an argument: 'p' in -p", ""},
		{"a value that is a file", []string{"-r", "up.yml"}, 2, "Usage:  drover", "needs a value"},
		{"help shows booleans bare", []string{"--help"}, 0, "  -h, --help ", "[=true|false]"},
		{"command help shows booleans bare", []string{"help", "up"}, 0, "  -u, --upgrade ", "[=true|false]"},
		{"string default quoted", []string{"--help"}, 0, `progress output: auto, tty, plain or json (default "auto")`, ""},
		{"mistyped command", []string{"stauts"}, 2, `drover: unknown command "stauts" (did you mean "start" or "status"?)`, "Usage:"},
		{"help of an unknown command", []string{"help", "nope"}, 2, `drover: unknown command "nope"`, "Usage:"},
		{"unknown flag of a command", []string{"up", "--nope"}, 2, "drover up: unknown flag: --nope\nRun 'drover up --help' for usage.", "Usage:"},
		{"global flag after the command", []string{"ps", "--project-directory", "x"}, 2, "drover ps: unknown flag: --project-directory", ""},
		{"bad choice", []string{"--progress", "fancy", "ps"}, 2, `drover: invalid argument "fancy" for "--progress" flag: expected auto, tty, plain or json`, ""},
		{"help in the Docker CLI's layout", []string{"--help"}, 0, "Usage:  drover [OPTIONS] COMMAND [ARGS...]\n\nKeep a Docker engine", ""},
		{"global options listed", []string{"--help"}, 0, "\nGlobal Options:\n", ""},
		{"command help layout", []string{"ps", "--help"}, 0, "Usage:  drover ps [OPTIONS] [SERVICE...]\n\nList the project's containers", ""},
		{"hidden command not listed", []string{"--help"}, 0, "  version ", "  proxy "},
	}
	// Every command has a help of its own, with its examples.
	for _, c := range commands() {
		cases = append(cases, struct {
			name string
			args []string
			code int
			want string
			not  string
		}{"help of " + c.name, []string{c.name, "--help"}, 0, "Usage:  drover " + c.name + " ", "[=true|false]"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), tc.args, &out, &errb)
			all := out.String() + errb.String()
			if code != tc.code || !strings.Contains(all, tc.want) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d and %q", code, all, tc.code, tc.want)
			}
			if tc.not != "" && strings.Contains(all, tc.not) {
				t.Errorf("output has %q:\n%s", tc.not, all)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
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

// The COMPOSE_* variables choose the files, env files, profiles and
// project name as they do for docker compose; a flag comes before its
// variable.
func TestComposeVariables(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"one.yml":   "services:\n  web:\n    image: x:${TAG}\n  extra:\n    image: y\n    profiles: [debug]\n",
		"two.yml":   "services:\n  web:\n    environment:\n      FROM: two\n",
		"a.env":     "TAG=from-a\n",
		"b.env":     "TAG=from-b\n",
		".env":      "TAG=from-dotenv\n",
		"other.env": "TAG=from-flag\n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Chdir(dir)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want []string
		not  []string
	}{
		{"COMPOSE_FILE, COMPOSE_PATH_SEPARATOR", map[string]string{"COMPOSE_FILE": "one.yml;two.yml", "COMPOSE_PATH_SEPARATOR": ";"}, nil,
			[]string{"FROM: two", "image: x:from-dotenv"}, nil},
		{"COMPOSE_ENV_FILES, the later wins", map[string]string{"COMPOSE_FILE": "one.yml", "COMPOSE_ENV_FILES": "a.env,b.env"}, nil,
			[]string{"image: x:from-b"}, nil},
		{"--env-file over COMPOSE_ENV_FILES", map[string]string{"COMPOSE_FILE": "one.yml", "COMPOSE_ENV_FILES": "a.env"}, []string{"--env-file", "other.env"},
			[]string{"image: x:from-flag"}, nil},
		{"COMPOSE_PROFILES", map[string]string{"COMPOSE_FILE": "one.yml", "COMPOSE_PROFILES": "debug"}, nil,
			[]string{"extra:"}, nil},
		{"no profile", map[string]string{"COMPOSE_FILE": "one.yml"}, nil, nil, []string{"extra:"}},
		{"COMPOSE_PROJECT_NAME", map[string]string{"COMPOSE_FILE": "one.yml", "COMPOSE_PROJECT_NAME": "fromenv"}, nil,
			[]string{"name: fromenv"}, nil},
		{"-p over COMPOSE_PROJECT_NAME", map[string]string{"COMPOSE_FILE": "one.yml", "COMPOSE_PROJECT_NAME": "fromenv"}, []string{"-p", "fromflag"},
			[]string{"name: fromflag"}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"COMPOSE_FILE", "COMPOSE_PATH_SEPARATOR", "COMPOSE_ENV_FILES", "COMPOSE_PROFILES", "COMPOSE_PROJECT_NAME"} {
				t.Setenv(k, tc.env[k])
			}
			var out, errb bytes.Buffer
			if code := run(context.Background(), append(tc.args, "config"), &out, &errb); code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("config lacks %q:\n%s", w, out.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out.String(), n) {
					t.Errorf("config has %q:\n%s", n, out.String())
				}
			}
		})
	}
}

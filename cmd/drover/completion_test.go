package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// What 'drover __complete ...', which the shells' scripts run, offers:
// service names from the files, flags, commands, choices. No engine.
func TestComplete(t *testing.T) {
	file := filepath.Join(t.TempDir(), "compose.yaml")
	if err := os.WriteFile(file, []byte("services:\n  web:\n    image: x\n  worker:\n    image: x\n  db:\n    image: y\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string // the words offered, then the directive, one a line
	}{
		{"services", []string{"-f", file, "up", ""}, "db\nweb\nworker\n:4"},
		{"services not yet named", []string{"-f", file, "logs", "web", "w"}, "worker\n:4"},
		{"scale: name= without a space", []string{"-f", file, "scale", "w"}, "web=\nworker=\n:6"},
		{"no files for a command without arguments", []string{"-f", file, "config", ""}, ":4"},
		{"commands", []string{"-f", file, "sta"}, "start\t"},
		{"a command's flags", []string{"up", "--con"}, "--confirm-upgrade\t"},
		{"choices", []string{"--progress", ""}, "auto\ntty\nplain\njson\n:4"},
		{"compose files", []string{"-f", ""}, "yml\nyaml\n:8"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(context.Background(), append([]string{"__complete"}, tc.args...), &out, &errb)
			if code != 0 || !strings.Contains(out.String(), tc.want) {
				t.Errorf("exit %d, offered:\n%s\nwant %q", code, out.String()+errb.String(), tc.want)
			}
		})
	}
	for shell, want := range map[string]string{"bash": "__start_drover", "zsh": "#compdef drover", "fish": "complete -c drover", "powershell": "Register-ArgumentCompleter"} {
		var out, errb bytes.Buffer
		if code := run(context.Background(), []string{"completion", shell}, &out, &errb); code != 0 || !strings.Contains(out.String(), want) {
			t.Errorf("completion %s: exit %d, no %q in the script:\n%.300s", shell, code, want, out.String()+errb.String())
		}
	}
}

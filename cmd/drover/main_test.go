package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseInterval(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"1500", 1500 * time.Millisecond, false},
		{"0", 0, false},
		{"1.5s", 1500 * time.Millisecond, false},
		{"250ms", 250 * time.Millisecond, false},
		{"soon", 0, true},
		{"-1s", 0, true},
	}
	for _, tc := range cases {
		got, err := parseInterval(tc.in)
		if (err != nil) != tc.err || (err == nil && *got != tc.want) {
			t.Errorf("parseInterval(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// The command line's own mistakes exit 2 without reaching an engine.
func TestUsage(t *testing.T) {
	cases := []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"--version"}, 0, "drover version"},
		{[]string{"help", "up"}, 0, "--confirm-upgrade"},
		{[]string{"up", "-h"}, 0, "Examples:"},
		{[]string{}, 2, "Usage:  drover"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"--progress", "fancy", "ps"}, 2, "expected auto, tty, plain or json"},
		{[]string{"up", "--rollback", "--upgrade"}, 2, "--rollback goes with no other upgrade flag"},
		{[]string{"up", "--interval", "soon"}, 2, `--interval "soon"`},
		{[]string{"scale", "web"}, 2, "expected SERVICE=N"},
		{[]string{"version", "--format", "yaml"}, 2, `--format "yaml": expected text or json`},
		{[]string{"status", "--format", "yaml"}, 2, `--format "yaml": expected table or json`},
		{[]string{"history", "--format", "yaml"}, 2, `--format "yaml": expected table or json`},
		{[]string{"ls", "--format", "yaml"}, 2, `--format "yaml": expected table or json`},
		{[]string{"ps", "--format", "yaml"}, 2, `--format "yaml": expected table or json`},
	}
	for _, tc := range cases {
		var out, errb bytes.Buffer
		code := run(context.Background(), tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.out) {
			t.Errorf("drover %v: exit %d, output:\n%s%s\nwant exit %d and %q", tc.args, code, out.String(), errb.String(), tc.code, tc.out)
		}
	}
}

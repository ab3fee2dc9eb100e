package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// The docker CLI takes a plugin whose metadata has schema 0.1.0 and a
// vendor; the plugin answers under docker's options, then its name.
func TestPlugin(t *testing.T) {
	if !isPlugin("/root/.docker/cli-plugins/docker-drover") || isPlugin("/usr/local/bin/drover") {
		t.Error("isPlugin does not tell docker-drover from drover")
	}
	var out, errb bytes.Buffer
	if code := runPlugin(context.Background(), []string{"docker-cli-plugin-metadata"}, &out, &errb); code != 0 {
		t.Fatalf("metadata: exit %d: %s", code, errb.String())
	}
	var meta pluginMetadata
	if err := json.Unmarshal(out.Bytes(), &meta); err != nil || meta.SchemaVersion != "0.1.0" || meta.Vendor == "" || meta.ShortDescription == "" {
		t.Errorf("metadata %+v, %v:\n%s", meta, err, out.String())
	}
	cases := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"drover", "--help"}, 0, "Usage:  docker drover [OPTIONS] COMMAND [ARGS...]"},
		{[]string{"--context", "x", "drover", "up", "--help"}, 0, "Usage:  docker drover up [OPTIONS] [SERVICE...]"},
		{[]string{"-H", "unix:///x.sock", "drover", "-r", "up"}, 2, `docker drover: flag -r/--rancher-file needs a value: it took "up", the command, as its value`},
		{[]string{"drover", "stauts"}, 2, `unknown command "stauts" (did you mean "start" or "status"?)`},
		{[]string{"drover", "version"}, 0, "drover version "},
	}
	for _, tc := range cases {
		out.Reset()
		errb.Reset()
		code := runPlugin(context.Background(), tc.args, &out, &errb)
		if all := out.String() + errb.String(); code != tc.code || !strings.Contains(all, tc.want) {
			t.Errorf("docker-drover %v: exit %d:\n%s\nwant exit %d and %q", tc.args, code, all, tc.code, tc.want)
		}
	}
}

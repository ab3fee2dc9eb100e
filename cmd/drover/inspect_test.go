package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
)

// config --questions lists a catalog entry's questions with their values,
// a password masked, without reaching an engine.
func TestConfigQuestions(t *testing.T) {
	for _, k := range []string{"COMPOSE_FILE", "COMPOSE_PROJECT_NAME", "GREETING", "PORT", "VERSION"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	dir := "../../compose/testdata/projects/catalog"
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"--project-directory", dir, "--answers", dir + "/answers.txt", "config", "--questions"}, &out, &errb)
	if code != 0 {
		t.Fatalf("exit %d:\n%s%s", code, out.String(), errb.String())
	}
	var lines []string // each line's fields, one space apart
	for _, l := range strings.Split(out.String(), "\n") {
		lines = append(lines, strings.Join(strings.Fields(l), " "))
	}
	got := strings.Join(lines, "\n")
	for _, want := range []string{
		"VARIABLE TYPE VALUE FROM LABEL",
		"VERSION enum v1 default Version of the hello image",
		"PORT int 8991 " + dir + "/answers.txt:2",
		"GREETING string from the .env file environment",
		"ADMIN_PASSWORD password ******** " + dir + "/answers.txt:3",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "s3cret") {
		t.Errorf("the password is shown:\n%s", got)
	}
}

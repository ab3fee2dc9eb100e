package engine

import (
	"context"
	"fmt"
	"strings"

	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/errdefs"
	"github.com/docker/docker/pkg/stdcopy"

	"github.com/drover/drover/reconcile"
)

// hookOutputTail bounds how much of a hook's output is kept for its error,
// as docker compose does (its last 2 KiB).
const hookOutputTail = 2048

// RunHook runs a lifecycle hook in a running container with the options
// docker compose gives it (user, privileged, working directory,
// environment), and returns its exit code and the end of its output:
// standard error when it wrote any, which usually says what went wrong,
// else standard output. Ctrl-C (ctx) closes the connection and returns.
func (d *Docker) RunHook(ctx context.Context, ref string, h reconcile.Hook) (int, string, error) {
	created, err := d.c.ContainerExecCreate(ctx, ref, container.ExecOptions{
		Cmd: h.Command, User: h.User, Privileged: h.Privileged, WorkingDir: h.WorkingDir, Env: h.Env,
		AttachStdout: true, AttachStderr: true,
	})
	if errdefs.IsConflict(err) {
		return 0, "", fmt.Errorf("exec in %s: %w: %v", ref, reconcile.ErrNotRunning, err)
	}
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: %w", ref, err)
	}
	att, err := d.c.ContainerExecAttach(ctx, created.ID, container.ExecAttachOptions{})
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: POST /exec/%s/start: %w", ref, created.ID, err)
	}
	defer att.Close()
	var out, errOut tail
	copied := make(chan error, 1)
	go func() {
		_, err := stdcopy.StdCopy(&out, &errOut, att.Reader)
		copied <- err
	}()
	select {
	case err = <-copied:
	case <-ctx.Done():
		att.Close()
		<-copied
		return 0, "", fmt.Errorf("exec in %s: %w", ref, ctx.Err())
	}
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: POST /exec/%s/start: reading its output: %w", ref, created.ID, err)
	}
	info, err := d.c.ContainerExecInspect(ctx, created.ID)
	if err != nil {
		return 0, "", fmt.Errorf("exec in %s: %w", ref, err)
	}
	output := errOut.String()
	if output == "" {
		output = out.String()
	}
	return info.ExitCode, output, nil
}

// tail keeps the last hookOutputTail bytes written to it, so a chatty hook
// never grows drover's memory.
type tail struct{ buf []byte }

func (t *tail) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - hookOutputTail; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	return strings.TrimSpace(strings.ToValidUTF8(string(t.buf), ""))
}

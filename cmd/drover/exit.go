package main

import (
	"fmt"
	"strings"
)

// Exit statuses beyond 0 (the project reached the asked state), 1 (failed)
// and 2 (a command-line mistake), so that a CI job can tell the cases
// apart. The README lists them.
const (
	// exitNotConverged: a plain up did what it could, but left services out
	// of sync or between revisions; --upgrade or --rollback is needed.
	exitNotConverged = 3
	// exitInterrupted: Ctrl-C or SIGTERM; what to run next was printed.
	exitInterrupted = 130
)

// interrupted is an error from a run that a signal stopped.
type interrupted struct{ err error }

func (e interrupted) Error() string { return e.err.Error() }
func (e interrupted) Unwrap() error { return e.err }
func (interrupted) ExitCode() int   { return exitInterrupted }

// notConverged lists the services a plain up left as they were, and why.
type notConverged struct{ left []string }

func (e notConverged) Error() string {
	return fmt.Sprintf("not in step with the files: %s", strings.Join(e.left, "; "))
}
func (notConverged) ExitCode() int { return exitNotConverged }

// exitHeld: another run holds the project's lease; nothing was changed.
const exitHeld = 4

// held marks a refusal because another run holds the project's lease.
type held struct{ err error }

func (e held) Error() string { return e.err.Error() }
func (e held) Unwrap() error { return e.err }
func (held) ExitCode() int   { return exitHeld }

// Package scripts holds the tests of the shell scripts beside it. They source setup.sh,
// which then only defines its functions, and run its helpers in isolation: the setup
// itself installs packages and starts a cluster, which a test must not do.
package scripts

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// helper runs a bash snippet after sourcing setup.sh and returns its stdout, stderr and
// exit status. setup.sh is sourced with an argument no component answers to, so a script
// that ran its setup when sourced would stop at once instead of creating a cluster.
func helper(t *testing.T, snippet string, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	script := "source ./setup.sh --only-define-functions\n" + snippet
	cmd := exec.Command("bash", append([]string{"-c", script, "snippet"}, args...)...)
	var out, errOut strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		status = exit.ExitCode()
	default:
		require.NoError(t, err)
	}
	return out.String(), errOut.String(), status
}

func TestSetupScriptParses(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("bash", "-n", "setup.sh").CombinedOutput()
	require.NoError(t, err, string(out))
}

func TestSourcingSetupRunsNothing(t *testing.T) {
	t.Parallel()
	stdout, stderr, status := helper(t, "echo sourced")
	assert.Equal(t, 0, status)
	assert.Equal(t, "sourced\n", stdout)
	assert.Empty(t, stderr, "sourcing must not set anything up")
}

// A step shows one line on the terminal and keeps what its command printed in the log; a
// failed step shows the log's last lines and where the whole log is.
func TestStepKeepsOutputInItsLog(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		command    string // a shell function body, run as the step
		wantStatus int
		wantLine   string   // the terminal's step line, as a regular expression
		wantShown  []string // besides the step line, on the terminal
		notShown   []string
		wantLogged []string
	}{
		{name: "success shows only the step", command: `echo "gcc -O2 -c vector.c"; echo warning: unused >&2`,
			wantLine:   `^setup: building pgvector \(log: \S+/build\.log\)… done in \d+ s\n$`,
			notShown:   []string{"gcc", "warning"},
			wantLogged: []string{"gcc -O2 -c vector.c", "warning: unused", "building pgvector"}},
		{name: "failure shows the log's tail and its path",
			command:    `for i in $(seq 1 100); do echo "compiler line $i"; done; echo "vector.c:12: error: boom" >&2; return 2`,
			wantStatus: 1,
			wantLine:   `^setup: building pgvector \(log: \S+/build\.log\)… failed after \d+ s\n`,
			wantShown: []string{"  | compiler line 100\n", "  | vector.c:12: error: boom\n",
				"setup: error: building pgvector failed (exit status 2); the whole log is "},
			notShown:   []string{"compiler line 50\n"},
			wantLogged: []string{"compiler line 1\n", "compiler line 100\n", "error: boom"}},
		{name: "a function stops at its first failing command", command: `echo first; false; echo after-the-failure`,
			wantStatus: 1,
			wantLine:   `failed after \d+ s\n`,
			wantShown:  []string{"  | first\n", "exit status 1"},
			notShown:   []string{"after-the-failure"},
			wantLogged: []string{"first"}},
		{name: "the command reads no input", command: `read -r line || echo "stdin is empty"`,
			wantLine: `done in \d+ s\n$`, wantLogged: []string{"stdin is empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			logFile := filepath.Join(t.TempDir(), "logs", "build.log")
			snippet := fmt.Sprintf("work() { %s; }\nstep 'building pgvector' \"$1\" work\necho reached-the-end", tt.command)
			stdout, stderr, status := helper(t, snippet, logFile)

			assert.Equal(t, tt.wantStatus, status, stderr)
			if tt.wantStatus == 0 {
				assert.Equal(t, "reached-the-end\n", stdout)
			} else {
				assert.Empty(t, stdout, "a failed step stops the setup")
				assert.Contains(t, stderr, logFile)
			}
			assert.Regexp(t, tt.wantLine, stderr)
			for _, w := range tt.wantShown {
				assert.Contains(t, stderr, w)
			}
			for _, w := range tt.notShown {
				assert.NotContains(t, stderr, w)
			}
			logged, err := os.ReadFile(logFile)
			require.NoError(t, err)
			for _, w := range tt.wantLogged {
				assert.Contains(t, string(logged), w)
			}
		})
	}
}

// Steps append to their log, so installing two things in a row keeps both outputs.
func TestStepsAppendToTheirLog(t *testing.T) {
	t.Parallel()
	logFile := filepath.Join(t.TempDir(), "apt.log")
	_, stderr, status := helper(t, `step one "$1" echo first-output; step two "$1" echo second-output`, logFile)
	require.Equal(t, 0, status, stderr)
	logged, err := os.ReadFile(logFile)
	require.NoError(t, err)
	assert.Regexp(t, `(?s)== .*: one\n\$ echo first-output\nfirst-output\n.*== .*: two\n\$ echo second-output\nsecond-output\n`, string(logged))
	assert.Equal(t, 2, strings.Count(stderr, "\n"), "one terminal line per step")
}

func TestSetupHelpers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "pgvector_0.8.0-1.dsc"), nil, 0o600))
	tests := []struct {
		name, snippet, want string
	}{
		{"a log inside the checkout is shown relative to it", `show_path "$root/.mentor/pgvector-build.log"`, ".mentor/pgvector-build.log"},
		{"a path elsewhere is shown whole", `show_path /var/tmp/mentor-pg/data`, "/var/tmp/mentor-pg/data"},
		{"seconds", `SECONDS=50; took 8`, "42 s"},
		{"minutes and seconds", `SECONDS=425; took 0`, "7 min 5 s"},
		{"the upstream version of an unpacked source package", `source_version "$1"`, "0.8.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stdout, stderr, status := helper(t, tt.snippet, dir)
			require.Equal(t, 0, status, stderr)
			assert.Equal(t, tt.want, stdout)
		})
	}
}

package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
)

const topUsage = `Mentor: the workbench where people teach AI assistants.

Usage: mentor <command> [flags]

Commands:
  serve     serve the web UI and API (migrates the database first)
  export    write a dataset (TRL, OpenAI, ShareGPT, Alpaca, rankings) with a manifest and card
  migrate   apply or roll back the database schema: up, down, status
  user      manage accounts: add, disable, enable, reset-password
  import    import documents into a knowledge corpus: import documents PATH…
  search    search a knowledge corpus and show each passage's score parts
  leaderboard  print a project's Bradley–Terry leaderboard from trainers' votes (csv or json)
  vector-index check or repair the HNSW indexes: recall@10 on the questions asked of each
  version   print the version

Run "mentor <command> --help" for a command's flags and their environment variables.
`

// run is the whole program; main only calls it. Tests call it too, with their own
// arguments, environment and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	if len(args) < 2 {
		fmt.Fprint(stderr, topUsage)
		return errUsage
	}
	cmd, rest := args[1], args[2:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, getenv, stdout, stderr)
	case "export":
		return runExport(ctx, rest, getenv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, getenv, stdout, stderr)
	case "user":
		return runUser(ctx, rest, getenv, stdin, stdout, stderr)
	case "import":
		return runImport(ctx, rest, getenv, stdout, stderr)
	case "search":
		return runSearch(ctx, rest, getenv, stdout, stderr)
	case "leaderboard": // issue 15
		return runLeaderboard(ctx, rest, getenv, stdout, stderr)
	case "vector-index": // issue 17
		return runVectorIndex(ctx, rest, getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "mentor", buildVersion())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, topUsage)
		return nil
	default:
		fmt.Fprintf(stderr, "mentor: unknown command %q\n\n%s", cmd, topUsage)
		return errUsage
	}
}

// buildVersion is the module version and VCS revision that `go build` stamped in.
func buildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision" && len(s.Value) >= 12:
			v += "+" + s.Value[:12]
		case s.Key == "vcs.modified" && s.Value == "true":
			v += "-dirty"
		}
	}
	return v
}

// newLogger builds the process's one logger: text for people, JSON for log collectors.
func newLogger(format, level string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: want text or json", format)
}

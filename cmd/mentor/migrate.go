package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/mentor-ai/mentor/db"
)

func runMigrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var databaseURL, logLevel string
	f := newFlagSet("mentor migrate", "up|down|status",
		"Applies every pending migration (up), rolls back the latest one (down), or lists them (status).\n"+
			"Runs under an advisory lock, so it is safe while other replicas start.", stderr)
	f.StringVar(&databaseURL, "database-url", "", "PostgreSQL URL")
	f.env("database-url", "DATABASE_URL")
	f.StringVar(&logLevel, "log-level", "info", "log level: debug also shows every SQL statement a migration runs")
	f.env("log-level", "MENTOR_LOG_LEVEL")
	if err := f.parse(args, getenv); err != nil {
		return err
	}
	if f.NArg() != 1 {
		f.Usage()
		return errUsage
	}
	if err := checkDatabaseURL(f, databaseURL); err != nil {
		return err
	}
	logger, err := newLogger("text", logLevel, stderr)
	if err != nil {
		return fmt.Errorf("%s: %w", f.source("log-level"), err)
	}
	m, err := db.NewMigrator(ctx, databaseURL, migrationLogger(logger))
	if err != nil {
		return fmt.Errorf("%s: %w", f.source("database-url"), err)
	}
	defer m.Close()

	switch action := f.Arg(0); action {
	case "up":
		res, err := m.Up(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "applied %d migration(s)\n", len(res))
	case "down":
		res, err := m.Down(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "rolled back %s\n", res.Source.Path)
	case "status":
		st, err := m.Status(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "VERSION\tSTATE\tAPPLIED AT\tFILE")
		for _, s := range st {
			at := "-"
			if !s.AppliedAt.IsZero() {
				at = s.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", s.Source.Version, s.State, at, s.Source.Path)
		}
		return tw.Flush()
	default:
		return fmt.Errorf("mentor migrate: unknown action %q (want up, down or status)", action)
	}
	return nil
}

// openMigrated is how the one-shot commands (user, import, search, export) reach the
// database: pending migrations first, then a pool; errors name the setting the URL came from.
func openMigrated(ctx context.Context, f *flagSet, databaseURL string) (*pgxpool.Pool, error) {
	if err := migrateUp(ctx, databaseURL, slog.New(slog.DiscardHandler)); err != nil {
		return nil, fmt.Errorf("%s: %w", f.source("database-url"), err)
	}
	pool, err := db.Connect(ctx, databaseURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.source("database-url"), err)
	}
	return pool, nil
}

// migrateUp applies pending migrations on one connection, before the pool opens. The log
// names each migration applied; their SQL statements are logged at debug level.
func migrateUp(ctx context.Context, databaseURL string, logger *slog.Logger) error {
	m, err := db.NewMigrator(ctx, databaseURL, migrationLogger(logger))
	if err != nil {
		return err
	}
	defer m.Close()
	_, err = m.Up(ctx)
	return err
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/export"
)

// runExport writes a dataset to a directory:
//
//	mentor export --project demo --format trl-dpo --out ./data [filters]
//	mentor export --snapshot 12 --out ./again   # the same files as snapshot 12
func runExport(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		databaseURL, out, personas, models, statuses, annotators, flags, versions, from, to, asOf string
		spec                                                                                      export.Spec
		snapshot                                                                                  int64
	)
	f := newFlagSet("mentor export", "", "Exports judgments as a dataset: data files, manifest.json and a README.md dataset card.\n"+
		"Formats: "+strings.Join(export.FormatNames(), ", ")+".", stderr)
	f.StringVar(&databaseURL, "database-url", "", "PostgreSQL URL")
	f.env("database-url", "DATABASE_URL")
	f.StringVar(&spec.Filter.Project, "project", "", "the project's slug or id (required)")
	f.StringVar(&spec.Format, "format", "", "the format: "+strings.Join(export.FormatNames(), ", "))
	f.StringVar(&spec.Kind, "kind", "", "sharegpt and alpaca: sft, preference or kto (default sft)")
	f.StringVar(&spec.Encoding, "encoding", export.JSONL, "jsonl, jsonl.gz, parquet or xlsx")
	f.StringVar(&out, "out", "", "the directory to write (created if missing; required)")
	f.StringVar(&personas, "persona", "", "persona slugs, comma-separated")
	f.StringVar(&versions, "prompt-version", "", "prompt version numbers, comma-separated")
	f.StringVar(&models, "model", "", "candidate models, comma-separated")
	f.StringVar(&statuses, "status", "", "candidate statuses, comma-separated: "+strings.Join(export.Statuses, ", "))
	f.StringVar(&annotators, "annotator", "", "logins of the trainers whose judgments to take, comma-separated")
	f.StringVar(&flags, "exclude-flag", "", "drop rows whose preferred reply carries one of these flags, comma-separated")
	f.StringVar(&from, "from", "", "judgments made at or after this time (RFC 3339 or YYYY-MM-DD)")
	f.StringVar(&to, "to", "", "judgments made before this time (RFC 3339 or YYYY-MM-DD)")
	f.Float64Var(&spec.Filter.MinMargin, "min-margin", 0, "preference formats: keep pairs with at least this margin")
	f.BoolVar(&spec.Filter.IncludeBaseline, "include-baseline", false, "keep the offline baseline's candidates")
	// Quality control (issue 14): filters on judgment_checks.
	f.BoolVar(&spec.Filter.AcceptedOnly, "accepted-only", false, "only judgments accepted by review or with an accepted batch")
	f.BoolVar(&spec.Filter.ExcludeHeld, "exclude-held", false, "leave out a paused trainer's unchecked work")
	f.BoolVar(&spec.Filter.ExcludeSpeedFlagged, "exclude-speed-flagged", false, "leave out judgments made faster than the speed floor")
	// Quality control, part C: agreement and consensus.
	f.Float64Var(&spec.Filter.MinAgreement, "min-agreement", 0, "only judgments of campaign items whose agreement (Kendall's W, 0 to 1) is at least this; 0 is off")
	f.BoolVar(&spec.Filter.Consensus, "consensus", false, "preference formats: keep pairs the item's judgments, weighted by reliability, mostly agree with")
	f.Int64Var(&spec.Seed, "seed", 1, "the seed of the train/test split")
	f.Float64Var(&spec.TestFraction, "test-fraction", 0, "the share of conversations in the test split (0 writes train only)")
	f.StringVar(&asOf, "as-of", "", "leave out judgments made after this time (RFC 3339); default now")
	f.Int64Var(&snapshot, "snapshot", 0, "export a recorded snapshot again, byte for byte (other filters are ignored)")
	if err := f.parse(args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if out == "" {
		return fmt.Errorf("export: --out is required")
	}
	// An unwritable --out fails before the database is touched.
	if err := export.CheckWritable(out); err != nil {
		return fmt.Errorf("export: %s", errs.Message(err))
	}
	if err := checkDatabaseURL(f, databaseURL); err != nil {
		return err
	}
	if snapshot == 0 {
		if spec.Filter.Project == "" || spec.Format == "" {
			return fmt.Errorf("export: --project and --format are required (formats: %s)", strings.Join(export.FormatNames(), ", "))
		}
		var err error
		spec.Filter.Personas, spec.Filter.Models, spec.Filter.Statuses = list(personas), list(models), list(statuses)
		spec.Filter.Annotators, spec.Filter.ExcludeFlags = list(annotators), list(flags)
		for _, v := range list(versions) {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("export: --prompt-version: %q is not a number", v)
			}
			spec.Filter.PromptVersions = append(spec.Filter.PromptVersions, n)
		}
		if spec.Filter.From, err = parseTime("from", from); err != nil {
			return err
		}
		if spec.Filter.To, err = parseTime("to", to); err != nil {
			return err
		}
		if t, err := parseTime("as-of", asOf); err != nil {
			return err
		} else if t != nil {
			spec.AsOf = *t
		}
	}

	pool, err := openMigrated(ctx, f, databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	ex := export.New(pool, nil)
	if snapshot != 0 {
		m, err := ex.Snapshot(ctx, snapshot)
		if err != nil {
			return fmt.Errorf("export: %s", errs.Message(err))
		}
		spec = m.Spec()
	}

	start := time.Now()
	progress := func(n int) {
		fmt.Fprintf(stderr, "\rexporting %s: %d rows (%.0f rows/s)", spec.Format, n, float64(n)/time.Since(start).Seconds())
	}
	m, err := ex.WriteDir(ctx, spec, out, export.Creator{Name: "cli:" + currentOSUser(getenv)}, progress)
	if m.Rows >= 5000 {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		if errs.KindOf(err) != errs.Internal {
			return fmt.Errorf("export: %s", errs.Message(err))
		}
		return err
	}
	if err := audit.New(pool).Record(ctx, audit.Event{Actor: "cli:" + currentOSUser(getenv), Action: audit.Export,
		Target: "format:" + m.Format, Details: map[string]any{"project": spec.Filter.Project, "kind": m.Kind, "rows": m.Rows,
			"snapshot": m.SnapshotID, "out": out}}); err != nil {
		fmt.Fprintf(stderr, "warning: the export is done, but the audit log did not record it: %v\n", err)
	}
	if m.Rows == 0 {
		fmt.Fprintf(stdout, "%s\nwrote %s/manifest.json and README.md saying so (snapshot %d)\n", m.Message, out, m.SnapshotID)
		return nil
	}
	fmt.Fprintf(stdout, "exported %d rows of %s %s in %s to %s (snapshot %d, as of %s)\n", m.Rows, m.Format, m.Kind,
		time.Since(start).Round(time.Millisecond), out, m.SnapshotID, m.AsOf.Format(time.RFC3339Nano))
	for _, file := range m.Files {
		fmt.Fprintf(stdout, "  %s  %d rows  %d bytes  sha256 %s\n", file.Name, file.Rows, file.Bytes, file.SHA256)
	}
	if m.Duplicates > 0 {
		fmt.Fprintf(stdout, "  %d duplicates dropped\n", m.Duplicates)
	}
	if l := m.Labels; l != nil {
		fmt.Fprintf(stdout, "  KTO labels: %d desirable, %d undesirable\n", l.Desirable, l.Undesirable)
	}
	if mg := m.Margin; mg != nil && mg.Count > 0 {
		fmt.Fprintf(stdout, "  margin: min %v, mean %v, max %v\n", mg.Min, mg.Mean, mg.Max)
	}
	return nil
}

// list splits a comma-separated flag value, dropping blanks.
func list(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// parseTime reads an RFC 3339 time or a date (midnight UTC); empty gives nil.
func parseTime(flagName, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return &t, nil
		}
	}
	return nil, fmt.Errorf("export: --%s: %q is not a time (use 2026-05-01 or 2026-05-01T08:00:00Z)", flagName, s)
}

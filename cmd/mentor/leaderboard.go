package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/leaderboard"
	"github.com/mentor-ai/mentor/prompts"
)

// runLeaderboard prints a project's board (issue 15):
//
//	mentor leaderboard --project demo --by version --format csv
func runLeaderboard(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var (
		databaseURL, project, format string
		o                            leaderboard.Options
		seed                         uint64
	)
	f := newFlagSet("mentor leaderboard", "", "Prints a project's Bradley–Terry leaderboard fitted from trainers' votes: scores on an Elo-like scale with 95% bootstrap intervals.", stderr)
	f.StringVar(&databaseURL, "database-url", "", "PostgreSQL URL")
	f.env("database-url", "DATABASE_URL")
	f.StringVar(&project, "project", "", "the project's slug (required)")
	f.StringVar(&o.By, "by", leaderboard.ByVersion, "what to compare: version, model or model_version")
	f.StringVar(&o.Persona, "persona", "", "only this persona's turns (its slug); default the whole project")
	f.StringVar(&o.Dimension, "dimension", "", "a rubric dimension: votes are score differences on it; default the ranking")
	f.StringVar(&o.Counted, "counted", leaderboard.CountChecked, "which votes count: checked (passed quality control) or submitted (all)")
	f.StringVar(&o.Source, "source", leaderboard.SourceBlind, "where votes come from: blind (blind pairwise campaigns) or all (open judgments too)")
	f.StringVar(&o.Style, "style", leaderboard.StyleNone, "style control: none, or control (length and markdown differences as covariates)")
	f.IntVar(&o.Rounds, "rounds", leaderboard.DefaultRounds, "bootstrap rounds")
	f.Uint64Var(&seed, "seed", 1, "the bootstrap's seed")
	f.StringVar(&format, "format", "csv", "csv or json")
	if err := f.parse(args, getenv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if project == "" {
		return fmt.Errorf("leaderboard: --project is required")
	}
	if err := oneOf(f.source("format"), format, "csv", "json"); err != nil {
		return err
	}
	if err := checkDatabaseURL(f, databaseURL); err != nil {
		return err
	}
	o.Seed = seed
	pool, err := openMigrated(ctx, f, databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	p, err := prompts.NewStore(pool).ProjectBySlug(ctx, project)
	if err != nil {
		return fmt.Errorf("leaderboard: --project: %s", errs.Message(err))
	}
	queue, err := jobs.NewInserter(pool)
	if err != nil {
		return err
	}
	b, err := leaderboard.NewStore(pool, queue, leaderboard.StoreOptions{}).Refresh(ctx, p.ID, o)
	if err != nil {
		if errs.KindOf(err) != errs.Internal {
			return fmt.Errorf("leaderboard: %s", errs.Message(err))
		}
		return err
	}
	if format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(b)
	}
	// CSV: one row per entry; the filter and notices go to stderr, where a pipe keeps them
	// out of the data but a person still sees them.
	fmt.Fprintf(stderr, "counted: %s, source: %s, style control: %v, %d votes from %d judgments, %d bootstrap rounds (seed %d)\n",
		b.Counted, b.Source, b.StyleControl, b.Votes, b.Judgments, b.Rounds, b.Seed)
	// Style control's coefficients, one line per part and covariate, beside the filter.
	for gi, part := range b.Parts {
		for _, c := range part.Style {
			fmt.Fprintf(stderr, "group %d: style coefficient %s: %s (95%%: %s to %s) log-odds per unit of normalised difference\n",
				gi+1, c.Name, ff(c.Value), ff(c.Lower), ff(c.Upper))
		}
	}
	for _, n := range b.Notices {
		switch n {
		case leaderboard.NoticeTooFewEntries:
			fmt.Fprintln(stderr, "fewer than 2 entries have votes that count: nothing to rank")
		case leaderboard.NoticeDisconnected:
			fmt.Fprintf(stderr, "the votes fall into %d separate groups: each is fitted on its own, and scores of different groups are not comparable\n", len(b.Parts))
		}
	}
	w := csv.NewWriter(stdout)
	_ = w.Write([]string{"group", "rank", "entry", "score", "lower", "upper", "votes", "win_rate", "preliminary", "reference", "smoothed"})
	for gi, part := range b.Parts {
		for _, e := range part.Entries {
			_ = w.Write([]string{strconv.Itoa(gi + 1), strconv.Itoa(e.Rank), e.Label, ff(e.Score), ff(e.Lower), ff(e.Upper),
				strconv.Itoa(e.Votes), ff(e.WinRate), strconv.FormatBool(e.Preliminary), strconv.FormatBool(e.Reference), strconv.FormatBool(part.Smoothed)})
		}
	}
	w.Flush()
	return w.Error()
}

func ff(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }

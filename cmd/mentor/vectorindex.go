package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/retrieval"
)

// runVectorIndex checks, or repairs, every vector index (issue 17):
//
//	mentor vector-index check     measure each index's recall@10 on the latest questions asked of it
//	mentor vector-index repair    the same, rebuilding an index while its recall is too low
//
// `mentor serve` repairs on a schedule (--vector-index-check); this is for an operator who
// wants the answer now, after a large import, say.
func runVectorIndex(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	policy := retrieval.DefaultVectorIndexPolicy
	if len(args) == 0 || (args[0] != "check" && args[0] != "repair") {
		fmt.Fprint(stderr, "Usage: mentor vector-index check|repair [flags]\n\n"+
			"  check   measure each vector index's recall@10 against exact search, on the latest questions trainers asked of it\n"+
			"  repair  the same, and rebuild an index (REINDEX CONCURRENTLY) while its recall is below "+
			fmt.Sprintf("%.2f, up to %d times\n", policy.MinRecall, policy.Rebuilds))
		return errUsage
	}
	verb := args[0]
	var databaseURL string
	var asJSON bool
	var embeddings embeddingsConfig
	f := newFlagSet("mentor vector-index "+verb, "", "Measures each HNSW index's recall@10 on the latest questions trainers asked of it (docs/retrieval.md, \"Recall of the vector index\").", stderr)
	f.StringVar(&databaseURL, "database-url", "", "PostgreSQL URL")
	f.env("database-url", "DATABASE_URL")
	f.IntVar(&policy.Questions, "questions", policy.Questions, fmt.Sprintf("how many of the latest questions a check measures (an index is judged, and repaired, on at least %d)", policy.MinQuestions))
	embeddings.register(f) // the questions are embedded as their corpus's chunks were
	f.BoolVar(&asJSON, "json", false, "print JSON instead of lines")
	if err := f.parse(args[1:], getenv); err != nil {
		return err
	}
	if policy.Questions < 1 || policy.Questions > 10_000 {
		return fmt.Errorf("--questions: must be between 1 and 10000, not %d", policy.Questions)
	}
	if err := checkDatabaseURL(f, databaseURL); err != nil {
		return err
	}
	embedders, err := embeddings.embedders(f, getenv)
	if err != nil {
		return err
	}
	pool, err := openMigrated(ctx, f, databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()
	queue, err := jobs.NewInserter(pool)
	if err != nil {
		return err
	}
	store := retrieval.NewStore(pool, embedders, queue)
	dims, err := store.VectorIndexDimensions(ctx)
	if err != nil {
		return errors.New(errs.Message(err))
	}
	repairs := []retrieval.VectorIndexRepair{} // [] in JSON when there is no index
	unhealthy := 0
	for _, dim := range dims {
		var r retrieval.VectorIndexRepair
		if verb == "repair" {
			r, err = store.RepairVectorIndex(ctx, dim, policy)
		} else {
			var c retrieval.VectorIndexCheck
			c, err = store.CheckVectorIndex(ctx, dim, policy.Questions)
			r.Checks, r.Healthy = []retrieval.VectorIndexCheck{c}, !policy.Poor(c)
		}
		if err != nil {
			return errors.New(errs.Message(err))
		}
		if !r.Healthy {
			unhealthy++
		}
		repairs = append(repairs, r)
		if asJSON {
			continue
		}
		for i, c := range r.Checks {
			if i > 0 {
				fmt.Fprintf(stdout, "  rebuilt; ")
			}
			judged := ""
			if !policy.Judges(c) {
				judged = fmt.Sprintf(" (fewer than %d: too few to judge the index by)", policy.MinQuestions)
			}
			fmt.Fprintf(stdout, "%d dimensions: %d vectors; recall@10 %.3f on the latest %d questions, %d found none of their 10 nearest%s\n",
				c.Dimension, c.Vectors, c.Recall, c.Questions, c.NoneFound, judged)
		}
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(repairs); err != nil {
			return err
		}
	} else if len(dims) == 0 {
		fmt.Fprintln(stdout, "no vector indexes: no corpus has one yet")
	}
	if unhealthy > 0 {
		hint := "run `mentor vector-index repair`"
		if verb == "repair" {
			hint = fmt.Sprintf("%d rebuilds in a row did not help", policy.Rebuilds)
		}
		return fmt.Errorf("%d of %d vector indexes have recall@10 below %.2f: %s", unhealthy, len(dims), policy.MinRecall, hint)
	}
	return nil
}

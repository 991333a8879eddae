package retrieval_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mentor-ai/mentor/internal/corpusgen"
	"github.com/mentor-ai/mentor/internal/loadgen"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/retrieval"
)

// BenchmarkIngest measures import throughput with the offline embedder: chunking, embedding
// and COPY of documents of 8 sections each. "per-document" commits each document, as a
// folder of files imports; "batch=200" imports the round's 400 documents as a JSONL or CSV
// file does (IngestBatches): transactions of 200, two written at once on two connections,
// each prepared while it is written. "hnsw" keeps the vector index up to date, as a live
// corpus does; "no-hnsw" is a
// first bulk load, with the index built afterwards (see BenchmarkSearch for its build time).
// CPU per chunk of this process and of PostgreSQL (issue 17) lets the rate be judged on a
// machine of another size or load. Each figure is the median of three rounds, with its
// spread.
func BenchmarkIngest(b *testing.B) {
	for _, mode := range []struct {
		name  string
		batch int
		hnsw  bool
	}{{"per-document/hnsw", 1, true}, {"batch=200/hnsw", 200, true}, {"per-document/no-hnsw", 1, false}, {"batch=200/no-hnsw", 200, false}} {
		b.Run(mode.name, func(b *testing.B) {
			ctx := context.Background()
			pool := pgtest.Pool(b)
			s := retrieval.NewStore(pool, nil, nil)
			var projectID int64
			if err := pool.QueryRow(ctx, `INSERT INTO projects (slug, name) VALUES ('bench', 'bench') RETURNING id`).Scan(&projectID); err != nil {
				b.Fatal(err)
			}
			c, err := s.CreateCorpus(ctx, retrieval.Corpus{ProjectID: projectID, Slug: "bench", Name: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			if !mode.hnsw {
				if _, err := pool.Exec(ctx, `DROP INDEX chunks_embedding_256`); err != nil {
					b.Fatal(err)
				}
			}

			// Three rounds, each measured on its own, for the median and spread of each figure
			// (issue 17); each round imports the documents under new slugs.
			docs := corpusgen.Documents(1, 400, 8)
			var rates, goCPU, pgCPU, perDoc []float64
			round := 0
			for b.Loop() {
				for range 3 {
					chunks := 0
					start := time.Now()
					batch := slices.Clone(docs)
					for j := range batch {
						batch[j].Slug = fmt.Sprintf("%d/%s", round, batch[j].Slug)
					}
					u, err := loadgen.Measure(ctx, pool, func() error {
						var results []retrieval.BatchResult
						if mode.batch == 1 {
							// A folder: each file is its own import, and each document its own
							// transaction.
							for _, d := range batch {
								results = append(results, s.IngestBatch(ctx, c, []retrieval.DocumentInput{d})...)
							}
						} else {
							// A JSONL or CSV file: one import, in transactions of mode.batch.
							results = s.IngestBatches(ctx, c, batch, mode.batch)
						}
						for _, r := range results {
							if r.Err != nil {
								return r.Err
							}
							chunks += r.Chunks
						}
						return nil
					})
					if err != nil {
						b.Fatal(err)
					}
					elapsed := time.Since(start)
					round++
					// CPU per chunk, so the rate can be judged on another machine: this process
					// (chunking, embedding, tsvectors, encoding) and PostgreSQL (COPY, indexes).
					g, p, _, _ := u.PerOp(int64(chunks))
					rates, goCPU, pgCPU = append(rates, float64(chunks)/elapsed.Seconds()), append(goCPU, 1000*g), append(pgCPU, 1000*p)
					perDoc = append(perDoc, float64(chunks)/float64(len(docs)))
				}
			}
			loadgen.ReportMedian(b, goCPU, "go-cpu-µs/chunk")
			loadgen.ReportMedian(b, pgCPU, "pg-cpu-µs/chunk")
			loadgen.ReportMedian(b, rates, "chunks/s")
			b.ReportMetric(perDoc[0], "chunks/doc")
		})
	}
}

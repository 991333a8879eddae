package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/internal/corpusgen"
	"github.com/mentor-ai/mentor/internal/latency"
	"github.com/mentor-ai/mentor/retrieval"
)

// searchCorpusChunks is the benchmark corpus's size: 100k chunks, or MENTOR_BENCH_CHUNKS
// (make bench SEARCH_CHUNKS=1000000 for the million-chunk run).
func searchCorpusChunks(b *testing.B) int {
	if v := os.Getenv("MENTOR_BENCH_CHUNKS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("MENTOR_BENCH_CHUNKS=%q: want a number of at least 1000", v)
		}
		return n
	}
	return 100_000
}

// BenchmarkSearch loads a bilingual corpus of generated customs rules (8 chunks a document),
// builds its HNSW index, and then measures:
//   - index: the HNSW build time, and recall@10 of the HNSW search against exact search over
//     200 queries;
//   - raw: the hybrid search statement alone, sent with pgx, query vectors computed beforehand;
//   - api: GET /api/v1/search through the whole server (session, access check, query
//     embedding, the same statement, JSON), and its ratio to raw.
func BenchmarkSearch(b *testing.B) {
	ctx := context.Background()
	f := setupBench(b)
	chunks := searchCorpusChunks(b)
	store := retrieval.NewStore(f.pool, nil, nil)
	var projectID int64
	if err := f.pool.QueryRow(ctx, `INSERT INTO projects (slug, name) VALUES ('search-bench', '检索基准') RETURNING id`).Scan(&projectID); err != nil {
		b.Fatal(err)
	}
	corpus, err := store.CreateCorpus(ctx, retrieval.Corpus{ProjectID: projectID, Slug: "rules", Name: "规定"})
	if err != nil {
		b.Fatal(err)
	}
	// Bulk load without the index, then build it once: how a large corpus is first loaded.
	if _, err := f.pool.Exec(ctx, `DROP INDEX chunks_embedding_256`); err != nil {
		b.Fatal(err)
	}
	docs := corpusgen.Documents(42, chunks/8, 8)
	loadStart := time.Now()
	loaded := 0
	for i := 0; i < len(docs); i += 200 {
		for _, r := range store.IngestBatch(ctx, corpus, docs[i:min(i+200, len(docs))]) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
			loaded += r.Chunks
		}
	}
	loadSeconds := time.Since(loadStart).Seconds()
	conn, err := f.pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `SET maintenance_work_mem = '1GB'`); err != nil {
		b.Fatal(err)
	}
	buildStart := time.Now()
	if _, err := conn.Exec(ctx, `CREATE INDEX chunks_embedding_256 ON chunks USING hnsw ((embedding::vector(256)) vector_cosine_ops)
		WHERE dimension = 256 AND current`); err != nil {
		b.Fatal(err)
	}
	buildSeconds := time.Since(buildStart).Seconds()
	// VACUUM as autovacuum would after a bulk load: it also moves the GIN index's pending
	// list (fastupdate) into the index proper, which queries would otherwise scan linearly.
	if _, err := conn.Exec(ctx, `RESET maintenance_work_mem`); err != nil {
		b.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE chunks`); err != nil {
		b.Fatal(err)
	}
	queries := corpusgen.Queries(7, 200)

	// Measured once: the figures are about the index, not per operation. recall@10 is at the
	// ef_search every pooled connection uses (db.Connect); the others show the trade-off.
	recall := hnswRecall(b, conn.Conn(), store, corpus, queries)
	efRecall := map[int]float64{}
	for _, ef := range []int{100, 400} {
		if _, err := conn.Exec(ctx, fmt.Sprintf("SET hnsw.ef_search = %d", ef)); err != nil {
			b.Fatal(err)
		}
		efRecall[ef] = hnswRecall(b, conn.Conn(), store, corpus, queries)
	}
	if _, err := conn.Exec(ctx, "RESET hnsw.ef_search"); err != nil {
		b.Fatal(err)
	}
	b.Run(fmt.Sprintf("index/chunks=%d", loaded), func(b *testing.B) {
		b.ReportMetric(recall, "recall@10")
		b.ReportMetric(efRecall[100], "recall@10-ef100")
		b.ReportMetric(efRecall[400], "recall@10-ef400")
		b.ReportMetric(buildSeconds, "hnsw-build-s")
		b.ReportMetric(float64(loaded)/loadSeconds, "load-chunks/s")
	})

	var rawP50, rawP99 time.Duration
	for _, arm := range []struct {
		name   string
		fusion retrieval.Fusion
	}{{"hybrid", retrieval.DefaultFusion}, {"vector-only", retrieval.Fusion{RRFK: 60, VectorWeight: 1}}, {"text-only", retrieval.Fusion{RRFK: 60, TextWeight: 1}}} {
		b.Run(fmt.Sprintf("raw/%s/chunks=%d", arm.name, loaded), func(b *testing.B) {
			args := make([][]any, len(queries))
			for i, q := range queries {
				if args[i], err = store.SearchArgs(ctx, retrieval.Query{CorpusIDs: []int64{corpus.ID}, Text: q, K: 10, Fusion: arm.fusion},
					corpus.Embedder, corpus.Dimension, []int64{corpus.ID}); err != nil {
					b.Fatal(err)
				}
			}
			sql := retrieval.SearchSQL(corpus.Dimension)
			var rec latency.Recorder
			i := 0
			for b.Loop() {
				start := time.Now()
				rows, err := f.pool.Query(ctx, sql, args[i%len(args)]...)
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
				}
				if rows.Err() != nil || n == 0 {
					b.Fatalf("raw search: %d rows, %v", n, rows.Err())
				}
				rec.Since(start)
				i++
			}
			rec.Report(b, "")
			if arm.name == "hybrid" {
				rawP50, rawP99 = rec.Percentile(50), rec.Percentile(99)
			}
		})
	}

	b.Run(fmt.Sprintf("api/chunks=%d", loaded), func(b *testing.B) {
		var rec latency.Recorder
		i := 0
		for b.Loop() {
			path := "/api/v1/search?" + url.Values{"corpus": {fmt.Sprint(corpus.ID)}, "q": {queries[i%len(queries)]}, "k": {"10"}}.Encode()
			start := time.Now()
			res := f.admin.request(b, "GET", path, nil)
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Fatalf("status %d", res.StatusCode)
			}
			rec.Since(start)
			i++
		}
		rec.Report(b, "")
		if rawP50 > 0 {
			b.ReportMetric(float64(rec.Percentile(50))/float64(rawP50), "p50-x-raw")
			b.ReportMetric(float64(rec.Percentile(99))/float64(rawP99), "p99-x-raw")
		}
	})
}

// hnswRecall is the mean share of the exact 10 nearest chunks that the HNSW index returns.
// Generated text gives many chunks the same distance, so a chunk the index returns counts as
// one of the 10 nearest when it is no farther than the exact 10th (as ann-benchmarks counts):
// otherwise which of several equally near chunks the exact search lists first would decide.
func hnswRecall(b *testing.B, conn *pgx.Conn, store *retrieval.Store, corpus retrieval.Corpus, queries []string) float64 {
	ctx := context.Background()
	distances := func(vec any) []float64 {
		rows, _ := conn.Query(ctx, `SELECT embedding::vector(256) <=> $1 FROM chunks WHERE dimension = 256 AND current AND corpus_id = $2
			ORDER BY embedding::vector(256) <=> $1 LIMIT 10`, vec, corpus.ID)
		ds, err := pgx.CollectRows(rows, pgx.RowTo[float64])
		if err != nil {
			b.Fatal(err)
		}
		return ds
	}
	var sum float64
	for _, q := range queries {
		args, err := store.SearchArgs(ctx, retrieval.Query{CorpusIDs: []int64{corpus.ID}, Text: q, K: 10, Fusion: retrieval.DefaultFusion}, corpus.Embedder, corpus.Dimension, []int64{corpus.ID})
		if err != nil {
			b.Fatal(err)
		}
		approx := distances(args[0])
		if _, err := conn.Exec(ctx, `SET enable_indexscan = off`); err != nil {
			b.Fatal(err)
		}
		exact := distances(args[0])
		if _, err := conn.Exec(ctx, `RESET enable_indexscan`); err != nil {
			b.Fatal(err)
		}
		hit := 0
		for _, d := range approx {
			if d <= exact[len(exact)-1]+1e-6 {
				hit++
			}
		}
		sum += float64(hit) / float64(len(exact))
	}
	return sum / float64(len(queries))
}

package retrieval_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/retrieval"
)

// batchDocs are n small documents, each of one chunk, slugs d0…d(n-1).
func batchDocs(n int) []retrieval.DocumentInput {
	docs := make([]retrieval.DocumentInput, n)
	for i := range docs {
		docs[i] = retrieval.DocumentInput{Slug: fmt.Sprintf("d%d", i), Title: fmt.Sprintf("第%d条", i),
			Body: fmt.Sprintf("第%d条：旅客携带物品%d件，应当向海关申报。", i, i)}
	}
	return docs
}

// TestIngestBatchesCommitsEachBatchApart imports more documents than the workers may prepare
// ahead, in several transactions, while batch 3 holds a document PostgreSQL refuses and batch
// 4 one that fails its checks: the other batches are committed whole, batch 3 is retried
// document by document so that only the refused one fails, and the corpus's term and chunk
// counts are those of the chunks stored (issue 17: the next batch is prepared while one is
// written).
func TestIngestBatchesCommitsEachBatchApart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	// A refusal only the database makes, after the document passed preparing.
	_, err := pool.Exec(ctx, `
		CREATE FUNCTION refuse_d77() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.slug = 'd77' THEN RAISE EXCEPTION 'd77 is refused'; END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_d77 BEFORE INSERT ON documents FOR EACH ROW EXECUTE FUNCTION refuse_d77();`)
	require.NoError(t, err)

	const n, batch = 130, 30 // batches 0-29, 30-59, 60-89, 90-119, 120-129
	docs := batchDocs(n)
	docs[100].Body = " " // fails its checks, in batch 4
	docs[5] = docs[2]    // the same slug twice in one batch: the second is a new version…
	docs[5].Body += "（修订）"
	docs[35] = docs[2] // …and again in the next batch
	docs[35].Body += "（再修订）"
	results := s.IngestBatches(ctx, c, docs, batch)
	require.Len(t, results, n)

	stored := map[string]bool{}
	chunks := 0
	for i, r := range results {
		switch i {
		case 77:
			assert.ErrorContains(t, r.Err, "d77 is refused", "the refused document fails with the database's reason")
		case 100:
			assert.ErrorContains(t, r.Err, "no text", "the empty document fails alone")
		default:
			require.NoError(t, r.Err, "document %d", i)
			stored[r.Slug] = true
			chunks += r.Chunks
		}
	}
	assert.Equal(t, retrieval.Added, results[2].Outcome)
	assert.Equal(t, []int{1, 2, 3}, []int{results[2].Version, results[5].Version, results[35].Version}, "d2's versions, in file order")
	assert.Equal(t, retrieval.Updated, results[35].Outcome)

	var docCount, currentChunks, storedChunks int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM documents WHERE corpus_id = $1),
		(SELECT current_chunks FROM corpora WHERE id = $1), (SELECT count(*) FROM chunks WHERE corpus_id = $1)`, c.ID).
		Scan(&docCount, &currentChunks, &storedChunks))
	assert.Equal(t, len(stored), docCount, "every document reported stored is, and no other")
	assert.Equal(t, storedChunks, chunks, "the results count the chunks written")
	assert.Equal(t, storedChunks-2, currentChunks, "d2's two older versions' chunks are no longer current")

	assertTermCountsExact(t, pool, c.ID)
}

// assertTermCountsExact checks that corpus_terms holds, for every term, how many current
// chunks of the corpus have it.
func assertTermCountsExact(t *testing.T, pool *pgxpool.Pool, corpusID int64) {
	t.Helper()
	var wrong int
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT count(*) FROM (
		SELECT lexeme, count(*)::int AS n FROM chunks, unnest(search) WHERE corpus_id = $1 AND current GROUP BY lexeme) held
		FULL JOIN (SELECT term, chunks FROM corpus_terms WHERE corpus_id = $1 AND chunks <> 0) counted ON counted.term = held.lexeme
		WHERE held.n IS DISTINCT FROM counted.chunks`, corpusID).Scan(&wrong))
	assert.Zero(t, wrong, "terms whose count is not their current chunks'")
}

// TestIngestBatchesWritesTwoBatchesAtOnce holds the first batch inside its transaction
// until the second has committed, which only a second writer can bring about; the first
// then fails in the database and is retried document by document. Every document but the
// refused one is stored, and the corpus's chunk and term counts, which both batches added to
// at once (their documents share most terms), are exact (issue 17: two writers).
func TestIngestBatchesWritesTwoBatchesAtOnce(t *testing.T) {
	t.Parallel()
	// A deadline, so that a second batch that waits for the first fails the test instead of
	// hanging it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	_, err := pool.Exec(ctx, `
		CREATE FUNCTION hold_batches() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			CASE NEW.slug
			WHEN 'd0' THEN PERFORM pg_advisory_xact_lock(17); -- waits while the test holds it
			WHEN 'd7' THEN RAISE EXCEPTION 'd7 is refused';
			WHEN 'd20' THEN PERFORM pg_notify('batch_committed', NEW.slug); -- sent when it commits
			ELSE NULL;
			END CASE;
			RETURN NEW;
		END $$;
		CREATE TRIGGER hold_batches BEFORE INSERT ON documents FOR EACH ROW EXECUTE FUNCTION hold_batches();`)
	require.NoError(t, err)
	lock, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer lock.Release()
	_, err = lock.Exec(ctx, `SELECT pg_advisory_lock(17)`)
	require.NoError(t, err)
	listen, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer listen.Release()
	_, err = listen.Exec(ctx, `LISTEN batch_committed`)
	require.NoError(t, err)

	const n, batch = 60, 20 // batches d0-d19 (held, then refused), d20-d39, d40-d59
	done := make(chan []retrieval.BatchResult, 1)
	go func() { done <- s.IngestBatches(ctx, c, batchDocs(n), batch) }()
	note, err := listen.Conn().WaitForNotification(ctx)
	require.NoError(t, err, "the second batch commits while the first is held")
	assert.Equal(t, "d20", note.Payload)
	var first, second int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE substr(slug, 2)::int < 20), count(*) FILTER (WHERE substr(slug, 2)::int BETWEEN 20 AND 39)
		FROM documents WHERE corpus_id = $1`, c.ID).Scan(&first, &second))
	assert.Zero(t, first, "nothing of the held batch is visible")
	assert.Equal(t, batch, second, "the second batch is committed whole")
	_, err = lock.Exec(ctx, `SELECT pg_advisory_unlock(17)`)
	require.NoError(t, err)
	results := <-done

	require.Len(t, results, n)
	chunks := 0
	for i, r := range results {
		if i == 7 {
			assert.ErrorContains(t, r.Err, "d7 is refused", "the refused document fails alone, with the database's reason")
			continue
		}
		require.NoError(t, r.Err, "document %d", i)
		assert.Equal(t, retrieval.Added, r.Outcome, "document %d", i)
		chunks += r.Chunks
	}
	var docCount, currentChunks, storedChunks int
	require.NoError(t, pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM documents WHERE corpus_id = $1),
		(SELECT current_chunks FROM corpora WHERE id = $1), (SELECT count(*) FROM chunks WHERE corpus_id = $1 AND current)`, c.ID).
		Scan(&docCount, &currentChunks, &storedChunks))
	assert.Equal(t, n-1, docCount, "every document but the refused one is stored")
	assert.Equal(t, chunks, storedChunks, "the results count the chunks written")
	assert.Equal(t, storedChunks, currentChunks, "the corpus counts its current chunks")
	assertTermCountsExact(t, pool, c.ID)
}

// cancellingEmbedder is the offline embedder, except that embedding a text with 停止 in it
// cancels the import's context, as a client that goes away does.
type cancellingEmbedder struct {
	retrieval.NgramEmbedder
	cancel context.CancelFunc
}

func (e cancellingEmbedder) Name() string { return "cancelling-256" }

func (e cancellingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	for _, t := range texts {
		if strings.Contains(t, "停止") {
			e.cancel()
		}
	}
	return e.NgramEmbedder.Embed(ctx, texts)
}

// TestIngestBatchesStopsWhenCancelled cancels an import while a later batch is being
// prepared, whatever the writer is doing then: it returns, every document it reports stored
// is committed, the ones it does not are absent, and what it stored is whole batches.
func TestIngestBatchesStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := retrieval.NewStore(pool, retrieval.NewEmbedders(cancellingEmbedder{retrieval.NewNgramEmbedder(256), cancel}), nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb", Embedder: "cancelling-256"})

	const n, batch = 120, 20
	docs := batchDocs(n)
	docs[70].Body += "停止"
	results := s.IngestBatches(ctx, c, docs, batch)
	require.Len(t, results, n)

	var acknowledged []string
	for i, r := range results {
		if r.Err == nil {
			acknowledged = append(acknowledged, r.Slug)
			continue
		}
		assert.ErrorIs(t, r.Err, context.Canceled, "document %d", i)
	}
	// Two batches are written at once, so the one after the cancelled batch may have
	// committed before the cancel: only the cancelled batch must fail whole.
	for i := 60; i < 80; i++ {
		assert.Error(t, results[i].Err, "document %d, in the batch that was cancelled", i)
	}
	var storedSlugs []string
	require.NoError(t, pool.QueryRow(context.Background(), `SELECT coalesce(array_agg(slug ORDER BY id), '{}') FROM documents
		WHERE corpus_id = $1`, c.ID).Scan(&storedSlugs))
	for _, slug := range acknowledged {
		assert.Contains(t, storedSlugs, slug, "a document reported stored is committed")
	}
	assert.Zero(t, len(storedSlugs)%batch, "whole batches are stored, or none of one: %d documents", len(storedSlugs))
}

// TestChunkReferencesAreChecked holds migration 00024's statement-level check to what the
// foreign keys it replaced did: a chunk must name a document and a corpus that exist, in a
// COPY as in an INSERT, and deleting a document or a corpus deletes its chunks. Chunks never
// move to another document.
func TestChunkReferencesAreChecked(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	res, err := s.Ingest(ctx, c, batchDocs(1)[0])
	require.NoError(t, err)
	doc := res.DocumentID
	insert := `INSERT INTO chunks (corpus_id, document_id, version, position, text, token_count, search, dimension)
		SELECT r.corpus_id, r.document_id, 100, r.n, '文本', 2, ''::tsvector, 256
		FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS r (corpus_id, document_id, n)`
	for _, tt := range []struct {
		name               string
		corpora, documents []int64
		wantCode           string
	}{
		{"an existing document and corpus", []int64{c.ID}, []int64{doc}, ""},
		{"a missing document", []int64{c.ID}, []int64{doc + 1000}, "23503"},
		{"a missing corpus", []int64{c.ID + 1000}, []int64{doc}, "23503"},
		{"one missing document among good rows", []int64{c.ID, c.ID, c.ID}, []int64{doc, doc + 1000, doc}, "23503"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tx, err := pool.Begin(ctx)
			require.NoError(t, err)
			defer tx.Rollback(ctx) //nolint:errcheck // the test only looks
			_, err = tx.Exec(ctx, insert, tt.corpora, tt.documents)
			if tt.wantCode == "" {
				require.NoError(t, err)
				return
			}
			var pgErr *pgconn.PgError
			require.ErrorAs(t, err, &pgErr, "%v", err)
			assert.Equal(t, tt.wantCode, pgErr.Code)
		})
	}
	_, err = pool.CopyFrom(ctx, pgx.Identifier{"chunks"}, []string{"corpus_id", "document_id", "version", "position", "text", "token_count", "search", "dimension"},
		pgx.CopyFromRows([][]any{{c.ID, doc, 7, 0, "文本", 2, pgtype.TSVector{Valid: true}, 256}, {c.ID, doc + 1000, 7, 1, "文本", 2, pgtype.TSVector{Valid: true}, 256}}))
	assert.ErrorContains(t, err, "does not exist", "COPY is checked as INSERT is")

	_, err = pool.Exec(ctx, `UPDATE chunks SET document_id = document_id + 1 WHERE document_id = $1`, doc)
	assert.ErrorContains(t, err, "for good", "a chunk does not move to another document")

	other, err := s.Ingest(ctx, c, batchDocs(2)[1])
	require.NoError(t, err)
	count := func() (n int) {
		require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE corpus_id = $1`, c.ID).Scan(&n))
		return n
	}
	require.Equal(t, 2, count())
	_, err = pool.Exec(ctx, `DELETE FROM documents WHERE id = $1`, doc)
	require.NoError(t, err)
	assert.Equal(t, 1, count(), "deleting a document deletes its chunks")
	_, err = pool.Exec(ctx, `DELETE FROM corpora WHERE id = $1`, c.ID)
	require.NoError(t, err)
	assert.Zero(t, count(), "deleting a corpus deletes its documents' chunks (document %d)", other.DocumentID)
}

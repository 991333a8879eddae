package retrieval

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	"github.com/riverqueue/river"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/jobs"
)

// EmbedArgs is the job that embeds one document version's chunks.
type EmbedArgs struct {
	CorpusID   int64 `json:"corpus_id"`
	DocumentID int64 `json:"document_id"`
	Version    int   `json:"version"`
}

// Kind implements river.JobArgs.
func (EmbedArgs) Kind() string { return "embed_chunks" }

// InsertOpts gives embedding jobs more attempts than River's default: an endpoint can be
// down for a day, and the corpus says so meanwhile.
func (EmbedArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{MaxAttempts: 50, Queue: EmbedQueue}
}

// EmbedQueue is the queue embedding jobs run on.
const EmbedQueue = "embedding"

// embedBatch is how many chunks one round embeds and stores.
const embedBatch = 128

// EmbedWorker embeds the chunks an EmbedArgs names. Delivery is at least once, so it only
// ever fills vectors that are still null: a chunk is never embedded twice, and a retry picks
// up where the last attempt stopped.
type EmbedWorker struct {
	river.WorkerDefaults[EmbedArgs]
	store *Store
	// Backoff is the wait before attempt n+1 after n failed ones.
	Backoff func(attempt int) time.Duration
}

// NewEmbedWorker returns a worker for store, backing off exponentially up to 10 minutes.
func NewEmbedWorker(store *Store) *EmbedWorker {
	return &EmbedWorker{store: store, Backoff: func(attempt int) time.Duration {
		return min(time.Duration(1<<min(attempt, 10))*time.Second, 10*time.Minute)
	}}
}

// Timeout is longer than River's one-minute default: a large document against a slow
// endpoint takes longer, and progress is saved batch by batch anyway.
func (w *EmbedWorker) Timeout(*river.Job[EmbedArgs]) time.Duration { return 15 * time.Minute }

// NextRetry implements river.Worker.
func (w *EmbedWorker) NextRetry(job *river.Job[EmbedArgs]) time.Time {
	return time.Now().Add(w.Backoff(job.Attempt))
}

// Work implements river.Worker.
func (w *EmbedWorker) Work(ctx context.Context, job *river.Job[EmbedArgs]) error {
	a := job.Args
	corpus, err := w.store.Corpus(ctx, a.CorpusID)
	if errs.KindOf(err) == errs.NotFound {
		return river.JobCancel(err) // the corpus is gone; retrying will not bring it back
	}
	if err != nil {
		return err
	}
	embedder, err := w.store.embedders.Get(corpus.Embedder)
	if err != nil {
		return w.pause(ctx, corpus.ID, err)
	}
	if embedder.Dimension() != corpus.Dimension {
		return river.JobCancel(w.pause(ctx, corpus.ID, &DimensionError{Embedder: embedder.Name(), Want: corpus.Dimension, Got: embedder.Dimension()}))
	}
	for {
		rows, _ := w.store.pool.Query(ctx, `SELECT c.id, d.title, c.heading_path, c.text FROM chunks c JOIN documents d ON d.id = c.document_id
			WHERE c.document_id = $1 AND c.version = $2 AND c.current AND c.embedding IS NULL ORDER BY c.id LIMIT $3`, a.DocumentID, a.Version, embedBatch)
		var ids []int64
		var texts []string
		var id int64
		var title, text string
		var headings []string
		if _, err := pgx.ForEachRow(rows, []any{&id, &title, &headings, &text}, func() error {
			ids = append(ids, id)
			texts = append(texts, contextualText(title, headings, text))
			return nil
		}); err != nil {
			return db.Error(err, "read chunks to embed")
		}
		if len(ids) == 0 {
			// The pause ends when nothing in the corpus waits any more, not when one job of
			// several gets through.
			_, err := w.store.pool.Exec(ctx, `UPDATE corpora SET embedding_error = '' WHERE id = $1 AND embedding_error <> ''
				AND NOT EXISTS (SELECT 1 FROM chunks WHERE corpus_id = $1 AND current AND embedding IS NULL)`, corpus.ID)
			return db.Error(err, "clear the corpus's embedding error")
		}
		vectors, err := embedder.Embed(ctx, texts)
		if err != nil {
			err = w.pause(ctx, corpus.ID, err)
			if errors.As(err, new(*DimensionError)) {
				return river.JobCancel(err) // retrying cannot change the model's dimension
			}
			return err
		}
		vs := make([]pgvector.Vector, len(vectors))
		for i, v := range vectors {
			vs[i] = pgvector.NewVector(v)
		}
		if _, err := w.store.pool.Exec(ctx, `UPDATE chunks SET embedding = v.e, embedded_at = now()
			FROM unnest($1::bigint[], $2::vector[]) AS v(id, e) WHERE chunks.id = v.id AND chunks.embedding IS NULL`, ids, vs); err != nil {
			return db.Error(err, "store embeddings")
		}
	}
}

// pause records why embedding stopped, for the corpus page, and returns the cause.
func (w *EmbedWorker) pause(ctx context.Context, corpusID int64, cause error) error {
	msg := fmt.Sprintf("embedding paused: %v", cause)
	if r := []rune(msg); len(r) > 300 {
		msg = string(r[:300]) + "…"
	}
	// A fresh context: the job's may be what just expired.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if _, err := w.store.pool.Exec(ctx, `UPDATE corpora SET embedding_error = $2 WHERE id = $1`, corpusID, msg); err != nil {
		return errors.Join(cause, db.Error(err, "record the embedding error"))
	}
	return cause
}

// Jobs returns the registration that runs store's embedding jobs on a jobs.Runner.
// Options adjust the embedding worker (tests shorten its backoff).
func Jobs(store *Store, options ...func(*EmbedWorker)) jobs.Registration {
	w := NewEmbedWorker(store)
	for _, o := range options {
		o(w)
	}
	return jobs.Registration{
		Name:   "embeddings",
		Add:    func(ws *river.Workers) error { return river.AddWorkerSafely(ws, w) },
		Queues: map[string]river.QueueConfig{EmbedQueue: {MaxWorkers: 2}},
	}
}

// Package retrieval owns knowledge corpora and their documents, and finds the passages a
// reply should be grounded in.
//
// Documents are versioned and split into chunks (chunk.go), embedded (embed.go, jobs.go)
// and found by hybrid vector and full-text search (search.go).
package retrieval

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/jobs"
)

// Corpus is a named collection of documents in a project, with the embedder and chunking
// its documents are indexed with.
type Corpus struct {
	ID             int64     `json:"id" db:"id"`
	ProjectID      int64     `json:"project_id" db:"project_id"`
	Slug           string    `json:"slug" db:"slug"`
	Name           string    `json:"name" db:"name"`
	Description    string    `json:"description" db:"description"`
	Embedder       string    `json:"embedder" db:"embedder"`
	Dimension      int       `json:"dimension" db:"dimension"`
	ChunkTokens    int       `json:"chunk_tokens" db:"chunk_tokens"`
	ChunkOverlap   int       `json:"chunk_overlap" db:"chunk_overlap"`
	EmbeddingError string    `json:"embedding_error" db:"embedding_error"` // why embedding is paused
	CreatedAt      time.Time `json:"created_at" db:"created_at"`
}

// CorpusStatus is a corpus with its counts: what pages show, and what access checks do not
// need to pay for.
type CorpusStatus struct {
	Corpus
	DocumentCount int `json:"document_count" db:"document_count"`
	ChunkCount    int `json:"chunk_count" db:"chunk_count"`       // current chunks
	EmbeddedCount int `json:"embedded_count" db:"embedded_count"` // current chunks with a vector
	// IndexCheck is the last check of the vector index the corpus's chunks are in (its
	// dimension's, shared with other corpora of that dimension), nil before the first.
	IndexCheck *VectorIndexCheckRecord `json:"index_check" db:"index_check"`
}

// Settings returns the corpus's chunking settings.
func (c Corpus) Settings() ChunkSettings {
	return ChunkSettings{MaxTokens: c.ChunkTokens, OverlapTokens: c.ChunkOverlap}
}

// Document is one knowledge document, at its current version.
type Document struct {
	ID        int64     `json:"id" db:"id"`
	CorpusID  int64     `json:"corpus_id" db:"corpus_id"`
	Slug      string    `json:"slug" db:"slug"`
	Lang      string    `json:"lang" db:"lang"`
	Title     string    `json:"title" db:"title"`
	Body      string    `json:"body" db:"body"`
	Version   int       `json:"version" db:"version"`
	Tags      []string  `json:"tags" db:"tags"`
	Source    string    `json:"source" db:"source"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
	UpdatedAt time.Time `json:"updated_at" db:"updated_at"`
}

// Store reads and writes corpora, documents and chunks, and searches them.
type Store struct {
	pool      *pgxpool.Pool
	embedders *Embedders
	jobs      jobs.Inserter
}

// NewStore returns a Store on pool that embeds with embedders (the offline one when nil)
// and queues embedding jobs through queue. Without a queue (nil), documents of corpora
// with remote embedders cannot be imported: their vectors come from those jobs.
func NewStore(pool *pgxpool.Pool, embedders *Embedders, queue jobs.Inserter) *Store {
	if embedders == nil {
		embedders = NewEmbedders()
	}
	return &Store{pool: pool, embedders: embedders, jobs: queue}
}

// Embedders returns the store's embedders.
func (s *Store) Embedders() *Embedders { return s.embedders }

const corpusColumns = `c.id, c.project_id, c.slug, c.name, c.description, c.embedder, c.dimension,
	c.chunk_tokens, c.chunk_overlap, c.embedding_error, c.created_at`

const corpusWithCounts = corpusColumns + `,
	(SELECT count(*) FROM documents d WHERE d.corpus_id = c.id)::int AS document_count,
	(SELECT count(*) FROM chunks k WHERE k.corpus_id = c.id AND k.current)::int AS chunk_count,
	(SELECT count(*) FROM chunks k WHERE k.corpus_id = c.id AND k.current AND k.embedding IS NOT NULL)::int AS embedded_count,
	(SELECT to_jsonb(v) || jsonb_build_object('after_rebuild', coalesce((SELECT p.rebuilt FROM vector_index_checks p
			WHERE p.dimension = v.dimension AND p.id < v.id ORDER BY p.id DESC LIMIT 1), false))
		FROM vector_index_checks v WHERE v.dimension = c.dimension ORDER BY v.checked_at DESC LIMIT 1) AS index_check`

// CreateCorpus stores a new, empty corpus. Its embedder must be configured, and the
// dimension, when given, must be the embedder's: both are fixed for the corpus's life.
func (s *Store) CreateCorpus(ctx context.Context, c Corpus) (Corpus, error) {
	c.Name, c.Slug = strings.TrimSpace(c.Name), strings.TrimSpace(c.Slug)
	if c.Name == "" {
		return Corpus{}, errs.Field("name", "must not be empty")
	}
	if c.Slug == "" {
		return Corpus{}, errs.Field("slug", "must not be empty")
	}
	if c.Embedder == "" {
		c.Embedder = OfflineEmbedderName
	}
	e, err := s.embedders.Get(c.Embedder)
	if err != nil {
		return Corpus{}, err
	}
	if c.Dimension != 0 && c.Dimension != e.Dimension() {
		return Corpus{}, errs.Field("dimension", "embedder %s makes %d dimensions, not %d", e.Name(), e.Dimension(), c.Dimension)
	}
	c.Dimension = e.Dimension()
	if c.ChunkTokens == 0 {
		c.ChunkTokens = 200
	}
	if c.ChunkOverlap == 0 && c.ChunkTokens > 30 {
		c.ChunkOverlap = 30
	}
	switch {
	case c.ChunkTokens < 16 || c.ChunkTokens > 4000:
		return Corpus{}, errs.Field("chunk_tokens", "must be between 16 and 4000, not %d", c.ChunkTokens)
	case c.ChunkOverlap < 0 || c.ChunkOverlap >= c.ChunkTokens:
		return Corpus{}, errs.Field("chunk_overlap", "must be at least 0 and less than chunk_tokens (%d), not %d", c.ChunkTokens, c.ChunkOverlap)
	}
	if err := s.ensureVectorIndex(ctx, c.Dimension); err != nil {
		return Corpus{}, err
	}
	var id int64
	err = s.pool.QueryRow(ctx, `INSERT INTO corpora (project_id, slug, name, description, embedder, dimension, chunk_tokens, chunk_overlap)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		c.ProjectID, c.Slug, c.Name, c.Description, c.Embedder, c.Dimension, c.ChunkTokens, c.ChunkOverlap).Scan(&id)
	if err != nil {
		return Corpus{}, db.Error(err, "create corpus %q", c.Slug)
	}
	return s.Corpus(ctx, id)
}

// ensureVectorIndex creates the HNSW index for vectors of dim dimensions, the first time a
// corpus of that dimension appears (the migration creates the offline embedder's).
func (s *Store) ensureVectorIndex(ctx context.Context, dim int) error {
	// CREATE INDEX locks chunks against writes, even when the index exists: look first.
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, fmt.Sprintf("chunks_embedding_%d", dim)).Scan(&exists); err != nil {
		return db.Error(err, "look for the vector index for %d dimensions", dim)
	}
	if exists {
		return nil
	}
	_, err := s.pool.Exec(ctx, VectorIndexSQL(dim))
	return db.Error(err, "create the vector index for %d dimensions", dim)
}

// VectorIndexBuild is the HNSW indexes' build parameters (issue 17). A parallel build inserts
// in another order each time and the graph differs; with pgvector's default ef_construction
// of 64, recall@10 at 100k chunks and ef_search 200 was 0.9625 to 0.9735 on most builds, 0.9365
// on one and 0.615 on another. With 200, three builds gave 0.987 to 0.994 at ef_search 100,
// which is why db.HNSWEfSearch is 100: the build costs about three times as long, once, and
// each search walks half as far (docs/retrieval.md, "Recall of the vector index"). Migration
// 00029 rebuilt the existing indexes with it. Later builds showed that 200 too makes a poor
// graph about one time in four, serial or parallel, and m 32 as well: the same page says
// what is lost (whole questions), and RepairVectorIndex rebuilds an index whose recall on
// the trainers' latest questions is below 0.95.
const VectorIndexBuild = "m = 16, ef_construction = 200"

// VectorIndexSQL creates the HNSW index for vectors of dim dimensions, with VectorIndexBuild,
// unless it exists: one index per dimension, on the cast to that dimension and for current
// chunks only, which the vector list's statement repeats (VectorSQL).
func VectorIndexSQL(dim int) string {
	return fmt.Sprintf(`CREATE INDEX IF NOT EXISTS chunks_embedding_%[1]d ON chunks
		USING hnsw ((embedding::vector(%[1]d)) vector_cosine_ops) WITH (%[2]s) WHERE dimension = %[1]d AND current`, dim, VectorIndexBuild)
}

// Corpus returns the corpus with id.
func (s *Store) Corpus(ctx context.Context, id int64) (Corpus, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+corpusColumns+` FROM corpora c WHERE c.id = $1`, id)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Corpus])
	return out, db.Error(err, "corpus %d", id)
}

// QueueCorpus queues Corpus's lookup on b, for a caller that asks other stores in the same
// round trip (the access check).
func (s *Store) QueueCorpus(b *pgx.Batch, id int64) *db.Pending[Corpus] {
	return db.Queue(b, pgx.RowToStructByName[Corpus], errs.P("corpus %d", id), `SELECT `+corpusColumns+` FROM corpora c WHERE c.id = $1`, id)
}

// CorpusStatus returns the corpus with id and its document, chunk and embedded counts.
func (s *Store) CorpusStatus(ctx context.Context, id int64) (CorpusStatus, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+corpusWithCounts+` FROM corpora c WHERE c.id = $1`, id)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[CorpusStatus])
	out.IndexCheck.judge()
	return out, db.Error(err, "corpus %d", id)
}

// Corpora lists a project's corpora with their counts.
func (s *Store) Corpora(ctx context.Context, projectID int64) ([]CorpusStatus, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+corpusWithCounts+` FROM corpora c WHERE c.project_id = $1 ORDER BY c.id`, projectID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[CorpusStatus])
	for i := range out {
		out[i].IndexCheck.judge()
	}
	return out, db.Error(err, "list corpora of project %d", projectID)
}

// DocumentPage is a page of a corpus's documents, newest first, without their bodies.
type DocumentPage struct {
	Documents []Document `json:"documents"`
	Total     int        `json:"total"`
	Limit     int        `json:"limit"`
	Offset    int        `json:"offset"`
}

// Documents lists a page of the corpus's documents, most recently changed first. Bodies are
// left out: a page of a large corpus must stay small.
func (s *Store) Documents(ctx context.Context, corpusID int64, limit, offset int) (DocumentPage, error) {
	switch {
	case limit < 1 || limit > 1000:
		return DocumentPage{}, errs.Field("limit", "must be between 1 and 1000, not %d", limit)
	case offset < 0:
		return DocumentPage{}, errs.Field("offset", "must not be negative")
	}
	page := DocumentPage{Limit: limit, Offset: offset}
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM documents WHERE corpus_id = $1`, corpusID).Scan(&page.Total); err != nil {
		return page, db.Error(err, "count documents")
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, corpus_id, slug, lang, title, '' AS body, version, tags, source, created_at, updated_at
		FROM documents WHERE corpus_id = $1 ORDER BY updated_at DESC, id DESC LIMIT $2 OFFSET $3`, corpusID, limit, offset)
	var err error
	page.Documents, err = pgx.CollectRows(rows, pgx.RowToStructByName[Document])
	return page, db.Error(err, "list documents")
}

// CorpusBySlug returns the project's corpus called slug.
func (s *Store) CorpusBySlug(ctx context.Context, projectID int64, slug string) (Corpus, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+corpusColumns+` FROM corpora c WHERE c.project_id = $1 AND c.slug = $2`, projectID, slug)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Corpus])
	return out, db.Error(err, "corpus %q", slug)
}

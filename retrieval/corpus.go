// Package retrieval owns knowledge corpora and their documents, and finds the passages a
// reply should be grounded in.
//
// Search is keyword-based for now (BM25 over CJK bigrams and Latin words); pgvector and
// full-text hybrid search replace it in the knowledge-corpora work.
package retrieval

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/locale"
)

// Corpus is a named collection of documents in a project.
type Corpus struct {
	ID            int64     `json:"id" db:"id"`
	ProjectID     int64     `json:"project_id" db:"project_id"`
	Slug          string    `json:"slug" db:"slug"`
	Name          string    `json:"name" db:"name"`
	Description   string    `json:"description" db:"description"`
	DocumentCount int       `json:"document_count" db:"document_count"`
	CreatedAt     time.Time `json:"created_at" db:"created_at"`
}

// Document is one knowledge document.
type Document struct {
	ID        int64     `json:"id" db:"id"`
	CorpusID  int64     `json:"corpus_id" db:"corpus_id"`
	Slug      string    `json:"slug" db:"slug"`
	Lang      string    `json:"lang" db:"lang"`
	Title     string    `json:"title" db:"title"`
	Body      string    `json:"body" db:"body"`
	CreatedAt time.Time `json:"created_at" db:"created_at"`
}

// Store reads and writes corpora and documents.
type Store struct {
	pool *pgxpool.Pool
}

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const corpusColumns = `c.id, c.project_id, c.slug, c.name, c.description, c.created_at,
	(SELECT count(*) FROM documents d WHERE d.corpus_id = c.id)::int AS document_count`

// CreateCorpus stores a new, empty corpus.
func (s *Store) CreateCorpus(ctx context.Context, c Corpus) (Corpus, error) {
	c.Name, c.Slug = strings.TrimSpace(c.Name), strings.TrimSpace(c.Slug)
	if c.Name == "" {
		return Corpus{}, errs.Field("name", "must not be empty")
	}
	if c.Slug == "" {
		return Corpus{}, errs.Field("slug", "must not be empty")
	}
	var id int64
	err := s.pool.QueryRow(ctx, `INSERT INTO corpora (project_id, slug, name, description) VALUES ($1, $2, $3, $4) RETURNING id`,
		c.ProjectID, c.Slug, c.Name, c.Description).Scan(&id)
	if err != nil {
		return Corpus{}, db.Error(err, "create corpus %q", c.Slug)
	}
	return s.Corpus(ctx, id)
}

// Corpus returns the corpus with id.
func (s *Store) Corpus(ctx context.Context, id int64) (Corpus, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+corpusColumns+` FROM corpora c WHERE c.id = $1`, id)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Corpus])
	return out, db.Error(err, "corpus %d", id)
}

// Corpora lists a project's corpora.
func (s *Store) Corpora(ctx context.Context, projectID int64) ([]Corpus, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+corpusColumns+` FROM corpora c WHERE c.project_id = $1 ORDER BY c.id`, projectID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Corpus])
	return out, db.Error(err, "list corpora of project %d", projectID)
}

// PutDocument stores d, replacing the corpus's document with the same slug.
func (s *Store) PutDocument(ctx context.Context, d Document) (Document, error) {
	switch {
	case strings.TrimSpace(d.Slug) == "":
		return Document{}, errs.Field("slug", "must not be empty")
	case strings.TrimSpace(d.Title) == "":
		return Document{}, errs.Field("title", "must not be empty")
	case strings.TrimSpace(d.Body) == "":
		return Document{}, errs.Field("body", "must not be empty")
	}
	if err := locale.Check("lang", d.Lang); err != nil {
		return Document{}, err
	}
	rows, _ := s.pool.Query(ctx, `INSERT INTO documents (corpus_id, slug, lang, title, body) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (corpus_id, slug) DO UPDATE SET lang = excluded.lang, title = excluded.title, body = excluded.body
		RETURNING id, corpus_id, slug, lang, title, body, created_at`, d.CorpusID, d.Slug, d.Lang, d.Title, d.Body)
	out, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByName[Document])
	return out, db.Error(err, "store document %q", d.Slug)
}

// Documents lists the documents of the given corpora.
func (s *Store) Documents(ctx context.Context, corpusIDs []int64) ([]Document, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, corpus_id, slug, lang, title, body, created_at FROM documents
		WHERE corpus_id = ANY($1) ORDER BY id`, corpusIDs)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Document])
	return out, db.Error(err, "list documents")
}

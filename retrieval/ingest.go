package retrieval

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/pgvector/pgvector-go"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/locale"
)

// CheckEmbedder asks a remote embedder for one vector and refuses the corpus when its
// length is not the corpus's dimension, so that an import can stop before any write. An
// endpoint that cannot be reached is not refused: the jobs wait for it.
func (s *Store) CheckEmbedder(ctx context.Context, corpus Corpus) error {
	e, err := s.embedders.Get(corpus.Embedder)
	if err != nil {
		return errs.E(errs.Unavailable, "corpus %s embeds with %s, which this server is not configured with: nothing was imported", corpus.Slug, corpus.Embedder)
	}
	if e.Dimension() != corpus.Dimension {
		return errs.E(errs.Unprocessable, "corpus %s is fixed at %d dimensions, but embedder %s makes %d: nothing was imported",
			corpus.Slug, corpus.Dimension, e.Name(), e.Dimension())
	}
	if e.Local() {
		return nil
	}
	_, err = e.Embed(ctx, []string{"dimension check · 维度检查"})
	var dimErr *DimensionError
	if errors.As(err, &dimErr) {
		return errs.E(errs.Unprocessable, "corpus %s: %v; nothing was imported", corpus.Slug, dimErr)
	}
	return nil
}

// MaxDocumentBytes bounds one document's text.
const MaxDocumentBytes = 8 << 20

// DocumentInput is a document to store in a corpus.
type DocumentInput struct {
	Slug   string   `json:"slug"`
	Lang   string   `json:"lang"` // zh-CN or en; guessed from the text when empty
	Title  string   `json:"title"`
	Body   string   `json:"body"` // plain text or markdown
	Tags   []string `json:"tags"`
	Source string   `json:"source"`
}

// Outcome says what importing a document did.
type Outcome string

// The outcomes of Ingest.
const (
	Added     Outcome = "added"
	Updated   Outcome = "updated"   // a new version
	Unchanged Outcome = "unchanged" // same content as the current version: nothing written
)

// IngestResult reports one document's import.
type IngestResult struct {
	DocumentID int64   `json:"document_id"`
	Slug       string  `json:"slug"`
	Version    int     `json:"version"`
	Outcome    Outcome `json:"outcome"`
	Chunks     int     `json:"chunks"`
	Queued     bool    `json:"queued"`     // embedding runs as a background job
	StaleGold  int     `json:"stale_gold"` // gold answers citing an older version, now stale
}

// Ingest stores in as a document of corpus: a new document, a new version of the document
// with the same slug, or nothing when its content is unchanged. Chunks are written with
// COPY; a local embedder embeds them first, a remote one through a job queued in the same
// transaction, so a crash loses neither the chunks nor the work of embedding them.
func (s *Store) Ingest(ctx context.Context, corpus Corpus, in DocumentInput) (IngestResult, error) {
	out := s.IngestBatch(ctx, corpus, []DocumentInput{in})
	return out[0].IngestResult, out[0].Err
}

// BatchResult is one document's outcome in IngestBatch.
type BatchResult struct {
	IngestResult
	Err error
}

// IngestBatch ingests several documents in one transaction, which saves a commit (and its
// WAL flush) per document: JSONL and CSV imports hold thousands of small ones. A document
// that fails its checks fails alone; if the database refuses the batch, each document is
// tried again in its own transaction, so every error lands on the document that caused it.
func (s *Store) IngestBatch(ctx context.Context, corpus Corpus, ins []DocumentInput) []BatchResult {
	out := make([]BatchResult, len(ins))
	// Chunking, embedding and building the tsvectors is CPU work with no database in it:
	// spread it over the cores.
	preps := make([]*prepared, len(ins))
	failures := make([]error, len(ins))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(runtime.GOMAXPROCS(0), len(ins)) {
		wg.Go(func() {
			for i := range next {
				preps[i], failures[i] = s.prepare(ctx, corpus, ins[i])
			}
		})
	}
	for i := range ins {
		next <- i
	}
	close(next)
	wg.Wait()
	var ready []*prepared
	for i, p := range preps {
		if failures[i] != nil {
			out[i] = BatchResult{IngestResult: IngestResult{Slug: strings.TrimSpace(ins[i].Slug)}, Err: failures[i]}
			continue
		}
		p.index = i
		ready = append(ready, p)
	}
	if len(ready) == 0 {
		return out
	}
	writeAll := func(ps []*prepared) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			terms := termCounts{}
			for _, p := range ps {
				if err := s.write(ctx, tx, corpus, p, terms); err != nil {
					return err
				}
			}
			return terms.store(ctx, tx, corpus.ID)
		})
	}
	err := writeAll(ready)
	if err != nil && len(ready) > 1 && ctx.Err() == nil {
		for _, p := range ready {
			out[p.index] = BatchResult{IngestResult: p.res, Err: writeAll([]*prepared{p})}
		}
		return out
	}
	for _, p := range ready {
		out[p.index] = BatchResult{IngestResult: p.res, Err: err}
	}
	return out
}

// prepared is a checked document with its chunks (and vectors, for a local embedder),
// ready to write.
type prepared struct {
	index   int
	in      DocumentInput
	chunks  []Chunk
	search  []pgtype.TSVector // each chunk's full-text terms
	vectors [][]float32
	hash    []byte
	remote  bool
	res     IngestResult
}

// prepare checks a document, chunks it and embeds it with a local embedder: everything that
// needs no database.
func (s *Store) prepare(ctx context.Context, corpus Corpus, in DocumentInput) (*prepared, error) {
	in.Slug, in.Title = strings.TrimSpace(in.Slug), strings.TrimSpace(in.Title)
	switch {
	case in.Slug == "":
		return nil, errs.Field("slug", "must not be empty")
	case in.Title == "":
		return nil, errs.Field("title", "must not be empty")
	case strings.TrimSpace(in.Body) == "":
		return nil, errs.Field("body", "the document has no text")
	case len(in.Body) > MaxDocumentBytes:
		return nil, errs.E(errs.TooLarge, "the document is %d bytes; the limit is %d (%d MiB)", len(in.Body), MaxDocumentBytes, MaxDocumentBytes>>20)
	}
	for field, v := range map[string]string{"slug": in.Slug, "title": in.Title, "body": in.Body, "tags": strings.Join(in.Tags, "")} {
		if strings.ContainsRune(v, 0) {
			return nil, errs.Field(field, "contains a NUL character (\\u0000), which PostgreSQL cannot store")
		}
	}
	if in.Lang == "" {
		in.Lang = GuessLang(in.Body)
	}
	if err := locale.Check("lang", in.Lang); err != nil {
		return nil, err
	}
	in.Tags = slices.Compact(slices.Sorted(slices.Values(in.Tags)))
	if in.Tags == nil {
		in.Tags = []string{}
	}
	embedder, err := s.embedders.Get(corpus.Embedder)
	if err != nil {
		return nil, err
	}
	if embedder.Dimension() != corpus.Dimension {
		return nil, errs.E(errs.Unprocessable, "corpus %s is fixed at %d dimensions, but embedder %s makes %d: nothing was imported",
			corpus.Slug, corpus.Dimension, embedder.Name(), embedder.Dimension())
	}
	if !embedder.Local() && s.jobs == nil {
		return nil, errs.E(errs.Unavailable, "corpus %s embeds with %s, which needs the background job queue, and this process has none", corpus.Slug, embedder.Name())
	}
	p := &prepared{in: in, chunks: ChunkText(in.Body, corpus.Settings()), hash: contentHash(in), remote: !embedder.Local()}
	if len(p.chunks) == 0 {
		return nil, errs.Field("body", "the document has no text to index")
	}
	p.search = make([]pgtype.TSVector, len(p.chunks))
	for i, c := range p.chunks {
		p.search[i] = searchVector(contextualText(in.Title, c.HeadingPath, c.Text))
	}
	if !p.remote {
		if p.vectors, err = embedder.Embed(ctx, embeddingTexts(in.Title, p.chunks)); err != nil {
			return nil, fmt.Errorf("embed %s: %w", in.Slug, err)
		}
	}
	return p, nil
}

// write stores a prepared document in tx, fills p.res, and adds the change in its chunks'
// terms to terms.
func (s *Store) write(ctx context.Context, tx pgx.Tx, corpus Corpus, p *prepared, terms termCounts) error {
	in, hash := p.in, p.hash
	res := IngestResult{Slug: in.Slug, Chunks: len(p.chunks)}
	defer func() { p.res = res }()
	var oldVersion int
	var oldHash []byte
	err := tx.QueryRow(ctx, `SELECT id, version, content_hash FROM documents WHERE corpus_id = $1 AND slug = $2 FOR UPDATE`,
		corpus.ID, in.Slug).Scan(&res.DocumentID, &oldVersion, &oldHash)
	switch {
	case err == pgx.ErrNoRows:
		res.Outcome, res.Version = Added, 1
		err = tx.QueryRow(ctx, `INSERT INTO documents (corpus_id, slug, lang, title, body, tags, source, version, content_hash)
			VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8) RETURNING id`,
			corpus.ID, in.Slug, in.Lang, in.Title, in.Body, in.Tags, in.Source, hash).Scan(&res.DocumentID)
	case err != nil:
	case bytes.Equal(oldHash, hash):
		res.Outcome, res.Version, res.Chunks = Unchanged, oldVersion, 0
		return nil
	default:
		res.Outcome, res.Version = Updated, oldVersion+1
		if oldHash == nil {
			// Stored before documents had versions or chunks: index it as the version it is.
			res.Version = oldVersion
		}
		_, err = tx.Exec(ctx, `UPDATE documents SET lang = $2, title = $3, body = $4, tags = $5, source = $6, version = $7,
			content_hash = $8, updated_at = now() WHERE id = $1`,
			res.DocumentID, in.Lang, in.Title, in.Body, in.Tags, in.Source, res.Version, hash)
	}
	if err != nil {
		return db.Error(err, "store document %q", in.Slug)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO document_versions (document_id, version, content_hash, title, body)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (document_id, version) DO NOTHING`,
		res.DocumentID, res.Version, hash, in.Title, in.Body); err != nil {
		return db.Error(err, "store version %d of %q", res.Version, in.Slug)
	}
	if res.Outcome == Updated {
		// Gold replies that cited the version being replaced, in each trainer's latest
		// revision, become stale now; ones citing still older versions already were.
		if err := tx.QueryRow(ctx, `SELECT count(DISTINCT j.id) FROM judgment_citations jc
			JOIN chunks c ON c.id = jc.chunk_id JOIN judgments j ON j.id = jc.judgment_id
			WHERE c.document_id = $1 AND c.current
				AND j.revision = (SELECT max(revision) FROM judgments j2 WHERE j2.turn_id = j.turn_id AND j2.trainer_id = j.trainer_id)`,
			res.DocumentID).Scan(&res.StaleGold); err != nil {
			return db.Error(err, "count gold answers citing %q", in.Slug)
		}
		rows, _ := tx.Query(ctx, `SELECT lexeme, count(*)::int FROM chunks, unnest(search) WHERE document_id = $1 AND current GROUP BY lexeme`, res.DocumentID)
		var term string
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&term, &n}, func() error { terms[term] -= n; return nil }); err != nil {
			return db.Error(err, "count the terms of %q's old version", in.Slug)
		}
		if _, err := tx.Exec(ctx, `UPDATE chunks SET current = false WHERE document_id = $1 AND current`, res.DocumentID); err != nil {
			return db.Error(err, "retire old chunks of %q", in.Slug)
		}
	}
	if err := copyChunks(ctx, tx, corpus, res.DocumentID, res.Version, p, terms); err != nil {
		return err
	}
	if p.remote {
		res.Queued = true
		if _, err := s.jobs.InsertTx(ctx, tx, EmbedArgs{CorpusID: corpus.ID, DocumentID: res.DocumentID, Version: res.Version}, nil); err != nil {
			return fmt.Errorf("queue embedding of %q: %w", in.Slug, err)
		}
	}
	return nil
}

func copyChunks(ctx context.Context, tx pgx.Tx, corpus Corpus, documentID int64, version int, p *prepared, terms termCounts) error {
	in := p.in
	now := time.Now()
	rows := make([][]any, len(p.chunks))
	for i, c := range p.chunks {
		var embedding any
		var embeddedAt any
		if p.vectors != nil {
			embedding, embeddedAt = pgvector.NewVector(p.vectors[i]), now
		}
		for _, l := range p.search[i].Lexemes {
			terms[l.Word]++
		}
		var page *int // NULL for documents without pages
		if c.Page > 0 {
			page = &c.Page
		}
		rows[i] = []any{corpus.ID, documentID, version, c.Position, c.HeadingPath, c.Text, c.Tokens, in.Tags,
			p.search[i], corpus.Dimension, embedding, embeddedAt, page}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"chunks"}, []string{"corpus_id", "document_id", "version", "position", "heading_path",
		"text", "token_count", "tags", "search", "dimension", "embedding", "embedded_at", "page"}, pgx.CopyFromRows(rows))
	return db.Error(err, "store chunks of %q", in.Slug)
}

// contentHash identifies a document's content: what a re-import compares.
func contentHash(in DocumentInput) []byte {
	h := sha256.New()
	for _, part := range []string{in.Lang, in.Title, in.Body, strings.Join(in.Tags, "\x1f")} {
		h.Write([]byte(part))
		h.Write([]byte{0})
	}
	return h.Sum(nil)
}

// embeddingTexts is what gets embedded for each chunk: the document title and headings give
// a chunk its context.
func embeddingTexts(title string, chunks []Chunk) []string {
	out := make([]string, len(chunks))
	for i, c := range chunks {
		out[i] = contextualText(title, c.HeadingPath, c.Text)
	}
	return out
}

func contextualText(title string, headings []string, text string) string {
	parts := append([]string{title}, headings...)
	return strings.Join(parts, " / ") + "\n" + text
}

// termCounts is the change, per full-text term, in how many current chunks hold it.
type termCounts map[string]int

// store applies the counts to corpus_terms, in term order so that concurrent imports into
// one corpus lock its rows in the same order and cannot deadlock.
func (tc termCounts) store(ctx context.Context, tx pgx.Tx, corpusID int64) error {
	terms := make([]string, 0, len(tc))
	for t, n := range tc {
		if n != 0 {
			terms = append(terms, t)
		}
	}
	if len(terms) == 0 {
		return nil
	}
	slices.Sort(terms)
	counts := make([]int32, len(terms))
	for i, t := range terms {
		counts[i] = int32(tc[t])
	}
	_, err := tx.Exec(ctx, `INSERT INTO corpus_terms (corpus_id, term, chunks) SELECT $1, * FROM unnest($2::text[], $3::int[])
		ON CONFLICT (corpus_id, term) DO UPDATE SET chunks = corpus_terms.chunks + excluded.chunks`, corpusID, terms, counts)
	return db.Error(err, "count the corpus's terms")
}

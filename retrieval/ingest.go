package retrieval

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
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
	return s.IngestBatches(ctx, corpus, ins, len(ins))
}

// IngestBatches ingests ins in transactions of batch documents each, each one as
// IngestBatch ingests its documents: committed whole, or, if the database refused it, its
// documents retried one by one. A result that says a document was stored is only given
// once its transaction has committed.
//
// Two batches are written at once, each on a connection of its own (writers), so that
// PostgreSQL works on two cores: one backend writing cost about 156 µs of its CPU a chunk,
// which capped an import at 6,400 chunks/s however fast the rest was (issue 17). Each
// batch is prepared (chunking, embedding, the tsvectors) on every core while its documents
// already prepared are written, writeGroup documents at a time: a handful of set-based
// statements and one COPY for the group's chunks. A batch that holds a slug of a batch
// still being written waits for that one to finish first, so that a document's versions
// follow the file's order. A document that fails preparing fails alone; a cancelled ctx
// stops every side, and every document not yet committed fails with ctx's error (which,
// with two batches in flight, need not be the file's tail: the batch after the one being
// written may have committed).
func (s *Store) IngestBatches(ctx context.Context, corpus Corpus, ins []DocumentInput, batch int) []BatchResult {
	out := make([]BatchResult, len(ins))
	if len(ins) == 0 {
		return out
	}
	batch = max(batch, 1)
	n := (len(ins) + batch - 1) / batch
	done := make([]chan struct{}, n)
	slugs := make([]map[string]bool, n)
	for k := range n {
		done[k] = make(chan struct{})
		slugs[k] = map[string]bool{}
		for _, in := range ins[k*batch : min((k+1)*batch, len(ins))] {
			slugs[k][strings.TrimSpace(in.Slug)] = true
		}
	}
	// Batches start in order, each when a writer is free, so the ones in flight with batch
	// k are at most the writers-1 before it, and every one before those has finished.
	free := make(chan struct{}, writers)
	var wg sync.WaitGroup
	for k := range n {
		free <- struct{}{}
		wg.Go(func() {
			defer func() { <-free }()
			defer close(done[k])
			from, to := k*batch, min((k+1)*batch, len(ins))
			pr := s.startPreparing(ctx, corpus, ins[from:to]) // while it waits, too
			defer pr.stop()
			for j := max(0, k-writers+1); j < k; j++ {
				if sharesSlug(slugs[j], slugs[k]) {
					<-done[j]
				}
			}
			s.writeBatch(ctx, corpus, pr, out[from:to])
		})
	}
	wg.Wait()
	return out
}

// writers is how many batches IngestBatches writes at once. Two: PostgreSQL then has a
// backend for each of the two cores the benchmarks run on, and preparing (about 110 µs of
// Go a chunk against 156 of PostgreSQL, issue 17) keeps up with both.
const writers = 2

// sharesSlug reports whether batches a and b hold a document of the same slug.
func sharesSlug(a, b map[string]bool) bool {
	for slug := range b {
		if a[slug] {
			return true
		}
	}
	return false
}

// prepareAhead bounds how many documents a batch's workers prepare before its writer takes them:
// two write groups, so that one is ready while one is written. Unbounded, the workers took
// both cores until a batch was all prepared and then left PostgreSQL's backend alone with
// one, idling the other (issue 17); bounded, they wait and PostgreSQL keeps its core.
const prepareAhead = 2 * writeGroup

// preparer prepares documents on every core, in order, at most prepareAhead of them before
// the writer takes them.
type preparer struct {
	ins      []DocumentInput
	preps    []*prepared
	failures []error
	done     []chan struct{} // closed when the document is prepared, or has failed
	taken    []bool          // the writer has the document (only the writer reads or writes it)
	room     chan struct{}   // one token for each document that may be prepared ahead
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

func (s *Store) startPreparing(ctx context.Context, corpus Corpus, ins []DocumentInput) *preparer {
	ctx, cancel := context.WithCancel(ctx)
	pr := &preparer{ins: ins, preps: make([]*prepared, len(ins)), failures: make([]error, len(ins)),
		done: make([]chan struct{}, len(ins)), taken: make([]bool, len(ins)), room: make(chan struct{}, prepareAhead), cancel: cancel}
	for i := range pr.done {
		pr.done[i] = make(chan struct{})
	}
	for range prepareAhead {
		pr.room <- struct{}{}
	}
	next := make(chan int, len(ins))
	for i := range ins {
		next <- i
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), len(ins)) {
		pr.wg.Go(func() {
			var tsv tsvBuilder
			for {
				// The token first, then the document: the documents are taken in order, so
				// the one the writer waits for is always being prepared or about to be, and
				// the tokens cannot all be held by documents after it.
				select {
				case <-pr.room:
				case <-ctx.Done():
				}
				i, ok := <-next
				if !ok {
					return
				}
				if err := ctx.Err(); err != nil {
					pr.failures[i] = err
				} else if pr.preps[i], pr.failures[i] = s.prepare(ctx, corpus, ins[i], &tsv); pr.failures[i] == nil {
					pr.preps[i].index = i
				}
				close(pr.done[i])
			}
		})
	}
	return pr
}

// take waits for document i, and lets the workers prepare one more.
func (pr *preparer) take(i int) (*prepared, error) {
	<-pr.done[i]
	if !pr.taken[i] {
		pr.taken[i] = true
		select {
		case pr.room <- struct{}{}:
		default: // a worker gave up its token when ctx was cancelled
		}
	}
	return pr.preps[i], pr.failures[i]
}

// stop cancels what is still being prepared and waits for the workers.
func (pr *preparer) stop() {
	pr.cancel()
	pr.wg.Wait()
}

// writeBatch writes the documents of pr in one transaction and fills their results in out.
func (s *Store) writeBatch(ctx context.Context, corpus Corpus, pr *preparer, out []BatchResult) {
	from, to := 0, len(pr.ins)
	// ready waits for documents a..b to be prepared and returns the ones that passed.
	ready := func(a, b int) []*prepared {
		var ps []*prepared
		for i := a; i < b; i++ {
			if p, err := pr.take(i); err == nil {
				ps = append(ps, p)
			}
		}
		return ps
	}
	writeAll := func(groups func(yield func([]*prepared) bool)) error {
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			terms := &termCounts{terms: map[string]int{}}
			for ps := range groups {
				if err := s.writeGroup(ctx, tx, corpus, ps, terms); err != nil {
					return err
				}
			}
			return terms.store(ctx, tx, corpus.ID)
		})
	}
	err := writeAll(func(yield func([]*prepared) bool) {
		for a, n := from, firstWriteGroup; a < to; a, n = a+n, writeGroup {
			ps := ready(a, min(a+n, to))
			if len(ps) > 0 && !yield(ps) {
				return
			}
		}
	})
	all := ready(from, to)
	for i := from; i < to; i++ {
		if err := pr.failures[i]; err != nil {
			out[i] = BatchResult{IngestResult: IngestResult{Slug: strings.TrimSpace(pr.ins[i].Slug)}, Err: err}
		}
	}
	if err != nil && len(all) > 1 && ctx.Err() == nil {
		for _, p := range all {
			err := writeAll(func(yield func([]*prepared) bool) { yield([]*prepared{p}) })
			out[p.index] = BatchResult{IngestResult: p.res, Err: err}
		}
		return
	}
	for _, p := range all {
		out[p.index] = BatchResult{IngestResult: p.res, Err: err}
	}
}

// writeGroup is how many documents IngestBatch writes at a time: enough that one COPY and
// a few statements serve many documents, few enough that writing starts while the rest are
// still being prepared.
const writeGroup = 25

// firstWriteGroup is the first group's size, smaller so that PostgreSQL starts on the batch
// soon after it begins rather than idling while 25 documents are prepared; the groups after
// it are written while the next ones are prepared. Small groups also shorten the end, when
// the last group is written and nothing is left to prepare (issue 17: chunks/s is what the
// two cores do together).
const firstWriteGroup = 5

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
// needs no database. tsv builds its chunks' tsvectors.
func (s *Store) prepare(ctx context.Context, corpus Corpus, in DocumentInput, tsv *tsvBuilder) (*prepared, error) {
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
	// The full-text index and the embedder read the same text: the chunk in its context.
	texts := embeddingTexts(in.Title, p.chunks)
	p.search = make([]pgtype.TSVector, len(p.chunks))
	for i, text := range texts {
		p.search[i] = tsv.build(text)
	}
	if !p.remote {
		if p.vectors, err = embedder.Embed(ctx, texts); err != nil {
			return nil, fmt.Errorf("embed %s: %w", in.Slug, err)
		}
	}
	return p, nil
}

// writeGroup stores prepared documents in tx, fills each one's res, and adds the change in
// their chunks' terms to terms. A slug that comes twice is written in turn: its second
// document is a new version of its first.
func (s *Store) writeGroup(ctx context.Context, tx pgx.Tx, corpus Corpus, ps []*prepared, terms *termCounts) error {
	seen := map[string]bool{}
	for i, p := range ps {
		if seen[p.in.Slug] {
			if err := s.writeGroup(ctx, tx, corpus, ps[:i], terms); err != nil {
				return err
			}
			return s.writeGroup(ctx, tx, corpus, ps[i:], terms)
		}
		seen[p.in.Slug] = true
	}
	slugs := make([]string, len(ps))
	for i, p := range ps {
		slugs[i] = p.in.Slug
		p.res = IngestResult{Slug: p.in.Slug, Chunks: len(p.chunks)}
	}
	type stored struct {
		id      int64
		version int
		hash    []byte
	}
	old := map[string]stored{}
	rows, _ := tx.Query(ctx, `SELECT slug, id, version, content_hash FROM documents WHERE corpus_id = $1 AND slug = ANY($2)
		ORDER BY id FOR UPDATE`, corpus.ID, slugs)
	var slug string
	var st stored
	if _, err := pgx.ForEachRow(rows, []any{&slug, &st.id, &st.version, &st.hash}, func() error { old[slug] = st; return nil }); err != nil {
		return db.Error(err, "look up the documents")
	}
	var added, updated, written []*prepared
	for _, p := range ps {
		st, ok := old[p.in.Slug]
		switch {
		case !ok:
			p.res.Outcome, p.res.Version = Added, 1
			added = append(added, p)
		case bytes.Equal(st.hash, p.hash):
			p.res.DocumentID, p.res.Outcome, p.res.Version, p.res.Chunks = st.id, Unchanged, st.version, 0
			continue
		default:
			p.res.DocumentID, p.res.Outcome, p.res.Version = st.id, Updated, st.version+1
			if st.hash == nil {
				// Stored before documents had versions or chunks: index it as the version it is.
				p.res.Version = st.version
			}
			updated = append(updated, p)
		}
		written = append(written, p)
	}
	if len(written) == 0 {
		return nil
	}
	// The new documents, in one statement; their slugs are unique here, so they name the ids.
	if len(added) > 0 {
		cols := documentColumns(added)
		rows, _ := tx.Query(ctx, `INSERT INTO documents (corpus_id, slug, lang, title, body, tags, source, version, content_hash)
			SELECT $1, d.slug, d.lang, d.title, d.body, ARRAY(SELECT jsonb_array_elements_text(d.tags::jsonb)), d.source, 1, d.hash
			FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bytea[]) WITH ORDINALITY
				AS d (slug, lang, title, body, tags, source, hash, n)
			ORDER BY d.n RETURNING slug, id`, append([]any{corpus.ID}, cols...)...)
		ids := map[string]int64{}
		var slug string
		var id int64
		if _, err := pgx.ForEachRow(rows, []any{&slug, &id}, func() error { ids[slug] = id; return nil }); err != nil {
			return db.Error(err, "store %d documents", len(added))
		}
		for _, p := range added {
			p.res.DocumentID = ids[p.in.Slug]
		}
	}
	for _, p := range updated {
		if err := s.retire(ctx, tx, p, terms); err != nil {
			return err
		}
	}
	ids := make([]int64, len(written))
	versions := make([]int32, len(written))
	hashes, titles, bodies := make([][]byte, len(written)), make([]string, len(written)), make([]string, len(written))
	for i, p := range written {
		ids[i], versions[i], hashes[i], titles[i], bodies[i] = p.res.DocumentID, int32(p.res.Version), p.hash, p.in.Title, p.in.Body
	}
	if _, err := tx.Exec(ctx, `INSERT INTO document_versions (document_id, version, content_hash, title, body)
		SELECT * FROM unnest($1::bigint[], $2::int[], $3::bytea[], $4::text[], $5::text[]) ON CONFLICT (document_id, version) DO NOTHING`,
		ids, versions, hashes, titles, bodies); err != nil {
		return db.Error(err, "store the versions of %d documents", len(written))
	}
	if err := copyChunks(ctx, tx, corpus, written, terms); err != nil {
		return err
	}
	for _, p := range written {
		if p.remote {
			p.res.Queued = true
			if _, err := s.jobs.InsertTx(ctx, tx, EmbedArgs{CorpusID: corpus.ID, DocumentID: p.res.DocumentID, Version: p.res.Version}, nil); err != nil {
				return fmt.Errorf("queue embedding of %q: %w", p.in.Slug, err)
			}
		}
	}
	return nil
}

// documentColumns are the new documents' fields as arrays, for unnest. Tags go as JSON:
// unnest cannot take a ragged array of arrays apart row by row.
func documentColumns(ps []*prepared) []any {
	n := len(ps)
	slugs, langs, titles, bodies, tags, sources := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	hashes := make([][]byte, n)
	for i, p := range ps {
		in := p.in
		slugs[i], langs[i], titles[i], bodies[i], sources[i], hashes[i] = in.Slug, in.Lang, in.Title, in.Body, in.Source, p.hash
		b, _ := json.Marshal(in.Tags) // a []string always encodes
		tags[i] = string(b)
	}
	return []any{slugs, langs, titles, bodies, tags, sources, hashes}
}

// retire makes an updated document's stored row the new version's, counts the gold replies
// that cited the version it replaces, and takes the old chunks' terms off terms.
func (s *Store) retire(ctx context.Context, tx pgx.Tx, p *prepared, terms *termCounts) error {
	in, res := p.in, &p.res
	if _, err := tx.Exec(ctx, `UPDATE documents SET lang = $2, title = $3, body = $4, tags = $5, source = $6, version = $7,
		content_hash = $8, updated_at = now() WHERE id = $1`,
		res.DocumentID, in.Lang, in.Title, in.Body, in.Tags, in.Source, res.Version, p.hash); err != nil {
		return db.Error(err, "store document %q", in.Slug)
	}
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
	if _, err := pgx.ForEachRow(rows, []any{&term, &n}, func() error { terms.terms[term] -= n; return nil }); err != nil {
		return db.Error(err, "count the terms of %q's old version", in.Slug)
	}
	tag, err := tx.Exec(ctx, `UPDATE chunks SET current = false WHERE document_id = $1 AND current`, res.DocumentID)
	if err != nil {
		return db.Error(err, "retire old chunks of %q", in.Slug)
	}
	terms.chunks -= tag.RowsAffected()
	return nil
}

// copyChunks writes the chunks of documents ps with one COPY.
func copyChunks(ctx context.Context, tx pgx.Tx, corpus Corpus, ps []*prepared, terms *termCounts) error {
	now := time.Now()
	var rows [][]any
	for _, p := range ps {
		for i, c := range p.chunks {
			var embedding any
			var embeddedAt any
			if p.vectors != nil {
				embedding, embeddedAt = pgvector.NewVector(p.vectors[i]), now
			}
			for _, l := range p.search[i].Lexemes {
				terms.terms[l.Word]++
			}
			var page *int // NULL for documents without pages
			if c.Page > 0 {
				page = &c.Page
			}
			terms.chunks++
			rows = append(rows, []any{corpus.ID, p.res.DocumentID, p.res.Version, c.Position, c.HeadingPath, c.Text, c.Tokens, p.in.Tags,
				p.search[i], corpus.Dimension, embedding, embeddedAt, page})
		}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"chunks"}, []string{"corpus_id", "document_id", "version", "position", "heading_path",
		"text", "token_count", "tags", "search", "dimension", "embedding", "embedded_at", "page"}, pgx.CopyFromRows(rows))
	if err != nil && len(ps) == 1 {
		return db.Error(err, "store chunks of %q", ps[0].in.Slug)
	}
	return db.Error(err, "store the chunks of %d documents", len(ps))
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

// termCounts is the change in how many current chunks hold each full-text term, and in how
// many current chunks the corpus has: search estimates a conjunction's match from the two
// (TextSQL).
type termCounts struct {
	terms  map[string]int
	chunks int64
}

// store applies the counts to corpus_terms and corpora.current_chunks, the terms in order
// so that concurrent imports into one corpus lock their rows in the same order and cannot
// deadlock; the corpus's row last, so it is held only to the commit.
func (tc *termCounts) store(ctx context.Context, tx pgx.Tx, corpusID int64) error {
	terms := make([]string, 0, len(tc.terms))
	for t, n := range tc.terms {
		if n != 0 {
			terms = append(terms, t)
		}
	}
	if len(terms) > 0 {
		slices.Sort(terms)
		counts := make([]int32, len(terms))
		for i, t := range terms {
			counts[i] = int32(tc.terms[t])
		}
		if _, err := tx.Exec(ctx, `INSERT INTO corpus_terms (corpus_id, term, chunks) SELECT $1, * FROM unnest($2::text[], $3::int[])
			ON CONFLICT (corpus_id, term) DO UPDATE SET chunks = corpus_terms.chunks + excluded.chunks`, corpusID, terms, counts); err != nil {
			return db.Error(err, "count the corpus's terms")
		}
	}
	if tc.chunks == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE corpora SET current_chunks = current_chunks + $2 WHERE id = $1`, corpusID, tc.chunks)
	return db.Error(err, "count the corpus's chunks")
}

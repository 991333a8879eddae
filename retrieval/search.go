package retrieval

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/segment"
)

// Passage is a chunk found for a query, with the parts of its score.
type Passage struct {
	ChunkID     int64    `json:"chunk_id"`
	DocumentID  int64    `json:"document_id"`
	CorpusID    int64    `json:"corpus_id"`
	Version     int      `json:"version"`
	Position    int      `json:"position"`
	Slug        string   `json:"slug"`
	Lang        string   `json:"lang"`
	Title       string   `json:"title"`
	HeadingPath []string `json:"heading_path"`
	Text        string   `json:"text"`
	// Page is the page the passage starts on in a document with pages (a PDF), for citing
	// it as "第 12 页"; 0, and left out, elsewhere.
	Page    int  `json:"page,omitempty"`
	Current bool `json:"current"` // false once the document has a newer version
	// Score is the fused score: the sum over the two lists of weight / (rrf_k + rank).
	Score       float64  `json:"score"`
	VectorRank  *int     `json:"vector_rank"`  // 1-based; null when the vector list missed it
	VectorScore *float64 `json:"vector_score"` // cosine similarity
	TextRank    *int     `json:"text_rank"`
	TextScore   *float64 `json:"text_score"` // ts_rank
}

// Query is one search.
type Query struct {
	CorpusIDs   []int64  `json:"corpus_ids"`
	Text        string   `json:"query"`
	K           int      `json:"k"`
	DocumentIDs []int64  `json:"document_ids,omitempty"` // optional filter
	Tags        []string `json:"tags,omitempty"`         // optional filter: chunks with any of these tags
	Fusion      Fusion   `json:"fusion"`
}

// Fusion says how vector and full-text results combine: reciprocal rank fusion with these
// weights; a zero weight leaves that list out.
type Fusion struct {
	RRFK         int     `json:"rrf_k"`
	VectorWeight float64 `json:"vector_weight"`
	TextWeight   float64 `json:"text_weight"`
}

// DefaultFusion weighs both lists equally with the usual k of 60.
var DefaultFusion = Fusion{RRFK: 60, VectorWeight: 1, TextWeight: 1}

// MaxK bounds how many passages one search returns.
const MaxK = 100

// Validate checks q, filling in the default fusion when none is given.
func (q *Query) Validate() error { return q.validate() }

func (q *Query) validate() error {
	if q.Fusion == (Fusion{}) {
		q.Fusion = DefaultFusion
	}
	switch {
	case strings.TrimSpace(q.Text) == "":
		return errs.Field("query", "must not be empty")
	case len(q.Text) > 4000:
		return errs.Field("query", "is %d bytes; the limit is 4000", len(q.Text))
	case q.K < 1 || q.K > MaxK:
		return errs.Field("k", "must be between 1 and %d, not %d", MaxK, q.K)
	case len(q.CorpusIDs) == 0:
		return errs.Field("corpus_ids", "name at least one corpus")
	case q.Fusion.RRFK < 1 || q.Fusion.RRFK > 1000:
		return errs.Field("rrf_k", "must be between 1 and 1000, not %d", q.Fusion.RRFK)
	case math.IsNaN(q.Fusion.VectorWeight) || math.IsInf(q.Fusion.VectorWeight, 0):
		return errs.Field("vector_weight", "must be a finite number")
	case math.IsNaN(q.Fusion.TextWeight) || math.IsInf(q.Fusion.TextWeight, 0):
		return errs.Field("text_weight", "must be a finite number")
	case q.Fusion.VectorWeight < 0 || q.Fusion.TextWeight < 0 || q.Fusion.VectorWeight+q.Fusion.TextWeight == 0:
		return errs.Field("vector_weight", "weights must not be negative, and at least one must be positive")
	}
	return nil
}

// Search finds the k best current chunks for q in its corpora. Corpora are searched in
// groups that share an embedder (one query vector each); each group runs as one SQL
// statement that fuses its vector and full-text lists, and groups merge by fused score.
func (s *Store) Search(ctx context.Context, q Query) ([]Passage, error) {
	res, err := s.SearchDetailed(ctx, q)
	return res.Passages, err
}

// Result is a search's passages and, when it had to do without something, a note saying what.
type Result struct {
	Passages []Passage `json:"passages"`
	Note     string    `json:"note,omitempty"`
}

// embedQueryError is a query the embedder could not embed.
type embedQueryError struct {
	embedder string
	err      error
}

func (e *embedQueryError) Error() string {
	return fmt.Sprintf("embed the query with %s: %v", e.embedder, e.err)
}

// SearchDetailed is Search, with a note when vector search was unavailable.
func (s *Store) SearchDetailed(ctx context.Context, q Query) (res Result, _ error) {
	if err := q.validate(); err != nil {
		return res, err
	}
	rows, _ := s.pool.Query(ctx, `SELECT id, embedder, dimension FROM corpora WHERE id = ANY($1) ORDER BY id`, q.CorpusIDs)
	var corpora []Corpus
	var c Corpus
	_, err := pgx.ForEachRow(rows, []any{&c.ID, &c.Embedder, &c.Dimension}, func() error {
		corpora = append(corpora, c)
		return nil
	})
	if err != nil {
		return res, db.Error(err, "look up corpora")
	}
	if len(corpora) == 0 {
		return res, errs.E(errs.NotFound, "none of corpora %v exist", q.CorpusIDs)
	}
	return s.searchCorpora(ctx, q, corpora)
}

// SearchCorpus is SearchDetailed over one corpus its caller has already read (GET /search's
// access check reads it, in the round trip that finds the caller's session): the search
// starts with its lists, where SearchDetailed first looks its corpora up again, a round trip
// of its own (issue 17). q.CorpusIDs is set to corpus's id.
func (s *Store) SearchCorpus(ctx context.Context, q Query, corpus Corpus) (Result, error) {
	q.CorpusIDs = []int64{corpus.ID}
	if err := q.validate(); err != nil {
		return Result{}, err
	}
	return s.searchCorpora(ctx, q, []Corpus{corpus})
}

// searchCorpora searches a validated q in corpora (their ids, embedders and dimensions), in
// order of id.
func (s *Store) searchCorpora(ctx context.Context, q Query, corpora []Corpus) (res Result, _ error) {
	type group struct {
		embedder string
		dim      int
		ids      []int64
	}
	var groups []*group
	byEmbedder := map[string]*group{}
	for _, c := range corpora {
		g, ok := byEmbedder[c.Embedder]
		if !ok {
			g = &group{embedder: c.Embedder, dim: c.Dimension}
			byEmbedder[c.Embedder] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, c.ID)
	}
	var out []Passage
	for _, g := range groups {
		args, err := s.SearchArgs(ctx, q, g.embedder, g.dim, g.ids)
		var eq *embedQueryError
		if errors.As(err, &eq) && q.Fusion.TextWeight > 0 {
			// An embeddings endpoint that is down must not stop replies: search full text
			// alone, and say so.
			degraded := q
			degraded.Fusion.VectorWeight = 0
			res.Note = fmt.Sprintf("vector search unavailable (%v): full text only", eq)
			args, err = s.SearchArgs(ctx, degraded, g.embedder, g.dim, g.ids)
		}
		if err != nil {
			return res, err
		}
		ps, err := s.SearchGroup(ctx, g.dim, args)
		if err != nil {
			return res, err
		}
		out = append(out, ps...)
	}
	if len(groups) > 1 {
		slices.SortFunc(out, func(a, b Passage) int {
			return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(b.ChunkID, a.ChunkID))
		})
		out = out[:min(len(out), q.K)]
	}
	res.Passages = out
	return res, nil
}

// SearchArgs are the parameters of SearchSQL for one group of corpora sharing an embedder.
func (s *Store) SearchArgs(ctx context.Context, q Query, embedderName string, dim int, corpusIDs []int64) ([]any, error) {
	perList := max(2*q.K, 20)
	vectorLimit, textLimit := perList, perList
	e, err := s.embedders.Get(embedderName)
	if err != nil {
		return nil, errs.E(errs.Unavailable, "this server has no embedder %s, which the corpus uses: configure it, or search with vector_weight=0", embedderName)
	}
	if e.Dimension() != dim {
		return nil, errs.E(errs.Unprocessable, "embedder %s is configured for %d dimensions, but the corpus holds %d: fix --embeddings-dimension", embedderName, e.Dimension(), dim)
	}
	vec := make([]float32, dim)
	vec[0] = 1 // a placeholder, never compared, when the vector list is left out
	if q.Fusion.VectorWeight == 0 {
		vectorLimit = 0
	} else {
		vs, err := e.Embed(ctx, []string{q.Text})
		if err != nil {
			return nil, &embedQueryError{embedder: embedderName, err: err}
		}
		vec = vs[0]
	}
	terms := segment.QueryTerms(q.Text)
	if q.Fusion.TextWeight == 0 || len(terms) == 0 {
		textLimit, terms = 0, []string{}
	}
	var docIDs, tags any
	if len(q.DocumentIDs) > 0 {
		docIDs = q.DocumentIDs
	}
	if len(q.Tags) > 0 {
		tags = q.Tags
	}
	return []any{pgvector.NewVector(vec), corpusIDs, docIDs, tags, vectorLimit, terms, textLimit,
		q.Fusion.VectorWeight, q.Fusion.TextWeight, q.Fusion.RRFK, q.K}, nil
}

// TextMatchBudget bounds how many chunks the full-text list ranks, since ranking is what
// costs (about 5 µs a chunk, most of it reading the tsvector). The query's terms are taken
// rarest first (by corpus_terms) while their chunk counts add up to at most this; terms
// that most chunks hold (携带 in a customs corpus) fall out, as stop words would. When even
// the rarest term is over the budget, chunks must hold two of the four rarest terms instead,
// and when two of them are still expected to match more, three (TextSQL says how it
// estimates). Without this, ranking every chunk that shares a common bigram with the
// question took 100 ms at 20k chunks (docs/benchmarks.md).
const TextMatchBudget = 1000

// TextRankCap bounds the chunks ranked when even the strictest fallback matches more: the
// first the scan finds are ranked, and the scan stops there, so the work is bounded by the
// cap and not by the match (the 7,377 chunks a fallback matched at 100k took 25 ms to read
// before they were cut to the newest 1,000: issue 17). Only a question made of words that
// nearly all of the corpus holds together gets there, and its answer was never going to come
// from full text.
const TextRankCap = 1000

// TextFallbackSpread bounds the index's work in the pairs' and triples' fallbacks: of the four
// rarest terms, one more than this many times as common as the rarest is left out (the two,
// or three, rarest always stay). An OR of conjunctions has no term every match must hold, so
// the GIN scan reads every posting list the tsquery names, whole: at 100k chunks an English
// question's fallback paired "declare" (13,724 chunks) with the product's words (1,288) and
// its index scan read 19,684 postings for a match it then capped (issue 17).
const TextFallbackSpread = 4

// passageColumns are a Passage's stored fields, as SearchGroup reads them for the fused top k.
const passageColumns = `c.id, c.document_id, c.corpus_id, c.version, c.position, d.slug, d.lang, d.title, c.heading_path, c.text,
	coalesce(c.page, 0), c.current`

// QueueEfSearch queues on b the setting of hnsw.ef_search, for the rest of b's transaction,
// by the size of the index a search of dim dimensions walks: every current chunk of that
// dimension, in every corpus (corpora.current_chunks; the index spans corpora). Above
// db.HNSWLargeIndex vectors it is db.HNSWEfSearchLarge, else db.HNSWEfSearch, and never less
// than limit, the list's length: HNSW finds at most ef_search candidates before it iterates,
// and recall was measured for a list of 10 to 20. A batch sent outside a transaction block is
// one implicit transaction, so it holds for the statements queued after it and ends with them.
func QueueEfSearch(b *pgx.Batch, dim, limit int) {
	b.Queue(`SELECT set_config('hnsw.ef_search', greatest($5::int, CASE WHEN coalesce(sum(current_chunks), 0) > $2::bigint THEN $3::int ELSE $4::int END)::text, true)
		FROM corpora WHERE dimension = $1::int`, dim, db.HNSWLargeIndex, db.HNSWEfSearchLarge, db.HNSWEfSearch, limit)
}

// VectorSQL is the vector list's statement for vectors of dim dimensions in its general form,
// on SearchArgs' first five arguments: the ids of the chunks nearest $1 and their distances,
// cut to $5. It relies on pgvector's iterative index scans (set on every pooled connection,
// see db.Connect) so that filters that match few rows still fill it. SearchGroup runs it as
// vectorList writes it.
func VectorSQL(dim int) string {
	return vectorSQL(dim, `($3::bigint[] IS NULL OR document_id = ANY($3)) AND ($4::text[] IS NULL OR tags && $4)`, "$5")
}

func vectorSQL(dim int, filters, limit string) string {
	return fmt.Sprintf(`SELECT id, embedding::vector(%[1]d) <=> $1 AS dist FROM chunks
		WHERE dimension = %[1]d AND current AND embedding IS NOT NULL AND corpus_id = ANY($2) AND %[2]s
		ORDER BY embedding::vector(%[1]d) <=> $1 LIMIT %[3]s`, dim, filters, limit)
}

// VectorList is the vector list's statement and its arguments as SearchGroup runs it, on
// SearchArgs: VectorSQL with the limit written into it and only the filters the query has.
// With the filters and the limit as parameters, PostgreSQL's generic plan had to guess them
// (the filters as selective, the limit as a tenth of the table) and came out 25 times dearer
// than a plan for the call, so every call was planned anew (issue 17: 0 of its runs used the
// cached plan, the full-text statement's 95%). As written here, the cached plan is the one a
// call would get. A k over 10 or a filter is a statement of its own, cached as well.
func VectorList(dim int, args []any) (string, []any) {
	out := []any{args[0], args[1]}
	filters := "true"
	if args[2] != nil {
		out = append(out, args[2])
		filters += fmt.Sprintf(" AND document_id = ANY($%d::bigint[])", len(out))
	}
	if args[3] != nil {
		out = append(out, args[3])
		filters += fmt.Sprintf(" AND tags && $%d::text[]", len(out))
	}
	limit, _ := args[4].(int)
	return vectorSQL(dim, filters, strconv.Itoa(limit)), out
}

// TextSQL is the full-text list's statement, on TextArgs: the ids and ts_rank of the chunks
// that best match the query's terms ($4) in corpora $1, cut to $5, the tsquery chosen as
// TextMatchBudget says:
//
//  1. the rarest terms whose chunk counts (df) add up to the budget, any of them, when the
//     rarest is under it (or the query has one term);
//  2. else pairs of the four rarest, both terms of a pair: the pairs expected to match
//     fewest first, while their expected matches add up to the budget (at least one);
//  3. else, when even the best pair is expected to match more, triples of the four rarest
//     the same way (issue 17).
//
// A conjunction's match is estimated from the corpus's current chunk count N
// (corpora.current_chunks) as if its terms were independent: df_a·df_b/N for a pair,
// df_a·df_b·df_c/N² for a triple. Terms of one phrase go together more often than that, so
// an estimate can be low; TextRankCap still bounds what a low estimate lets through.
var TextSQL = fmt.Sprintf(`WITH terms AS (
	SELECT term, df, row_number() OVER (ORDER BY df, term) AS n, sum(df) OVER (ORDER BY df, term) - df AS before FROM (
		SELECT term, sum(chunks) AS df FROM corpus_terms WHERE corpus_id = ANY($1) AND term = ANY($4::text[]) AND chunks > 0
		GROUP BY term) t
), size AS (
	SELECT greatest(sum(current_chunks), 1)::float8 AS n FROM corpora WHERE id = ANY($1)
), pairs AS (
	SELECT q, est, sum(est) OVER w - est AS before, row_number() OVER w AS k FROM (
		SELECT quote_literal(a.term) || ' & ' || quote_literal(b.term) AS q, a.df::float8 * b.df / size.n AS est
		FROM terms a JOIN terms b ON a.n < b.n AND b.n <= 4 AND (b.n = 2 OR b.df <= %[3]d * (SELECT min(df) FROM terms)), size) p
	WINDOW w AS (ORDER BY est, q)
), triples AS (
	SELECT q, est, sum(est) OVER w - est AS before, row_number() OVER w AS k FROM (
		SELECT quote_literal(a.term) || ' & ' || quote_literal(b.term) || ' & ' || quote_literal(c.term) AS q,
			a.df::float8 * b.df * c.df / (size.n * size.n) AS est
		FROM terms a JOIN terms b ON a.n < b.n JOIN terms c ON b.n < c.n AND c.n <= 4 AND (c.n = 3 OR c.df <= %[3]d * (SELECT min(df) FROM terms)), size) p
	WINDOW w AS (ORDER BY est, q)
), tsq AS MATERIALIZED (
	-- Materialized, so that the choice is planned once and not again for each of its two
	-- uses; each use is a scalar subquery, so that the match is a condition of the scan of
	-- chunks (the index's, or the filter under the cap) and not of a join above it.
	SELECT CASE
		WHEN (SELECT min(df) FROM terms) < %[1]d OR (SELECT count(*) FROM terms) = 1
			THEN (SELECT to_tsquery('simple', string_agg(quote_literal(term), ' | ')) FROM terms WHERE before + df <= %[1]d OR n = 1)
		WHEN (SELECT min(est) FROM pairs) <= %[1]d OR (SELECT count(*) FROM terms) = 2
			THEN (SELECT to_tsquery('simple', string_agg(q, ' | ')) FROM pairs WHERE before + est <= %[1]d OR k = 1)
		ELSE (SELECT to_tsquery('simple', string_agg(q, ' | ')) FROM triples WHERE before + est <= %[1]d OR k = 1)
	END AS q
), txt AS (
	SELECT id, rank FROM (
		-- No order before the cap, so that the scan stops at it: the heap is read for at most
		-- TextRankCap matching chunks, however many the index found (issue 17).
		SELECT c.id, ts_rank(c.search, (SELECT q FROM tsq), 1) AS rank FROM chunks c
		WHERE c.current AND c.search @@ (SELECT q FROM tsq) AND c.corpus_id = ANY($1)
			AND ($2::bigint[] IS NULL OR c.document_id = ANY($2)) AND ($3::text[] IS NULL OR c.tags && $3)
		LIMIT %[2]d) m
	ORDER BY rank DESC, id DESC LIMIT $5
)
SELECT id, rank FROM txt`, TextMatchBudget, TextRankCap, TextFallbackSpread)

// TextArgs picks TextSQL's arguments out of SearchArgs'.
func TextArgs(args []any) []any { return []any{args[1], args[2], args[3], args[5], args[6]} }

// PassagesSQL reads the fused top k's passages, on their ids ($1).
const PassagesSQL = `SELECT ` + passageColumns + ` FROM chunks c JOIN documents d ON d.id = c.document_id WHERE c.id = ANY($1::bigint[])`

// SearchGroup runs one group's search on SearchArgs: the vector and the full-text lists as
// two statements at once, on two connections, since each waits on its own index; then
// reciprocal rank fusion, and the passages of the fused top k read by one more statement.
// The lists return ids and scores only: reading every candidate's text, title and headings
// (2k' chunks and their documents) for the k that fusion keeps cost both sides (issue 17).
// Ties in either list and in the fused order go to the higher chunk id, as trec_eval breaks
// them.
func (s *Store) SearchGroup(ctx context.Context, dim int, args []any) ([]Passage, error) {
	type hit struct {
		id    int64
		score float64 // the list's own: distance, or ts_rank
	}
	vectorLimit, _ := args[4].(int)
	list := func(sql string, args []any, text bool) ([]hit, error) {
		var out []hit
		var h hit
		var rank float32
		dest := []any{&h.id, &h.score}
		if text {
			dest[1] = &rank // ts_rank is a real: compare it as one
		}
		read := func(rows pgx.Rows) error {
			_, err := pgx.ForEachRow(rows, dest, func() error {
				if text {
					h.score = float64(rank)
				}
				out = append(out, h)
				return nil
			})
			return err
		}
		b := &pgx.Batch{}
		if !text {
			// The vector list's ef_search follows the size of the index it walks, in the
			// same round trip and for this statement only (the batch is one implicit
			// transaction).
			QueueEfSearch(b, dim, vectorLimit)
		}
		b.Queue(sql, args...).Query(read)
		err := s.pool.SendBatch(ctx, b).Close()
		return out, err
	}
	var vec, txt []hit
	var vecErr, txtErr error
	textLimit, _ := args[6].(int)
	var wg sync.WaitGroup
	if vectorLimit > 0 {
		sql, vargs := VectorList(dim, args)
		if textLimit > 0 {
			wg.Go(func() { vec, vecErr = list(sql, vargs, false) })
		} else {
			vec, vecErr = list(sql, vargs, false)
		}
	}
	if textLimit > 0 {
		txt, txtErr = list(TextSQL, TextArgs(args), true)
	}
	wg.Wait()
	if err := cmp.Or(vecErr, txtErr); err != nil {
		return nil, db.Error(err, "search")
	}
	slices.SortFunc(vec, func(a, b hit) int {
		return cmp.Or(cmp.Compare(a.score, b.score), cmp.Compare(b.id, a.id))
	})
	slices.SortFunc(txt, func(a, b hit) int {
		return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(b.id, a.id))
	})
	vw, tw, rrfK, k := args[7].(float64), args[8].(float64), args[9].(int), args[10].(int)
	fused := make(map[int64]*Passage, len(vec)+len(txt))
	out := make([]*Passage, 0, len(vec)+len(txt))
	for i, h := range vec {
		r, sim := i+1, 1-h.score
		p := &Passage{ChunkID: h.id, VectorRank: &r, VectorScore: &sim, Score: vw / float64(rrfK+r)}
		fused[h.id] = p
		out = append(out, p)
	}
	for i, h := range txt {
		r, score := i+1, h.score
		p, ok := fused[h.id]
		if !ok {
			p = &Passage{ChunkID: h.id}
			fused[h.id] = p
			out = append(out, p)
		}
		p.TextRank, p.TextScore = &r, &score
		// As the statement once summed them: the vector part first, zero when it is absent.
		p.Score += tw / float64(rrfK+r)
	}
	slices.SortFunc(out, func(a, b *Passage) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(b.ChunkID, a.ChunkID))
	})
	out = out[:min(k, len(out))]
	if len(out) == 0 {
		return []Passage{}, nil
	}
	ids := make([]int64, len(out))
	for i, p := range out {
		ids[i] = p.ChunkID
	}
	rows, _ := s.pool.Query(ctx, PassagesSQL, ids)
	var p Passage
	_, err := pgx.ForEachRow(rows, []any{&p.ChunkID, &p.DocumentID, &p.CorpusID, &p.Version, &p.Position, &p.Slug,
		&p.Lang, &p.Title, &p.HeadingPath, &p.Text, &p.Page, &p.Current}, func() error {
		f := fused[p.ChunkID]
		f.DocumentID, f.CorpusID, f.Version, f.Position, f.Slug = p.DocumentID, p.CorpusID, p.Version, p.Position, p.Slug
		f.Lang, f.Title, f.HeadingPath, f.Text, f.Page, f.Current = p.Lang, p.Title, p.HeadingPath, p.Text, p.Page, p.Current
		return nil
	})
	if err != nil {
		return nil, db.Error(err, "read chunks")
	}
	res := make([]Passage, 0, len(out))
	for _, p := range out {
		// A chunk whose document was deleted since the lists ran is gone (no document has
		// id 0): leave it out, as the lists would have.
		if p.DocumentID != 0 {
			res = append(res, *p)
		}
	}
	return res, nil
}

func scanPassage(row pgx.CollectableRow) (Passage, error) {
	var p Passage
	err := row.Scan(&p.ChunkID, &p.DocumentID, &p.CorpusID, &p.Version, &p.Position, &p.Slug, &p.Lang, &p.Title,
		&p.HeadingPath, &p.Text, &p.Page, &p.Current, &p.Score, &p.VectorRank, &p.VectorScore, &p.TextRank, &p.TextScore)
	return p, err
}

// Chunks returns the chunks with ids, in the order given, for provenance: the passages a
// candidate was given, whatever version they belong to.
func (s *Store) Chunks(ctx context.Context, ids []int64) ([]Passage, error) {
	rows, _ := s.pool.Query(ctx, `SELECT c.id, c.document_id, c.corpus_id, c.version, c.position, d.slug, d.lang, d.title,
		c.heading_path, c.text, coalesce(c.page, 0), c.current, 0::float8, NULL::int, NULL::float8, NULL::int, NULL::float8
		FROM unnest($1::bigint[]) WITH ORDINALITY AS want(id, n) JOIN chunks c ON c.id = want.id JOIN documents d ON d.id = c.document_id
		ORDER BY want.n`, ids)
	out, err := pgx.CollectRows(rows, scanPassage)
	return out, db.Error(err, "read chunks")
}

// GuessLang says whether text is mostly Chinese.
func GuessLang(text string) string {
	var han, letters int
	for _, r := range text {
		switch {
		case unicode.Is(unicode.Han, r):
			han++
		case unicode.IsLetter(r):
			letters++
		}
	}
	// A Chinese character carries about a word's worth of meaning; compare against words.
	if han > 0 && han*5 >= letters {
		return "zh-CN"
	}
	return "en"
}

package retrieval_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/retrieval"
)

// knowledge is a small corpus where the right passage for each question is known.
var knowledge = []retrieval.DocumentInput{
	{Slug: "postal", Title: "个人邮递物品", Body: "# 免征额\n个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征。\n\n# 超限\n超出部分需要依法纳税，或办理退运。"},
	{Slug: "cash", Title: "现金申报", Body: "旅客携带人民币现钞超过20000元，或外币现钞折合超过5000美元的，应当向海关书面申报。"},
	{Slug: "alcohol", Title: "烟酒限量", Body: "进境旅客携带酒精饮料限1500毫升，香烟限400支。超出部分征税。"},
	{Slug: "pets", Title: "宠物入境", Body: "每名旅客限带一只犬或猫，须出具官方动物检疫证书和狂犬病疫苗接种证书，并隔离检疫。"},
	{Slug: "cbec", Title: "跨境电商", Body: "跨境电子商务零售进口商品单次交易限值为人民币5000元，个人年度交易限值为人民币26000元。"},
	{Slug: "duty-free-en", Title: "Duty-free allowance", Body: "Residents returning from abroad may bring goods bought overseas worth up to 5,000 yuan free of duty. Above that, duty is charged on the excess."},
	{Slug: "drones-en", Title: "Drones in luggage", Body: "Drones carried as personal items must be declared when their batteries exceed 160 watt-hours; spare lithium batteries go in hand luggage."},
	{Slug: "medicine", Title: "自用药品", Body: "旅客携带自用的中药材、中成药，以合理数量为限；超出自用合理数量的，按货物办理。"},
}

func newCorpus(t *testing.T, pool *pgxpool.Pool, s *retrieval.Store, c retrieval.Corpus) retrieval.Corpus {
	t.Helper()
	ctx := context.Background()
	var projectID int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO projects (slug, name) VALUES ($1, '知识项目')
		ON CONFLICT (slug) DO UPDATE SET name = excluded.name RETURNING id`, "kb-project").Scan(&projectID))
	c.ProjectID = projectID
	if c.Name == "" {
		c.Name = "知识库"
	}
	corpus, err := s.CreateCorpus(ctx, c)
	require.NoError(t, err)
	return corpus
}

func ingestAll(t *testing.T, s *retrieval.Store, c retrieval.Corpus, docs []retrieval.DocumentInput) {
	t.Helper()
	for _, d := range docs {
		res, err := s.Ingest(context.Background(), c, d)
		require.NoError(t, err, d.Slug)
		require.Equal(t, retrieval.Added, res.Outcome, d.Slug)
	}
}

func TestHybridSearchFindsTheKnownPassage(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	ingestAll(t, s, c, knowledge)

	tests := []struct {
		query  string
		fusion retrieval.Fusion
		want   string // slug of the document the top passage must come from
	}{
		{"邮寄物品免税额是多少？", retrieval.DefaultFusion, "postal"},
		{"带多少现金要申报", retrieval.DefaultFusion, "cash"},
		{"可以带多少酒精饮料", retrieval.DefaultFusion, "alcohol"},
		{"狗能带入境吗", retrieval.DefaultFusion, "pets"},
		{"跨境电商年度限额", retrieval.DefaultFusion, "cbec"},
		{"How much can I bring duty-free?", retrieval.DefaultFusion, "duty-free-en"},
		{"drone battery watt-hours", retrieval.DefaultFusion, "drones-en"},
		// One or two Chinese characters still find full-text hits.
		{"猫", retrieval.Fusion{RRFK: 60, TextWeight: 1}, "pets"},
		{"药材", retrieval.Fusion{RRFK: 60, TextWeight: 1}, "medicine"},
		{"现钞", retrieval.Fusion{RRFK: 60, TextWeight: 1}, "cash"},
		// Each list alone also finds Chinese passages.
		{"香烟支数限制", retrieval.Fusion{RRFK: 60, VectorWeight: 1}, "alcohol"},
		{"香烟支数限制", retrieval.Fusion{RRFK: 60, TextWeight: 1}, "alcohol"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, err := s.Search(context.Background(), retrieval.Query{CorpusIDs: []int64{c.ID}, Text: tt.query, K: 3, Fusion: tt.fusion})
			require.NoError(t, err)
			require.NotEmpty(t, got)
			assert.Equal(t, tt.want, got[0].Slug, "top passage: %q", got[0].Text)
			for i, p := range got {
				assert.True(t, p.Current)
				if i > 0 {
					assert.GreaterOrEqual(t, got[i-1].Score, p.Score, "fused scores descend")
				}
				// The score is exactly the sum of its parts.
				var want float64
				if p.VectorRank != nil {
					want += tt.fusion.VectorWeight / float64(tt.fusion.RRFK+*p.VectorRank)
				}
				if p.TextRank != nil {
					want += tt.fusion.TextWeight / float64(tt.fusion.RRFK+*p.TextRank)
				}
				assert.InDelta(t, want, p.Score, 1e-9)
			}
			if tt.fusion.VectorWeight == 0 {
				assert.Nil(t, got[0].VectorRank, "a zero weight leaves the vector list out")
			}
		})
	}
}

func TestSearchRejectsBadQueries(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	tests := []struct {
		name  string
		q     retrieval.Query
		field string
	}{
		{"empty", retrieval.Query{CorpusIDs: []int64{c.ID}, Text: " ", K: 3}, "query"},
		{"k zero", retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "税", K: 0}, "k"},
		{"k too big", retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "税", K: 101}, "k"},
		{"no corpus", retrieval.Query{Text: "税", K: 3}, "corpus_ids"},
		{"negative weight", retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "税", K: 3, Fusion: retrieval.Fusion{RRFK: 60, VectorWeight: -1, TextWeight: 1}}, "vector_weight"},
		{"weight not a number", retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "税", K: 3, Fusion: retrieval.Fusion{RRFK: 60, VectorWeight: 1, TextWeight: math.NaN()}}, "text_weight"},
		{"infinite weight", retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "税", K: 3, Fusion: retrieval.Fusion{RRFK: 60, VectorWeight: math.Inf(1), TextWeight: 1}}, "vector_weight"},
	}
	for _, tt := range tests {
		_, err := s.Search(context.Background(), tt.q)
		assert.Equal(t, errs.Invalid, errs.KindOf(err), tt.name)
		assert.Contains(t, err.Error(), tt.field, tt.name)
	}
	// Punctuation alone has no terms: the vector list still answers, and nothing fails.
	_, err := s.Search(context.Background(), retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "？！", K: 3})
	require.NoError(t, err)
}

// tags marks document 77 alone as "rare".
func tags(i int) []string {
	if i == 77 {
		return []string{"rare"}
	}
	return []string{fmt.Sprintf("year-%d", 2000+i%20)}
}

func TestFilteredVectorSearchFillsK(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "big", ChunkTokens: 64, ChunkOverlap: 0})
	ctx := context.Background()
	// 150 documents about tariffs; the filter picks one of them, which has 12 chunks. The
	// HNSW search visits ef_search (100) candidates, nearly all outside the filter.
	var wanted int64
	for i := range 150 {
		var paras []string
		n := 2
		if i == 77 {
			n = 12
		}
		for j := range n {
			paras = append(paras, fmt.Sprintf("第%d号公告第%d段：进口关税税率按照商品编码%04d确定，海关依法征收关税和进口环节增值税。", i, j, i*10+j))
		}
		res, err := s.Ingest(ctx, c, retrieval.DocumentInput{Slug: fmt.Sprintf("notice-%d", i), Title: fmt.Sprintf("关税公告 %d", i),
			Body: strings.Join(paras, "\n\n"), Tags: tags(i)})
		require.NoError(t, err)
		if i == 77 {
			wanted = res.DocumentID
			require.Equal(t, 12, res.Chunks)
		}
	}
	// On a table this small the planner would rather search the corpus's rows exactly (through
	// chunks_corpus); without it it must use the HNSW index, as it does for a large corpus,
	// which is the case under test. (It dropped chunks_document too until migration 00024
	// dropped it for good: the unique index on the same columns stays, as it did here.)
	_, err := pool.Exec(ctx, `DROP INDEX chunks_corpus`)
	require.NoError(t, err)
	q := retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "进口环节增值税怎么征收", K: 10, Tags: []string{"rare"},
		Fusion: retrieval.Fusion{RRFK: 60, VectorWeight: 1}}
	got, err := s.Search(ctx, q)
	require.NoError(t, err)
	assert.Len(t, got, 10, "the filter matches 12 chunks, so 10 come back")
	for _, p := range got {
		assert.Equal(t, wanted, p.DocumentID)
	}

	// The same vector list without iterative scans returns fewer: the test above would catch
	// a connection that lost the setting.
	args, err := s.SearchArgs(ctx, q, c.Embedder, c.Dimension, []int64{c.ID})
	require.NoError(t, err)
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	// enable_seqscan off as well: with 310 chunks the planner may otherwise sort them all by
	// exact distance, which fills k without the index and made this check fail at random.
	_, err = conn.Exec(ctx, `SET hnsw.iterative_scan = off; SET hnsw.ef_search = 40; SET enable_seqscan = off`)
	require.NoError(t, err)
	defer conn.Exec(ctx, fmt.Sprintf(`SET hnsw.iterative_scan = relaxed_order; SET hnsw.ef_search = %d; RESET enable_seqscan`, db.HNSWEfSearch)) //nolint:errcheck
	rows, err := conn.Query(ctx, retrieval.VectorSQL(c.Dimension), args[:5]...)
	require.NoError(t, err)
	n := 0
	for rows.Next() {
		n++
	}
	require.NoError(t, rows.Err())
	assert.Less(t, n, 10, "without iterative scans the filtered HNSW search comes back short")

	// A document filter fills k too.
	got, err = s.Search(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "关税", K: 10, DocumentIDs: []int64{wanted}})
	require.NoError(t, err)
	assert.Len(t, got, 10)
}

func TestIngestVersionsAndSkipsUnchanged(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	ctx := context.Background()
	doc := knowledge[0]

	first, err := s.Ingest(ctx, c, doc)
	require.NoError(t, err)
	assert.Equal(t, retrieval.Added, first.Outcome)
	assert.Equal(t, 1, first.Version)
	assert.Equal(t, 2, first.Chunks, "one chunk per heading")

	again, err := s.Ingest(ctx, c, doc)
	require.NoError(t, err)
	assert.Equal(t, retrieval.Unchanged, again.Outcome)
	assert.Equal(t, 1, again.Version)

	var chunks int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE document_id = $1`, first.DocumentID).Scan(&chunks))
	assert.Equal(t, 2, chunks, "re-importing the same content writes nothing")

	doc.Body = strings.Replace(doc.Body, "50元", "100元", 1)
	second, err := s.Ingest(ctx, c, doc)
	require.NoError(t, err)
	assert.Equal(t, retrieval.Updated, second.Outcome)
	assert.Equal(t, 2, second.Version)
	assert.Equal(t, first.DocumentID, second.DocumentID)

	got, err := s.Search(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "免征额", K: 5})
	require.NoError(t, err)
	require.NotEmpty(t, got)
	for _, p := range got {
		assert.Equal(t, 2, p.Version, "search sees only the current version")
	}
	assert.Contains(t, got[0].Text, "100元")

	var old, current int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE NOT current), count(*) FILTER (WHERE current) FROM chunks
		WHERE document_id = $1`, first.DocumentID).Scan(&old, &current))
	assert.Equal(t, 2, old, "old chunks stay for provenance")
	assert.Equal(t, 2, current)

	// The term counts search relies on follow the versions exactly.
	var mismatches int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM (
		SELECT lexeme AS term, count(*)::int AS n FROM chunks, unnest(search) WHERE current AND corpus_id = $1 GROUP BY lexeme) actual
		FULL JOIN (SELECT term, chunks AS n FROM corpus_terms WHERE corpus_id = $1 AND chunks <> 0) counted USING (term)
		WHERE actual.n IS DISTINCT FROM counted.n`, c.ID).Scan(&mismatches))
	assert.Zero(t, mismatches, "corpus_terms matches the current chunks")
	var stale int
	require.NoError(t, pool.QueryRow(ctx, `SELECT chunks FROM corpus_terms WHERE corpus_id = $1 AND term = '50'`, c.ID).Scan(&stale))
	assert.Zero(t, stale, "the replaced version's terms were counted out")

	corpus, err := s.CorpusStatus(ctx, c.ID)
	require.NoError(t, err)
	assert.Equal(t, 1, corpus.DocumentCount)
	assert.Equal(t, 2, corpus.ChunkCount)
	assert.Equal(t, 2, corpus.EmbeddedCount)
}

func TestIngestRejectsBadDocuments(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	tests := []struct {
		name string
		in   retrieval.DocumentInput
		kind errs.Kind
		msg  string
	}{
		{"empty body", retrieval.DocumentInput{Slug: "a", Title: "A", Body: "  \n"}, errs.Invalid, "no text"},
		{"no title", retrieval.DocumentInput{Slug: "a", Body: "正文"}, errs.Invalid, "title"},
		{"bad language", retrieval.DocumentInput{Slug: "a", Title: "A", Body: "正文", Lang: "fr"}, errs.Invalid, "lang"},
		{"too large", retrieval.DocumentInput{Slug: "a", Title: "A", Body: strings.Repeat("税", retrieval.MaxDocumentBytes/3+1)}, errs.TooLarge, "8 MiB"},
	}
	for _, tt := range tests {
		_, err := s.Ingest(context.Background(), c, tt.in)
		assert.Equal(t, tt.kind, errs.KindOf(err), tt.name)
		assert.ErrorContains(t, err, tt.msg, tt.name)
	}
}

func TestCorpusEmbedderIsFixed(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	ctx := context.Background()

	_, err := s.CreateCorpus(ctx, retrieval.Corpus{ProjectID: 1, Slug: "x", Name: "x", Embedder: "text-embedding-3-small"})
	assert.ErrorContains(t, err, "offline-ngram-256", "an unknown embedder is refused, naming the known ones")
	_, err = s.CreateCorpus(ctx, retrieval.Corpus{ProjectID: 1, Slug: "x", Name: "x", Dimension: 1536})
	assert.ErrorContains(t, err, "makes 256 dimensions, not 1536")

	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	_, err = pool.Exec(ctx, `UPDATE corpora SET dimension = 512 WHERE id = $1`, c.ID)
	assert.ErrorContains(t, err, "fixed", "the database refuses to change a corpus's dimension")
	_, err = pool.Exec(ctx, `UPDATE corpora SET name = 'renamed' WHERE id = $1`, c.ID)
	assert.NoError(t, err, "other fields can change")
}

func TestFullTextLeavesOutTermsMostChunksHold(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb"})
	// More chunks hold 申报 than the budget allows; one holds 燕窝 as well.
	docs := make([]retrieval.DocumentInput, retrieval.TextMatchBudget+50)
	for i := range docs {
		docs[i] = retrieval.DocumentInput{Slug: fmt.Sprintf("d%d", i), Title: fmt.Sprintf("第%d条", i), Body: fmt.Sprintf("第%d项物品应当申报。", i)}
	}
	docs[7].Body = "燕窝应当申报，并出具检疫证书。"
	for _, r := range s.IngestBatch(ctx, c, docs) {
		require.NoError(t, r.Err)
	}
	got, err := s.Search(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "燕窝申报", K: 5, Fusion: retrieval.Fusion{RRFK: 60, TextWeight: 1}})
	require.NoError(t, err)
	require.Len(t, got, 1, "only the chunk with the rare term matches: 申报 is in more chunks than the budget")
	assert.Equal(t, "d7", got[0].Slug)

	// A query of the common term alone still finds its chunks.
	got, err = s.Search(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "申报", K: 5, Fusion: retrieval.Fusion{RRFK: 60, TextWeight: 1}})
	require.NoError(t, err)
	assert.Len(t, got, 5)
}

// TestVectorListFollowsTheIndexSize: the vector list's ef_search is 100 while the index of
// its dimension holds at most 100k vectors and 400 above (recall@10 at 100 held 0.95 at 100k
// with the index's build, and 200 did not at 1M with the default build, docs/retrieval.md),
// never less than the list's length, for its own statement only; a search still finds its
// passage either way.
func TestVectorListFollowsTheIndexSize(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	s := retrieval.NewStore(pool, nil, nil)
	c := newCorpus(t, pool, s, retrieval.Corpus{Slug: "kb-size"})
	ingestAll(t, s, c, knowledge)
	ctx := context.Background()
	// A corpus of another embedder's dimension, as its row stands (no such embedder runs here).
	var otherID int64
	require.NoError(t, pool.QueryRow(ctx, `INSERT INTO corpora (project_id, slug, name, embedder, dimension)
		VALUES ($1, 'kb-other', '另一个', 'other-64', 64) RETURNING id`, c.ProjectID).Scan(&otherID))
	tests := []struct {
		name         string
		chunks       int64 // the corpus's current chunks, as counted
		otherDim     int64 // chunks of a corpus of another dimension: another index
		limit        int   // the list's length
		wantEfSearch string
	}{
		{"a small index", 8, 0, 20, "100"},
		{"exactly the largest measured to hold at 100", 100_000, 0, 20, "100"},
		{"a larger index", 100_001, 0, 20, "400"},
		{"a large index of another dimension does not count", 8, 5_000_000, 20, "100"},
		{"a list longer than the candidates", 8, 0, 150, "150"},
		{"a larger index and a longer list", 100_001, 0, 200, "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pool.Exec(ctx, `UPDATE corpora SET current_chunks = CASE id WHEN $1 THEN $2::bigint ELSE $4::bigint END WHERE id IN ($1, $3)`,
				c.ID, tt.chunks, otherID, tt.otherDim)
			require.NoError(t, err)
			b := &pgx.Batch{}
			retrieval.QueueEfSearch(b, c.Dimension, tt.limit)
			var got string
			b.Queue(`SHOW hnsw.ef_search`).QueryRow(func(row pgx.Row) error { return row.Scan(&got) })
			require.NoError(t, pool.SendBatch(ctx, b).Close())
			assert.Equal(t, tt.wantEfSearch, got)
			var after string
			require.NoError(t, pool.QueryRow(ctx, `SHOW hnsw.ef_search`).Scan(&after))
			assert.Equal(t, strconv.Itoa(db.HNSWEfSearch), after, "the connection's own setting, after the batch")

			got2, err := s.Search(ctx, retrieval.Query{CorpusIDs: []int64{c.ID}, Text: "带多少现金要申报", K: 3, Fusion: retrieval.Fusion{RRFK: 60, VectorWeight: 1}})
			require.NoError(t, err)
			require.NotEmpty(t, got2)
			assert.Equal(t, "cash", got2[0].Slug)
		})
	}
}

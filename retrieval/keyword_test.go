package retrieval_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
)

var fixture = []retrieval.Document{
	{ID: 1, Slug: "postal-zh", Lang: "zh-CN", Title: "个人邮递物品免征额", Body: "个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征。"},
	{ID: 2, Slug: "ecommerce-zh", Lang: "zh-CN", Title: "跨境电商零售进口限值", Body: "单次交易限值为人民币5000元，个人年度交易限值为人民币26000元。"},
	{ID: 3, Slug: "mmf-zh", Lang: "zh-CN", Title: "货币市场基金", Body: "货币基金主要投资于短期货币工具，风险较低，流动性好。"},
	{ID: 4, Slug: "mmf-en", Lang: "en", Title: "Money-market funds", Body: "A money-market fund invests in short-term instruments. Its risk is low and it is easy to redeem."},
	{ID: 5, Slug: "deposit-zh", Lang: "zh-CN", Title: "存款保险", Body: "存款保险实行限额偿付，最高偿付限额为人民币50万元。"},
}

func TestRankBM25(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		query string
		want  string // slug of the best hit
	}{
		{"Chinese question", "邮寄物品免税额是多少", "postal-zh"},
		{"Chinese, other topic", "跨境电商年度限值", "ecommerce-zh"},
		{"English question", "what is a money market fund", "mmf-en"},
		{"two characters", "基金", "mmf-zh"},
		{"one character", "税", "postal-zh"},
		{"number", "50万", "deposit-zh"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := retrieval.RankBM25(fixture, tt.query, 3)
			require.NotEmpty(t, got)
			assert.Equal(t, tt.want, got[0].Slug)
			for i := 1; i < len(got); i++ {
				assert.GreaterOrEqual(t, got[i-1].Score, got[i].Score)
			}
		})
	}
	assert.Empty(t, retrieval.RankBM25(fixture, "weather tomorrow", 3), "no shared term, no passage")
	assert.Len(t, retrieval.RankBM25(fixture, "人民币", 2), 2, "k bounds the result")
}

func TestSearchReadsTheCorporaFromPostgres(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	proj, err := prompts.NewStore(pool).CreateProject(ctx, prompts.Project{Name: "p"})
	require.NoError(t, err)
	rs := retrieval.NewStore(pool)
	a, err := rs.CreateCorpus(ctx, retrieval.Corpus{ProjectID: proj.ID, Slug: "customs", Name: "海关"})
	require.NoError(t, err)
	b, err := rs.CreateCorpus(ctx, retrieval.Corpus{ProjectID: proj.ID, Slug: "finance", Name: "理财"})
	require.NoError(t, err)
	for i, d := range fixture {
		d.CorpusID = a.ID
		if i >= 2 {
			d.CorpusID = b.ID
		}
		_, err := rs.PutDocument(ctx, d)
		require.NoError(t, err)
	}
	got, err := rs.Search(ctx, []int64{a.ID}, "基金和免税额", 5)
	require.NoError(t, err)
	for _, p := range got {
		assert.Equal(t, a.ID, p.CorpusID, "only the named corpora are searched")
	}
	require.NotEmpty(t, got)
	assert.Equal(t, "postal-zh", got[0].Slug)

	// Putting a document with the same slug replaces it.
	d := fixture[0]
	d.CorpusID, d.Body = a.ID, "更新后的正文：免税额规则。"
	_, err = rs.PutDocument(ctx, d)
	require.NoError(t, err)
	corpus, err := rs.Corpus(ctx, a.ID)
	require.NoError(t, err)
	assert.Equal(t, 2, corpus.DocumentCount)
}

package server_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/browsertest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/prompts/demo"
	"github.com/mentor-ai/mentor/retrieval"
)

// TestTrainerMarksPassagesAndCitesThem: the passages the candidates were given show beside
// them; the trainer marks one highly relevant and one irrelevant, and cites [1] in a gold
// reply. The marks and the citation are stored.
func TestTrainerMarksPassagesAndCitesThem(t *testing.T) {
	t.Parallel()
	f, ctx, _ := trainWorld(t)
	generateInUI(t, ctx, "个人邮寄进境物品的免税额是多少？", 2)
	require.NoError(t, chromedp.Do(ctx, browsertest.Visible(`#train-passages li[data-n="2"] .mark`)))
	assert.Contains(t, browsertest.Text(t, ctx, "#train-passages"), "[1]")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#train-passages li[data-n="1"] .mark[data-grade="2"]`)),
		browsertest.Visible(`#train-passages li[data-n="1"][data-grade="2"]`),
		chromedp.Click(chromedp.CSS(`#train-passages li[data-n="2"] .mark[data-grade="0"]`)),
		browsertest.Visible(`#train-passages li[data-n="2"][data-grade="0"]`),
	))
	browsertest.Screenshot(t, ctx, "train-passages")

	rankByKey(t, ctx, "A", "1")
	rankByKey(t, ctx, "B", "2")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`(() => { const g = document.querySelector("#train-gold"); g.value = "税额50元以下免征。[1]"; g.dispatchEvent(new Event("input")); })()`),
		chromedp.Click(chromedp.CSS(`#train-judge input[value="gold"]`)),
		chromedp.Click(chromedp.CSS("#train-submit")),
		browsertest.Visible(`#train-save[data-state="submitted"]`),
	))
	assert.True(t, browsertest.Count(t, ctx, "#train-passages[hidden]") == 1, "the panel goes with the turn")

	dbc := context.Background()
	var grades []int
	rows, err := f.pool.Query(dbc, `SELECT grade FROM relevance_marks ORDER BY grade DESC`)
	require.NoError(t, err)
	for rows.Next() {
		var g int
		require.NoError(t, rows.Scan(&g))
		grades = append(grades, g)
	}
	require.NoError(t, rows.Err())
	assert.Equal(t, []int{2, 0}, grades)
	var cited int
	require.NoError(t, f.pool.QueryRow(dbc, `SELECT count(*) FROM judgment_citations WHERE n = 1`).Scan(&cited))
	assert.Equal(t, 1, cited, "the gold reply's [1] is stored as a citation")
}

// TestCorpusPageImportsSearchesAndEvaluates: an admin opens a demo knowledge base, uploads
// files (one of them broken), searches in Chinese and sees the score parts, and compares two
// retrieval configurations.
func TestCorpusPageImportsSearchesAndEvaluates(t *testing.T) {
	t.Parallel()
	f := setup(t)
	sum, err := demo.Load(context.Background(), prompts.NewStore(f.pool), retrieval.NewStore(f.pool, nil, nil), f.models.Has)
	require.NoError(t, err)
	dir := t.TempDir()
	files := map[string]string{
		"pets.md":    "# 宠物入境\n\n每名旅客限带一只犬或猫，须出具动物检疫证书和狂犬病疫苗接种证书。",
		"broken.txt": "\x00\x01\x02",
	}
	var paths []string
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
		paths = append(paths, p)
	}

	ctx := browsertest.New(t, 2*time.Minute)
	signInUI(t, ctx, f, "root")
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(fmt.Sprintf("%s/#/projects/%s", f.srv.URL, sum.Project.Slug)),
		browsertest.Visible("#corpus-list .corpus-link"),
		chromedp.Click(chromedp.CSS("#corpus-list li:first-child .corpus-link")),
		browsertest.Visible("#corpus-status progress"),
	))
	assert.Regexp(t, `\d+ 篇文档`, browsertest.Text(t, ctx, "#corpus-status"))
	// Issue 17: the vector index's last check, once there is one.
	assert.Contains(t, browsertest.Text(t, ctx, "#corpus-index-check"), "向量索引：尚未检查")
	_, err = retrieval.NewStore(f.pool, nil, nil).RepairVectorIndex(context.Background(), 256, retrieval.DefaultVectorIndexPolicy)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), browsertest.Visible("#corpus-status progress")))
	assert.Regexp(t, `^向量索引：还没有人提问，无法衡量召回率 · 检查于 `, browsertest.Text(t, ctx, "#corpus-index-check"))
	// A check of too few questions that followed a rebuild: its notes come after the time,
	// behind one separator, as one run of sentences.
	_, err = f.pool.Exec(context.Background(), `INSERT INTO vector_index_checks (dimension, checked_at, vectors, questions, recall, none_found, rebuilt)
		VALUES (256, now() + interval '1 minute', 40, 12, 0.5, 3, true), (256, now() + interval '2 minutes', 40, 8, 1, 0, false)`)
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(ctx, chromedp.Reload(), browsertest.Visible("#corpus-status progress")))
	assert.Regexp(t, `^向量索引：最近 8 个训练师问题的召回率@10 为 1\.000，其中 0 个一个近邻也没找到 · 检查于 [^·]+ · （在一次重建之后） 问题太少，不据此判断索引。$`,
		browsertest.Text(t, ctx, "#corpus-index-check"))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetUploadFiles(chromedp.CSS("#import-files"), paths),
		chromedp.Click(chromedp.CSS(`#import-form button[type="submit"]`)),
		browsertest.Visible("#import-summary"),
	))
	summary := browsertest.Text(t, ctx, "#import-summary")
	assert.Contains(t, summary, "新增 1")
	assert.Contains(t, summary, "失败 1")
	assert.Equal(t, 1, browsertest.Count(t, ctx, `#import-results tr[data-outcome="failed"]`))

	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#search-query"), "能带猫入境吗"),
		chromedp.Click(chromedp.CSS(`#search-form button[type="submit"]`)),
		browsertest.Visible("#search-table tbody tr"),
	))
	first := browsertest.Text(t, ctx, "#search-table tbody tr:first-child")
	assert.Contains(t, first, "pets.md", "the uploaded passage is found")
	assert.Regexp(t, `#\d+ · 0\.\d{3}`, first, "the score parts show")
	browsertest.Screenshot(t, ctx, "corpus-search")

	require.NoError(t, chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#eval-form button[type="submit"]`)),
		browsertest.Visible("#eval-empty"),
	))
	assert.True(t, strings.Contains(browsertest.Text(t, ctx, "#eval-empty"), "标注"), "without marks there is nothing to measure, and it says so")
}

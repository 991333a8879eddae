package retrieval_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pdftest"
	"github.com/mentor-ai/mentor/retrieval"
)

// customsNotice is a three-page notice with a running header and "第 N 页" footers; its
// second article runs across the page break.
func customsNotice(t *testing.T) []byte {
	header := "海关总署公告 2026 年第 1 号"
	return pdftest.Make(t, []pdftest.Page{
		{Header: header, Footer: "第 1 页 共 3 页", Lines: []string{
			"第一条 进境旅客携带行李物品，应当以自用、合理数量为限。",
			"超出自用合理数量范围的，应当向海关申报。", "",
			"第二条 个人邮寄进境物品，应征进口税税额在人民币",
		}},
		{Header: header, Footer: "第 2 页 共 3 页", Lines: []string{
			"50元（含）以下的，海关予以免征。", "",
			"第三条 旅客携带超过人民币2万元现钞的，应当向海关书面申报。",
		}},
		{Header: header, Footer: "第 3 页 共 3 页", Lines: []string{
			"第四条 本公告自发布之日起施行。",
		}},
	})
}

func TestParsePDF(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	parsed := retrieval.ParseFile(ctx, "公告/2026-1.pdf", customsNotice(t), retrieval.Mapping{})
	require.Len(t, parsed, 1)
	require.NoError(t, parsed[0].Err)
	doc := parsed[0].Input
	assert.Equal(t, "公告/2026-1.pdf", doc.Slug)
	assert.NotContains(t, doc.Body, "海关总署公告", "the running header is dropped")
	assert.NotContains(t, doc.Body, "共 3 页", "the page-number footer is dropped")
	// Reading order: the articles in sequence, every character kept.
	flat := strings.Join(strings.Fields(strings.ReplaceAll(doc.Body, "\f", "")), "")
	for i, want := range []string{"第一条进境旅客携带行李物品，应当以自用、合理数量为限。超出自用合理数量范围的，应当向海关申报。",
		"第二条个人邮寄进境物品，应征进口税税额在人民币", "50元（含）以下的，海关予以免征。",
		"第三条旅客携带超过人民币2万元现钞的，应当向海关书面申报。", "第四条本公告自发布之日起施行。"} {
		at := strings.Index(flat, want)
		require.GreaterOrEqual(t, at, 0, "part %d missing or out of order in %q", i+1, flat)
		flat = flat[at+len(want):]
	}

	chunks := retrieval.ChunkText(doc.Body, retrieval.ChunkSettings{MaxTokens: 60, OverlapTokens: 0})
	pageOf := map[string]int{}
	for _, c := range chunks {
		for _, art := range []string{"第一条", "第二条", "第三条", "第四条"} {
			if strings.Contains(c.Text, art) {
				pageOf[art] = c.Page
			}
		}
	}
	// The second article starts on page 1 and runs onto page 2, where it is cited from.
	assert.Equal(t, map[string]int{"第一条": 1, "第二条": 1, "第三条": 2, "第四条": 3}, pageOf)
	for _, c := range chunks {
		if strings.Contains(c.Text, "第二条") {
			assert.Contains(t, c.Text, "人民币50元（含）以下的", "a paragraph broken by the page stays one")
		}
	}
}

func TestParsePDFRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		data   func(t *testing.T) []byte
		en, zh string
	}{
		{name: "a scan without a text layer", data: func(t *testing.T) []byte { return pdftest.Scanned(t, 2) },
			en: "this PDF has no text layer (scanned?)", zh: "这个 PDF 没有文字层（可能是扫描件？）"},
		{name: "not a PDF at all", data: func(*testing.T) []byte { return []byte("问题,答案\n") },
			en: "not a PDF file", zh: "这不是 PDF 文件"},
		{name: "a broken PDF", data: func(*testing.T) []byte { return []byte("%PDF-1.7\n1 0 obj\n") },
			en: "not a readable PDF file", zh: "无法读取这个 PDF 文件"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			parsed := retrieval.ParseFile(context.Background(), "x.pdf", tt.data(t), retrieval.Mapping{})
			require.Len(t, parsed, 1)
			require.Error(t, parsed[0].Err)
			assert.Contains(t, errs.Localize(parsed[0].Err, errs.English), tt.en)
			assert.Contains(t, errs.Localize(parsed[0].Err, errs.Chinese), tt.zh)
		})
	}
}

package retrieval

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/errs"
)

func TestDropRunningLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		pages []string
		want  []string
	}{
		{
			name: "a header and a numbered footer on every page",
			pages: []string{
				"      海关总署公告 2026 年第 1 号\n\n  第一条 正文一。\n  正文二。\n\n     - 1 -\n",
				"      海关总署公告 2026 年第 1 号\n\n  第二条 正文三。\n\n     - 2 -\n",
				"      海关总署公告 2026 年第 1 号\n\n  第三条 正文四。\n\n     - 3 -\n",
			},
			want: []string{"第一条 正文一。\n正文二。", "第二条 正文三。", "第三条 正文四。"},
		},
		{
			name: "a title page without the header; Chinese page numbers",
			pages: []string{
				"封面标题\n\n说明文字",
				"产品条款\n甲条。\n第二页",
				"产品条款\n乙条。\n第三页",
				"产品条款\n丙条。\n第四页",
			},
			want: []string{"封面标题\n\n说明文字", "甲条。", "乙条。", "丙条。"},
		},
		{
			name:  "a single page keeps everything",
			pages: []string{"标题\n正文\n第 1 页"},
			want:  []string{"标题\n正文\n第 1 页"},
		},
		{
			name: "a line that recurs in the middle of pages stays",
			pages: []string{
				"页眉\n一\n注意事项\n二\n三\n页脚 1",
				"页眉\n四\n注意事项\n五\n六\n页脚 2",
			},
			want: []string{"一\n注意事项\n二\n三", "四\n注意事项\n五\n六"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, dropRunningLines(tt.pages))
		})
	}
}

func TestPDFImportNamesWhatToInstall(t *testing.T) {
	t.Parallel()
	_, err := pdfBody(context.Background(), "/nonexistent/pdftotext", []byte("%PDF-1.7\n"))
	require.Error(t, err)
	assert.Equal(t, errs.Unavailable, errs.KindOf(err))
	assert.Contains(t, errs.Localize(err, errs.English), "install the poppler-utils package (apt-get install poppler-utils")
	assert.Contains(t, errs.Localize(err, errs.Chinese), "请安装 poppler-utils")
}

func TestChunksKnowTheirPage(t *testing.T) {
	t.Parallel()
	body := strings.Join([]string{"第一页第一段。", "\f第二页的段落，\n接着一行。\n\n第二页第二段，", "\f在第三页结束。", "\f第四页。"}, "\n")
	var pages []int
	var texts []string
	for _, c := range ChunkText(body, ChunkSettings{MaxTokens: 40, OverlapTokens: 10}) {
		pages = append(pages, c.Page)
		texts = append(texts, c.Text)
	}
	// A page break after a full stop ends the paragraph and the chunk; one mid-sentence does
	// not, and the paragraph is cited from the page it starts on. Chunks do not overlap
	// across a page.
	assert.Equal(t, []string{"第一页第一段。", "第二页的段落，接着一行。\n\n第二页第二段，在第三页结束。", "第四页。"}, texts)
	assert.Equal(t, []int{1, 2, 4}, pages)
	for _, c := range ChunkText("没有分页的文档。\n\n第二段。", ChunkSettings{MaxTokens: 8}) {
		assert.Zero(t, c.Page, "a document without pages has none")
	}
}

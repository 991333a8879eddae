package retrieval_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/segment"
)

func TestChunkText(t *testing.T) {
	t.Parallel()
	longChinese := strings.Repeat("旅客携带的个人自用物品，在合理数量范围内免税。", 12) // 22 tokens a sentence
	longEnglish := strings.Repeat("Travellers may bring personal items within reasonable quantities. ", 10)
	type want struct {
		texts    []string
		headings [][]string
	}
	tests := []struct {
		name string
		body string
		cs   retrieval.ChunkSettings
		want want
	}{
		{
			name: "Chinese paragraphs pack into one chunk",
			body: "免税额是50元。\n\n超过部分需要缴税。",
			cs:   retrieval.ChunkSettings{MaxTokens: 50, OverlapTokens: 0},
			want: want{texts: []string{"免税额是50元。\n\n超过部分需要缴税。"}, headings: [][]string{{}}},
		},
		{
			name: "Chinese lines of one paragraph join without a space",
			body: "个人邮寄物品\n应以自用为限。",
			cs:   retrieval.ChunkSettings{MaxTokens: 50},
			want: want{texts: []string{"个人邮寄物品应以自用为限。"}, headings: [][]string{{}}},
		},
		{
			name: "headings start chunks and name them",
			body: "# 行李\n\n## 现金\n携带超过2万元现金需申报。\n\n## 烟酒\n酒类限2瓶。\n\n# Mail\nPostal items are taxed.",
			cs:   retrieval.ChunkSettings{MaxTokens: 100},
			want: want{
				texts:    []string{"携带超过2万元现金需申报。", "酒类限2瓶。", "Postal items are taxed."},
				headings: [][]string{{"行李", "现金"}, {"行李", "烟酒"}, {"Mail"}},
			},
		},
		{
			name: "list items stay whole and one per line",
			body: "可以携带：\n- 个人衣物\n- 书籍\n1. 药品（自用）\n\n其他物品需申报。",
			cs:   retrieval.ChunkSettings{MaxTokens: 100},
			want: want{texts: []string{"可以携带：\n\n- 个人衣物\n- 书籍\n1. 药品（自用）\n\n其他物品需申报。"}, headings: [][]string{{}}},
		},
		{
			name: "list items split between chunks at item ends",
			body: "- 第一项内容很长很长\n- 第二项内容很长很长\n- 第三项内容很长很长",
			cs:   retrieval.ChunkSettings{MaxTokens: 20},
			want: want{
				texts:    []string{"- 第一项内容很长很长\n- 第二项内容很长很长", "- 第三项内容很长很长"},
				headings: [][]string{{}, {}},
			},
		},
		{
			name: "a long Chinese paragraph splits at sentence ends with overlap",
			body: longChinese,
			cs:   retrieval.ChunkSettings{MaxTokens: 100, OverlapTokens: 30},
		},
		{
			name: "a long English paragraph splits at sentence ends",
			body: longEnglish,
			cs:   retrieval.ChunkSettings{MaxTokens: 30, OverlapTokens: 10},
		},
		{
			name: "mixed Chinese and English",
			body: "# 汇率 Exchange\n人民币兑美元汇率以当日中间价为准。The rate is the day's central parity. 详见公告。",
			cs:   retrieval.ChunkSettings{MaxTokens: 200},
			want: want{
				texts:    []string{"人民币兑美元汇率以当日中间价为准。The rate is the day's central parity. 详见公告。"},
				headings: [][]string{{"汇率 Exchange"}},
			},
		},
		{
			name: "one sentence longer than the budget is cut",
			body: strings.Repeat("税", 45),
			cs:   retrieval.ChunkSettings{MaxTokens: 20},
			want: want{
				texts:    []string{strings.Repeat("税", 20), strings.Repeat("税", 20), strings.Repeat("税", 5)},
				headings: [][]string{{}, {}, {}},
			},
		},
		{
			name: "empty",
			body: " \n\n ",
			cs:   retrieval.ChunkSettings{MaxTokens: 20},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := retrieval.ChunkText(tt.body, tt.cs)
			for i, c := range got {
				assert.Equal(t, i, c.Position)
				assert.LessOrEqual(t, c.Tokens, tt.cs.MaxTokens, "chunk %d is over budget", i)
				assert.Equal(t, segment.Count(c.Text), c.Tokens, "chunk %d counts its own tokens", i)
			}
			if tt.want.texts == nil && strings.TrimSpace(tt.body) != "" {
				// Long paragraphs: every sentence is kept, in order, and chunks overlap.
				require.Greater(t, len(got), 1)
				joined := ""
				for i, c := range got {
					if i > 0 && tt.cs.OverlapTokens > 0 {
						prevEnd := lastSentence(got[i-1].Text)
						assert.True(t, strings.HasPrefix(c.Text, prevEnd), "chunk %d starts with the previous chunk's last sentence %q", i, prevEnd)
					}
					joined += c.Text
				}
				for _, s := range segment.Sentences(tt.body) {
					assert.Contains(t, joined, s)
				}
				return
			}
			var texts []string
			var headings [][]string
			for _, c := range got {
				texts = append(texts, c.Text)
				headings = append(headings, c.HeadingPath)
			}
			assert.Equal(t, tt.want.texts, texts)
			assert.Equal(t, tt.want.headings, headings)
		})
	}
}

func lastSentence(s string) string {
	ss := segment.Sentences(s)
	return ss[len(ss)-1]
}

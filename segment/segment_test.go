package segment_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/segment"
)

func TestSentences(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"Chinese punctuation", "免税额是50元。超过怎么办？退运！或者补税；", []string{"免税额是50元。", "超过怎么办？", "退运！", "或者补税；"}},
		{"English", "Declare cash. Is it free? Yes!", []string{"Declare cash.", "Is it free?", "Yes!"}},
		{"mixed", "跨境电商限值为5000元。The annual limit is 26,000 yuan. 超过需缴税。", []string{"跨境电商限值为5000元。", "The annual limit is 26,000 yuan.", "超过需缴税。"}},
		{"decimals and initials stay whole", "Rates rose 3.5 percent in the U.S. market today. Next.", []string{"Rates rose 3.5 percent in the U.S. market today.", "Next."}},
		{"closing quote stays with its sentence", "他说：“请申报。”然后离开。", []string{"他说：“请申报。”", "然后离开。"}},
		{"line breaks end sentences", "标题\n正文第一句。", []string{"标题", "正文第一句。"}},
		{"no final mark", "没有句号的结尾", []string{"没有句号的结尾"}},
		{"empty", "  ", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, segment.Sentences(tt.in))
		})
	}
}

func TestTokens(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []string
	}{
		{"Chinese: characters and bigrams", "免税额", []string{"免", "税", "免税", "额", "税额"}},
		{"English words, lowercased", "Money-Market Fund", []string{"money", "market", "fund"}},
		{"mixed with numbers", "限值5000元 ETF", []string{"限", "值", "限值", "5000", "元", "etf"}},
		{"punctuation breaks bigrams", "免，税", []string{"免", "税"}},
		{"one character still matches", "税", []string{"税"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, segment.Tokens(tt.in))
		})
	}
}

func TestCount(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int
	}{
		{"免税额是50元。", 6},
		{"Declare cash over 5,000 dollars.", 6},
		{"跨境电商limit为5000元", 8},
		{"", 0},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, segment.Count(tt.in), tt.in)
	}
}

func TestQueryTerms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want []string
	}{
		{"免税额", []string{"免税", "税额"}},
		{"税", []string{"税"}},
		{"关税", []string{"关税"}},
		{"行李 税 Duty-free", []string{"行李", "税", "duty", "free"}},
		{"税税税", []string{"税税"}},
		{"？！", nil},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, segment.QueryTerms(tt.in), tt.in)
	}
}

func TestScan(t *testing.T) {
	t.Parallel()
	var parts []string
	segment.Scan("跨境电商limit为5000元, 東京タワー and 서울!", func(run []rune) { parts = append(parts, "cjk:"+string(run)) },
		func(word []rune) { parts = append(parts, "word:"+string(word)) })
	assert.Equal(t, []string{"cjk:跨境电商", "word:limit", "cjk:为", "word:5000", "cjk:元", "cjk:東京タワー", "word:and", "cjk:서울"}, parts)
}

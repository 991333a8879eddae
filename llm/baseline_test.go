package llm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/llm"
)

var customsPassages = []llm.Passage{
	{N: 1, Title: "个人邮递物品免征额", Text: "个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征。超过限值的物品应办理退运或按货物规定办理通关手续。"},
	{N: 2, Title: "跨境电商限值", Text: "跨境电商零售进口商品的单次交易限值为人民币5000元。个人年度交易限值为人民币26000元。"},
	{N: 3, Title: "Currency declaration", Text: "Travellers carrying more than 20,000 yuan in cash must declare it. Foreign currency worth more than 5,000 US dollars must also be declared."},
}

func baselineRequest(question, locale string, seed int64) llm.Request {
	return llm.Request{
		Messages: []llm.Message{{Role: "system", Content: "…"}, {Role: "user", Content: question}},
		Passages: customsPassages, Opening: "您好，我是海关通关助手。", Closing: "以上仅供参考。", Locale: locale, Seed: seed,
	}
}

func TestBaselineAnswersFromPassagesWithCitations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		variant      llm.BaselineConfig
		question     string
		locale       string
		want         []string
		wantNot      []string
		wantFirst    string
		maxCitations int
	}{
		{name: "Chinese question finds the Chinese rule", variant: llm.BaselineConfig{Sentences: 4},
			question: "个人邮寄进境物品的免税额是多少？", locale: "zh-CN",
			want:      []string{"应征进口税税额在人民币50元（含）以下的，海关予以免征。[1]"},
			wantFirst: "您好，我是海关通关助手。"},
		{name: "English question finds the English rule", variant: llm.BaselineConfig{Sentences: 4},
			question: "How much cash must travellers declare?", locale: "en",
			want: []string{"Travellers carrying more than 20,000 yuan in cash must declare it.[3]"}},
		{name: "brief quotes at most two sentences", variant: llm.BaselineConfig{Sentences: 4, Brief: true},
			question: "跨境电商单次交易限值和年度交易限值是多少", locale: "zh-CN",
			want: []string{"[2]"}, maxCitations: 2},
		{name: "nothing relevant: says so instead of guessing", variant: llm.BaselineConfig{Sentences: 4},
			question: "今天天气怎么样", locale: "zh-CN",
			want: []string{"没有找到"}, wantNot: []string{"[1]", "[2]", "[3]"}},
		{name: "nothing relevant in English", variant: llm.BaselineConfig{Sentences: 4},
			question: "what about the weather", locale: "en",
			want: []string{"could not find"}, wantNot: []string{"[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := llm.NewBaseline(tt.variant)
			var streamed strings.Builder
			res, err := b.Stream(context.Background(), baselineRequest(tt.question, tt.locale, 1), func(d llm.Delta) {
				streamed.WriteString(d.Content)
			})
			require.NoError(t, err)
			assert.Equal(t, llm.Complete, res.Status)
			assert.Equal(t, "stop", res.FinishReason)
			got := streamed.String()
			assert.Equal(t, b.Answer(baselineRequest(tt.question, tt.locale, 1)), got, "the stream is the whole answer, in order")
			assert.True(t, strings.HasSuffix(got, "以上仅供参考。"), got)
			for _, w := range tt.want {
				assert.Contains(t, got, w)
			}
			for _, w := range tt.wantNot {
				assert.NotContains(t, got, w)
			}
			if tt.wantFirst != "" {
				assert.True(t, strings.HasPrefix(got, tt.wantFirst), got)
			}
			if tt.maxCitations > 0 {
				assert.LessOrEqual(t, strings.Count(got, "]"), tt.maxCitations, got)
			}
		})
	}
}

// TestBaselineAnswersAreStable pins the exact answers for a fixed seed: any change to how
// sentences are scored, ordered or framed shows up here, and trainers' rankings of baseline
// answers stay reproducible across releases only while this holds.
func TestBaselineAnswersAreStable(t *testing.T) {
	t.Parallel()
	req := baselineRequest("邮寄物品超过免征额怎么办？跨境电商限值多少？", "zh-CN", 42)
	tests := []struct {
		name    string
		variant llm.BaselineConfig
		want    string
	}{
		{"thorough: four sentences in document order", llm.BaselineConfig{Sentences: 4},
			"您好，我是海关通关助手。\n\n个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征。[1]超过限值的物品应办理退运或按货物规定办理通关手续。[1]跨境电商零售进口商品的单次交易限值为人民币5000元。[2]个人年度交易限值为人民币26000元。[2]\n\n以上仅供参考。"},
		{"brief: two sentences, best first", llm.BaselineConfig{Sentences: 4, Brief: true},
			"您好，我是海关通关助手。\n\n跨境电商零售进口商品的单次交易限值为人民币5000元。[2]个人邮寄进境物品，应征进口税税额在人民币50元（含）以下的，海关予以免征。[1]\n\n以上仅供参考。"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, llm.NewBaseline(tt.variant).Answer(req))
		})
	}
}

func TestBaselineStreamsInPiecesAndStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	b := llm.NewBaseline(llm.BaselineConfig{Sentences: 4, Interval: time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	pieces := 0
	res, err := b.Stream(ctx, baselineRequest("个人邮寄进境物品的免税额是多少？", "zh-CN", 1), func(d llm.Delta) {
		pieces++
		assert.LessOrEqual(t, len([]rune(d.Content)), 12, "pieces are model-sized: %q", d.Content)
		if pieces == 5 {
			cancel()
		}
	})
	assert.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, llm.Cancelled, res.Status)
	assert.Equal(t, 5, pieces, "nothing is sent after the cancel")
}

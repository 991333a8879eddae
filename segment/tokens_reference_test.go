package segment_test

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/internal/corpusgen"
	"github.com/mentor-ai/mentor/segment"
)

// TestTokensMatchTheReference holds Tokens, Scan and Count, rewritten on byte offsets with a fast
// path for characters below the CJK scripts (issue 17: they were most of an import's CPU),
// to what they were: the old rune-by-rune versions, kept here, over a generated bilingual
// corpus and the edge cases of each script. A token that changed would silently stop
// stored chunks from matching new queries.
func TestTokensMatchTheReference(t *testing.T) {
	t.Parallel()
	texts := []string{
		"", "，。", "免税额", "Money-Market Fund", "限值5000元 ETF", "ラーメンを食べた", "人々の暮らし", "한국어 텍스트",
		"Ünïcödé café Ελληνικά Русский", "𠀋𡈁 extension B", "ｆｕｌｌ　ｗｉｄｔｈ　１２３", "emoji 🙂中文🙂", "ᄀᄁ jamo", "a\u3007b〇", "x\u2e80y",
	}
	for _, d := range corpusgen.Documents(3, 40, 4) {
		texts = append(texts, d.Title, d.Body)
	}
	for _, text := range texts {
		assert.Equal(t, referenceTokens(text), segment.Tokens(text), "%q", text)
		for _, r := range text {
			assert.Equal(t, referenceIsCJK(r), segment.IsCJK(r), "%q", r)
		}
		var got, want []string
		segment.Scan(text, func(run []rune) { got = append(got, "c:"+string(run)) }, func(w []rune) { got = append(got, "w:"+string(w)) })
		referenceScan(text, func(run []rune) { want = append(want, "c:"+string(run)) }, func(w []rune) { want = append(want, "w:"+string(w)) })
		assert.Equal(t, want, got, "%q", text)
		// Count on spans (issue 17) counts what it counted through Scan: one token per CJK
		// character and per word.
		n := 0
		referenceScan(text, func(run []rune) { n += len(run) }, func([]rune) { n++ })
		assert.Equal(t, n, segment.Count(text), "Count(%q)", text)
		// EachToken says which tokens are CJK: those whose first character is.
		segment.EachToken(text, func(tok string, cjk bool) {
			first := []rune(tok)[0]
			assert.Equal(t, referenceIsCJK(first), cjk, "%q in %q", tok, text)
		})
	}
	for r := rune(0); r < 0x30000; r++ {
		if referenceIsCJK(r) != segment.IsCJK(r) {
			t.Errorf("IsCJK(%U) = %v, want %v", r, segment.IsCJK(r), referenceIsCJK(r))
		}
	}
}

func referenceIsCJK(r rune) bool {
	return r == 'ー' || r == '々' || unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

func referenceScan(text string, cjk, word func([]rune)) {
	var run, w []rune
	flush := func() {
		if len(run) > 0 {
			cjk(run)
			run = run[:0]
		}
		if len(w) > 0 {
			word(w)
			w = w[:0]
		}
	}
	for _, r := range text {
		switch {
		case referenceIsCJK(r):
			if len(w) > 0 {
				flush()
			}
			run = append(run, r)
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			if len(run) > 0 {
				flush()
			}
			w = append(w, r)
		default:
			flush()
		}
	}
	flush()
}

func referenceTokens(text string) []string {
	var out []string
	referenceScan(text, func(run []rune) {
		for i, r := range run {
			out = append(out, string(r))
			if i > 0 {
				out = append(out, string(run[i-1:i+1]))
			}
		}
	}, func(word []rune) { out = append(out, strings.ToLower(string(word))) })
	return out
}

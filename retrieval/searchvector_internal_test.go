package retrieval

import (
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/segment"
)

// sortedOccurrences is searchVector as it was before issue 17: every occurrence sorted by
// lexeme and position, then grouped. It is the reference the faster one must match.
func sortedOccurrences(text string) pgtype.TSVector {
	const maxPosition, maxPositions, maxLexeme = 16383, 256, 2047
	type occurrence struct {
		tok string
		pos int
	}
	var occ []occurrence
	for i, tok := range segment.Tokens(text) {
		if len(tok) <= maxLexeme {
			occ = append(occ, occurrence{tok, i + 1})
		}
	}
	slices.SortFunc(occ, func(a, b occurrence) int {
		if c := strings.Compare(a.tok, b.tok); c != 0 {
			return c
		}
		return a.pos - b.pos
	})
	out := pgtype.TSVector{Lexemes: []pgtype.TSVectorLexeme{}, Valid: true}
	for i := 0; i < len(occ); {
		j := i
		for j < len(occ) && occ[j].tok == occ[i].tok {
			j++
		}
		var ps []pgtype.TSVectorPosition
		for _, o := range occ[i:j] {
			if o.pos > maxPosition || len(ps) == maxPositions {
				break
			}
			ps = append(ps, pgtype.TSVectorPosition{Position: uint16(o.pos)})
		}
		out.Lexemes = append(out.Lexemes, pgtype.TSVectorLexeme{Word: occ[i].tok, Positions: ps})
		i = j
	}
	return out
}

// TestSearchVectorMatchesTheSortedOccurrences holds searchVector to the reference on text
// that reaches each of PostgreSQL's caps.
func TestSearchVectorMatchesTheSortedOccurrences(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, text string }{
		{"empty", ""},
		{"chinese", "海关申报：旅客携带现金超过两万元人民币，应当向海关书面申报。海关申报"},
		{"mixed", "Customs 申报 customs DECLARATION 申报 2024 年"},
		{"a lexeme past 256 positions", strings.Repeat("税 ", 300) + "尾"},
		{"positions past 16383", strings.Repeat("甲乙丙丁", 4200) + " tail word tail"},
		{"a lexeme over 2047 bytes", "short " + strings.Repeat("x", 3000) + " short"},
		// Words that sort among and after CJK lexemes (full-width letters, Yi, Hangul words
		// are CJK, Greek before), 4-byte characters, and characters that start bigrams and
		// stand alone: the CJK lexemes sort by packed key, the rest by string.
		{"scripts around CJK", "ｆｕｌｌ　ｗｉｄｔｈ１２３ 中文ꀀꀁ 한국어 Ελληνικά 𠀋𡈁中 中中中 文中 ラーメン 々 ー"},
		{"one character and its bigrams", "申 申报 报申 申申报报 申"},
	}
	var shared tsvBuilder // scratch kept from one text to the next, as an import's worker keeps it
	for _, tc := range cases {
		wantShared, gotShared := sortedOccurrences(tc.text), shared.build(tc.text)
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, wantShared, gotShared, "built with the scratch of the texts before")
			want, got := sortedOccurrences(tc.text), searchVector(tc.text)
			assert.Equal(t, len(want.Lexemes), len(got.Lexemes))
			for i := range min(len(want.Lexemes), len(got.Lexemes)) {
				w, g := want.Lexemes[i], got.Lexemes[i]
				assert.Equal(t, w.Word, g.Word, "lexeme %d", i)
				assert.Equal(t, len(w.Positions), len(g.Positions), "positions of %q", w.Word)
				assert.True(t, slices.Equal(w.Positions, g.Positions), "positions of %q", w.Word)
			}
		})
	}
}

func BenchmarkSearchVector(b *testing.B) {
	text := strings.Repeat("海关申报：旅客携带现金超过两万元人民币，应当向海关书面申报。Customs declaration of cash. ", 20)
	for _, f := range []struct {
		name string
		fn   func(string) pgtype.TSVector
	}{{"map", searchVector}, {"sorted", sortedOccurrences}} {
		b.Run(f.name, func(b *testing.B) {
			for b.Loop() {
				f.fn(text)
			}
		})
	}
}

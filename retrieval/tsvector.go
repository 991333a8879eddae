package retrieval

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/mentor-ai/mentor/segment"
)

// searchVector is what the full-text index holds for a chunk: segment.Tokens with their
// positions, as a tsvector (lexemes sorted and unique, as PostgreSQL keeps them; positions
// capped where PostgreSQL caps them). TestSearchVectorMatchesTheSortedOccurrences holds it
// to the plain version: every occurrence sorted by lexeme and position, then grouped.
func searchVector(text string) pgtype.TSVector {
	var b tsvBuilder
	return b.build(text)
}

// tsvBuilder builds tsvectors, keeping its scratch space from one chunk to the next: an
// import's worker builds one for each of its chunks.
//
// It runs for every chunk of every import, where it was over half of the Go CPU of
// preparing (issue 17). So the tokens are numbered as segment.EachToken gives them instead
// of collected; a CJK token (one or two characters, most of the tokens of Chinese text) is
// looked up and sorted by its characters packed in an integer (cjkKey), which orders as its
// UTF-8 bytes do, instead of by string; each token's lexeme is remembered rather than looked
// up twice; and only the tsvector returned is allocated.
type tsvBuilder struct {
	cjk       map[uint64]int32 // a CJK lexeme's key -> its number
	words     map[string]int32 // a Latin word -> its number
	lex       []lexeme         // the distinct lexemes, numbered in order of first occurrence
	tokLex    []int32          // each token's lexeme, -1 for one over PostgreSQL's length limit
	order     []int32          // the lexemes' numbers, sorted by lexeme
	keys      []uint64         // sorted's CJK lexemes, each key with its number
	wordOrder []int32          // sorted's words
}

type lexeme struct {
	word string
	key  uint64 // cjkKey for a CJK lexeme, 0 for a word
	kept int32  // how many of its positions the tsvector keeps
	next int32  // where its next position goes in the tsvector's positions
}

// cjkKey packs a CJK token's one or two characters as first<<21 | second (0 when there is
// no second): every character fits in 21 bits and is nonzero, so keys order as the tokens'
// UTF-8 bytes do (a character before the bigrams it starts), and a key is never 0.
func cjkKey(tok string) uint64 {
	r1, n := utf8.DecodeRuneInString(tok)
	key := uint64(r1) << 21
	if n < len(tok) {
		r2, _ := utf8.DecodeRuneInString(tok[n:])
		key |= uint64(r2)
	}
	return key
}

func (b *tsvBuilder) build(text string) pgtype.TSVector {
	// PostgreSQL refuses positions past 16383 (and repeated ones), more than 256 positions
	// for a lexeme, and lexemes over 2047 bytes.
	const maxPosition, maxPositions, maxLexeme = 16383, 256, 2047
	if b.cjk == nil {
		b.cjk, b.words = map[uint64]int32{}, map[string]int32{}
	}
	clear(b.cjk)
	clear(b.words)
	lex, tokLex := b.lex[:0], b.tokLex[:0]
	// First pass: each token's lexeme, and how many positions each lexeme keeps (its first
	// ones, up to the caps).
	total := 0
	segment.EachToken(text, func(tok string, isCJK bool) {
		pos := len(tokLex) + 1
		if len(tok) > maxLexeme {
			tokLex = append(tokLex, -1)
			return
		}
		var key uint64
		var j int32
		var ok bool
		if isCJK {
			key = cjkKey(tok)
			if j, ok = b.cjk[key]; !ok {
				j = int32(len(lex))
				b.cjk[key] = j
			}
		} else if j, ok = b.words[tok]; !ok {
			j = int32(len(lex))
			b.words[tok] = j
		}
		if !ok {
			lex = append(lex, lexeme{word: tok, key: key})
		}
		tokLex = append(tokLex, j)
		if pos <= maxPosition && lex[j].kept < maxPositions {
			lex[j].kept++
			total++
		}
	})
	order := b.sorted(lex)
	// The lexemes in order, each with its slice of one array of positions.
	out := make([]pgtype.TSVectorLexeme, len(lex))
	positions := make([]pgtype.TSVectorPosition, total)
	end := int32(0)
	for k, j := range order {
		l := &lex[j]
		out[k].Word = l.word
		l.next = end
		if l.kept > 0 {
			out[k].Positions = positions[end : end+l.kept : end+l.kept]
		}
		end += l.kept
	}
	// Second pass: the positions, in order, into each lexeme's slice.
	for i, j := range tokLex {
		if j < 0 || i+1 > maxPosition {
			continue
		}
		if l := &lex[j]; l.kept > 0 {
			positions[l.next] = pgtype.TSVectorPosition{Position: uint16(i + 1)}
			l.next++
			l.kept--
		}
	}
	// Keep the scratch space, but not the strings it points at.
	clear(lex)
	b.lex, b.tokLex, b.order = lex[:0], tokLex[:0], order[:0]
	return pgtype.TSVector{Lexemes: out, Valid: true}
}

// sorted returns the numbers of lex's lexemes in the order of their UTF-8 bytes. The CJK
// ones, most of a Chinese chunk's, sort as integers: each one's key with its number in
// the low bits, which a plain sort orders without a comparison function (the function
// was a third of building a tsvector, issue 17); the words sort by string, and the two
// lists merge.
func (b *tsvBuilder) sorted(lex []lexeme) []int32 {
	const numberBits = 21 // cjkKey takes 42 bits
	order := b.order[:0]
	if len(lex) >= 1<<numberBits { // more distinct lexemes than a number fits: sort them all by comparison
		for j := range lex {
			order = append(order, int32(j))
		}
		slices.SortFunc(order, func(x, y int32) int {
			a, c := &lex[x], &lex[y]
			if a.key != 0 && c.key != 0 {
				return cmp.Compare(a.key, c.key)
			}
			return strings.Compare(a.word, c.word)
		})
		return order
	}
	keys, words := b.keys[:0], b.wordOrder[:0]
	for j := range lex {
		if k := lex[j].key; k != 0 {
			keys = append(keys, k<<numberBits|uint64(j))
		} else {
			words = append(words, int32(j))
		}
	}
	slices.Sort(keys)
	slices.SortFunc(words, func(x, y int32) int { return strings.Compare(lex[x].word, lex[y].word) })
	b.keys, b.wordOrder = keys[:0], words[:0] // the scratch space, before the merge takes the lists apart
	const number = 1<<numberBits - 1
	for len(keys) > 0 || len(words) > 0 {
		if len(words) == 0 || len(keys) > 0 && lex[keys[0]&number].word < lex[words[0]].word {
			order, keys = append(order, int32(keys[0]&number)), keys[1:]
		} else {
			order, words = append(order, words[0]), words[1:]
		}
	}
	return order
}

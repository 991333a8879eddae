// Package segment splits mixed Chinese and English text into sentences and into the terms
// that search and the offline baseline match on.
package segment

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Scan splits text into maximal runs of CJK characters and Latin words (letters and
// digits), in order, calling cjk or word for each; everything else separates them. The
// slices are reused between calls: copy what you keep. Tokens, Count, QueryTerms and the
// offline embedder all read text through it (Tokens through spans, which Scan is made of),
// so they agree on what a term is.
func Scan(text string, cjk, word func([]rune)) {
	var rs []rune
	spans(text, func(isCJK bool, span string) {
		rs = rs[:0]
		for _, r := range span {
			rs = append(rs, r)
		}
		if isCJK {
			cjk(rs)
		} else {
			word(rs)
		}
	})
}

// Spans is Scan without the runes: each maximal run of CJK characters or of letters and
// digits, as a substring of text, which costs no allocation. The offline embedder hashes
// a CJK run's bytes as they are (issue 17).
func Spans(text string, fn func(isCJK bool, span string)) { spans(text, fn) }

// spans is Scan on byte offsets: each maximal run of CJK characters or of letters and
// digits, as a substring of text, which costs no allocation.
func spans(text string, fn func(isCJK bool, span string)) {
	const none, cjkRun, wordRun = 0, 1, 2
	kind, start := none, 0
	for i, r := range text {
		k := none
		switch {
		case isCJK(r):
			k = cjkRun
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			k = wordRun
		}
		if k != kind {
			if kind != none {
				fn(kind == cjkRun, text[start:i])
			}
			kind, start = k, i
		}
	}
	if kind != none {
		fn(kind == cjkRun, text[start:])
	}
}

// Tokens splits text for matching: every pair of adjacent CJK characters (PostgreSQL's
// parsers do not segment Chinese, and bigrams need no dictionary), every single CJK
// character (so one-character queries still match), and lowercased Latin words and numbers.
// The CJK tokens are substrings of text: this runs for every chunk of every import, and a
// string per character was most of its allocations (issue 17).
func Tokens(text string) []string {
	var out []string
	EachToken(text, func(tok string, _ bool) { out = append(out, tok) })
	return out
}

// EachToken calls fn with each of Tokens(text) in turn, and whether it is CJK (one or two
// CJK characters) rather than a Latin word, without collecting them: the full-text index
// numbers the tokens as they come, and the slice of strings was a fifth of its work
// (issue 17).
func EachToken(text string, fn func(tok string, cjk bool)) {
	spans(text, func(isCJK bool, span string) {
		if !isCJK {
			fn(strings.ToLower(span), false)
			return
		}
		prev := -1
		for i, r := range span {
			end := i + utf8.RuneLen(r)
			fn(span[i:end], true)
			if prev >= 0 {
				fn(span[prev:end], true)
			}
			prev = i
		}
	})
}

// IsCJK says whether r is a Chinese, Japanese or Korean character: one token each.
func IsCJK(r rune) bool { return isCJK(r) }

func isCJK(r rune) bool {
	switch {
	case r < 0x1100: // below Hangul Jamo, the first of the four scripts: ASCII, Latin, Cyrillic…
		return false
	case r >= 0x4e00 && r <= 0x9fff: // CJK Unified Ideographs, nearly every Chinese character
		return true
	}
	// ー (the katakana long-vowel mark) and 々 (the iteration mark) belong to no script of
	// their own, but they are part of the word around them.
	return r == 'ー' || r == '々' || unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r) || unicode.Is(unicode.Katakana, r) || unicode.Is(unicode.Hangul, r)
}

// Sentences splits text into sentences, understanding Chinese punctuation (。！？；) as well
// as English (. ! ? followed by a space or the end), and keeping each sentence's own mark.
func Sentences(text string) []string {
	var out []string
	rs := []rune(text)
	start := 0
	emit := func(end int) {
		if s := strings.TrimSpace(string(rs[start:end])); s != "" {
			out = append(out, s)
		}
		start = end
	}
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '。', '！', '？', '；', '\n':
			// Keep a closing quote or bracket with its sentence.
			for i+1 < len(rs) && strings.ContainsRune("”’」』）)", rs[i+1]) {
				i++
			}
			emit(i + 1)
		case '.', '!', '?':
			if i+1 == len(rs) || unicode.IsSpace(rs[i+1]) {
				// Not after a lone capital or digit: "U.S. rules", "3.5%".
				if rs[i] == '.' && i > 0 && i+1 < len(rs) && (unicode.IsDigit(rs[i-1]) || (unicode.IsUpper(rs[i-1]) && (i < 2 || !unicode.IsLetter(rs[i-2])))) {
					continue
				}
				emit(i + 1)
			}
		}
	}
	emit(len(rs))
	return out
}

// Count returns text's length in tokens as chunking measures it: one per CJK character and
// one per Latin word or number. It is close to what model tokenizers count for Chinese and
// a little under for English, which is what a chunk budget needs.
func Count(text string) int {
	n := 0
	// spans, not Scan: counting needs no runes copied out (chunking counts every unit).
	spans(text, func(isCJK bool, span string) {
		if isCJK {
			n += utf8.RuneCountInString(span)
		} else {
			n++
		}
	})
	return n
}

// QueryTerms returns the terms a search query matches on: CJK bigrams where a run of CJK
// characters has two or more (unigrams would match nearly every Chinese passage), the
// character itself for a run of one, and lowercased Latin words. Duplicates are dropped.
func QueryTerms(query string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(t string) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	Scan(query, func(run []rune) {
		if len(run) == 1 {
			add(string(run))
		}
		for i := 1; i < len(run); i++ {
			add(string(run[i-1 : i+1]))
		}
	}, func(word []rune) { add(strings.ToLower(string(word))) })
	return out
}

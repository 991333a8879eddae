// Package segment splits mixed Chinese and English text into sentences and into the terms
// that search and the offline baseline match on.
package segment

import (
	"strings"
	"unicode"
)

// Scan splits text into maximal runs of CJK characters and Latin words (letters and
// digits), in order, calling cjk or word for each; everything else separates them. The
// slices are reused between calls: copy what you keep. Tokens, Count, QueryTerms and the
// offline embedder all read text through it, so they agree on what a term is.
func Scan(text string, cjk, word func([]rune)) {
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
		case isCJK(r):
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

// Tokens splits text for matching: every pair of adjacent CJK characters (PostgreSQL's
// parsers do not segment Chinese, and bigrams need no dictionary), every single CJK
// character (so one-character queries still match), and lowercased Latin words and numbers.
func Tokens(text string) []string {
	var out []string
	Scan(text, func(run []rune) {
		for i, r := range run {
			out = append(out, string(r))
			if i > 0 {
				out = append(out, string(run[i-1:i+1]))
			}
		}
	}, func(word []rune) { out = append(out, strings.ToLower(string(word))) })
	return out
}

// IsCJK says whether r is a Chinese, Japanese or Korean character: one token each.
func IsCJK(r rune) bool { return isCJK(r) }

func isCJK(r rune) bool {
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
	Scan(text, func(run []rune) { n += len(run) }, func([]rune) { n++ })
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

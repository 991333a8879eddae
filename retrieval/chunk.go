package retrieval

import (
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mentor-ai/mentor/segment"
)

// ChunkSettings bound a corpus's chunks, in segment.Count tokens.
type ChunkSettings struct {
	MaxTokens     int `json:"chunk_tokens"`
	OverlapTokens int `json:"chunk_overlap"`
}

// Chunk is one piece of a document, as search returns it and replies cite it.
type Chunk struct {
	Position    int      `json:"position"`
	HeadingPath []string `json:"heading_path"`
	Text        string   `json:"text"`
	Tokens      int      `json:"token_count"`
	// Page is the page the chunk starts on, counted from 1, in a document with pages (a PDF,
	// whose body separates them with form feeds); 0 elsewhere.
	Page int `json:"page,omitempty"`
}

var (
	headingLine  = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	listItemLine = regexp.MustCompile(`^\s*(?:[-*+•]|\d{1,3}[.)、]|[（(]\d{1,3}[)）])\s+`)
)

// unit is the smallest piece chunking moves whole: a paragraph, a list item or, when those
// are too long, a sentence (or a slice of one).
type unit struct {
	text     string
	tokens   int
	sep      string // what joins it to the unit before it in the same chunk
	headings []string
	page     int // where its paragraph starts; 0 when the body has no pages
}

// ChunkText splits a markdown or plain-text body into chunks that respect its structure:
// a heading starts a new chunk and names the ones under it, paragraphs and list items stay
// whole where they fit, longer ones split at sentence ends (Chinese 。！？； as well as
// English), and consecutive chunks share up to OverlapTokens of trailing units.
func ChunkText(body string, cs ChunkSettings) []Chunk {
	units := splitUnits(body, cs.MaxTokens)
	var out []Chunk
	var cur []unit
	curTokens := 0
	emit := func() {
		if len(cur) == 0 {
			return
		}
		var b strings.Builder
		for i, u := range cur {
			if i > 0 {
				b.WriteString(u.sep)
			}
			b.WriteString(u.text)
		}
		out = append(out, Chunk{Position: len(out), HeadingPath: cur[0].headings, Text: b.String(), Tokens: curTokens, Page: cur[0].page})
	}
	for _, u := range units {
		// A new page starts a new chunk, as a new section does, so that the page a chunk
		// cites is the page all of it starts on.
		sameSection := len(cur) > 0 && slices.Equal(cur[0].headings, u.headings) && cur[0].page == u.page
		switch {
		case len(cur) == 0:
		case !sameSection:
			emit()
			cur, curTokens = nil, 0
		case curTokens+u.tokens > cs.MaxTokens:
			emit()
			cur, curTokens = overlapTail(cur, cs.OverlapTokens, cs.MaxTokens-u.tokens)
		}
		cur = append(cur, u)
		curTokens += u.tokens
	}
	emit()
	return out
}

// overlapTail returns the trailing units of prev that fit in overlap tokens and leave room
// for the next unit.
func overlapTail(prev []unit, overlap, room int) ([]unit, int) {
	limit := min(overlap, room)
	n, tokens := 0, 0
	for i := len(prev) - 1; i >= 0 && tokens+prev[i].tokens <= limit; i-- {
		n++
		tokens += prev[i].tokens
	}
	return append([]unit(nil), prev[len(prev)-n:]...), tokens
}

// splitUnits reads the body's structure: headings set the path, blank lines end paragraphs,
// list items are units of their own.
func splitUnits(body string, maxTokens int) []unit {
	var units []unit
	var headings []string
	var para []string
	paraIsItem := false
	sep := "\n\n"
	// A body with form feeds has pages (see pdfBody); a paragraph belongs to the page it
	// starts on, since a page break usually falls inside one.
	page, paraPage := 0, 0
	if strings.Contains(body, pageBreak) {
		page = 1
	}
	flush := func() {
		if len(para) == 0 {
			return
		}
		text := strings.TrimSpace(strings.Join(para, joinerFor(para)))
		para = para[:0]
		if text == "" {
			return
		}
		for i, u := range splitLong(text, maxTokens) {
			if i == 0 {
				u.sep = sep
			}
			u.headings = headings
			u.page = paraPage
			units = append(units, u)
		}
		sep = "\n\n"
		if paraIsItem {
			sep = "\n" // the next item of the same list
		}
	}
	for _, line := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n") {
		if n := strings.Count(line, pageBreak); n > 0 {
			page += n
			// A page that ends a sentence most likely ends its paragraph too; one that stops
			// mid-sentence goes on, and the paragraph keeps the page it started on.
			if len(para) > 0 && endsSentence(para[len(para)-1]) {
				flush()
				paraIsItem = false
			}
		}
		trimmed := strings.TrimSpace(line) // also drops the form feed
		if m := headingLine.FindStringSubmatch(trimmed); m != nil {
			flush()
			level := len(m[1])
			if level <= len(headings) {
				headings = headings[:level-1]
			}
			for len(headings) < level-1 {
				headings = append(headings, "")
			}
			headings = append(slices.Clone(headings), m[2])
			sep = "\n\n"
			paraIsItem = false
			continue
		}
		if trimmed == "" {
			flush()
			sep, paraIsItem = "\n\n", false
			continue
		}
		if listItemLine.MatchString(line) {
			if !paraIsItem {
				flush()
				sep = "\n\n"
			} else {
				flush()
			}
			paraIsItem = true
		}
		if len(para) == 0 {
			paraPage = page
		}
		para = append(para, trimmed)
	}
	flush()
	// Headings skipped by a document (## under no #) leave empty names; drop them.
	for i := range units {
		units[i].headings = nonEmpty(units[i].headings)
	}
	return units
}

// splitLong returns text as one unit when it fits, or else its sentences, cutting any
// sentence that alone is over the budget.
func splitLong(text string, maxTokens int) []unit {
	if n := segment.Count(text); n <= maxTokens {
		return []unit{{text: text, tokens: n}}
	}
	var out []unit
	for _, s := range segment.Sentences(text) {
		for _, piece := range cutByTokens(s, maxTokens) {
			sep := " "
			if len(out) > 0 && endsCJK(out[len(out)-1].text) {
				sep = ""
			}
			out = append(out, unit{text: piece, tokens: segment.Count(piece), sep: sep})
		}
	}
	return out
}

// cutByTokens cuts s into pieces of at most maxTokens tokens, at a space where it can.
func cutByTokens(s string, maxTokens int) []string {
	var out []string
	for s != "" {
		end, lastSpace, tokens, inWord := len(s), -1, 0, false
	scan:
		for i, r := range s {
			starts := false
			switch {
			case segment.IsCJK(r):
				starts, inWord = true, false
			case unicode.IsLetter(r) || unicode.IsDigit(r):
				starts, inWord = !inWord, true
			default:
				inWord = false
				if unicode.IsSpace(r) {
					lastSpace = i
				}
			}
			if starts {
				if tokens == maxTokens {
					end = i
					break scan
				}
				tokens++
			}
		}
		if end < len(s) && lastSpace > 0 {
			end = lastSpace
		}
		if piece := strings.TrimSpace(s[:end]); piece != "" {
			out = append(out, piece)
		}
		s = strings.TrimSpace(s[end:])
	}
	return out
}

// joinerFor joins a paragraph's lines: nothing between Chinese lines (a line break inside
// Chinese text is not a space), a space otherwise.
func joinerFor(lines []string) string {
	for _, l := range lines[:max(len(lines)-1, 0)] {
		if !endsCJK(l) {
			return " "
		}
	}
	return ""
}

func endsSentence(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return strings.ContainsRune("。！？；.!?", r)
}

func endsCJK(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.Is(unicode.Han, r) || strings.ContainsRune("。！？；，、：”」）", r)
}

func nonEmpty(ss []string) []string {
	out := []string{}
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

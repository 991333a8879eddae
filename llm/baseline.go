package llm

import (
	"context"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/mentor-ai/mentor/segment"
)

// BaselineConfig sets the offline baseline's variant and pace.
type BaselineConfig struct {
	// Sentences is how many sentences the answer quotes: the thorough variant quotes more and
	// keeps them in document order, the brief one quotes fewer, best first.
	Sentences int
	Brief     bool
	// Interval is the pause between streamed pieces (a piece is two CJK characters or one
	// word), so trainers see a baseline stream like a model does. Zero streams at once.
	Interval time.Duration
	Now      func() time.Time
}

// Baseline is the offline, extractive responder. It answers from the passages it is given:
// it picks the sentences that share the most terms with the question, cites them as [N], and
// frames them with the prompt version's opening and closing lines. It is deterministic for a
// given seed, and it is a baseline to rank against, not a language model.
type Baseline struct {
	cfg BaselineConfig
}

// NewBaseline returns a baseline provider.
func NewBaseline(cfg BaselineConfig) *Baseline {
	if cfg.Sentences <= 0 {
		cfg.Sentences = 3
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Baseline{cfg: cfg}
}

type scoredSentence struct {
	n, pos int // passage number, position within it
	text   string
	score  float64
}

// Answer composes the whole reply without streaming it.
func (b *Baseline) Answer(req Request) string {
	question := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			question = req.Messages[i].Content
			break
		}
	}
	qTokens := map[string]bool{}
	for _, t := range segment.Tokens(question) {
		qTokens[t] = true
	}
	var cands []scoredSentence
	for rank, p := range req.Passages {
		for pos, s := range segment.Sentences(p.Text) {
			score := 0.0
			seen := map[string]bool{}
			for _, t := range segment.Tokens(s) {
				if qTokens[t] && !seen[t] {
					seen[t] = true
					score += termWeight(t)
				}
			}
			if score == 0 {
				continue
			}
			// Prefer what retrieval ranked higher, and break exact ties by the seed.
			score += 0.05*float64(len(req.Passages)-rank) + jitter(req.Seed, s)
			cands = append(cands, scoredSentence{n: p.N, pos: pos, text: s, score: score})
		}
	}
	slices.SortFunc(cands, func(a, c scoredSentence) int {
		switch {
		case a.score > c.score:
			return -1
		case a.score < c.score:
			return 1
		}
		return 0
	})
	want := b.cfg.Sentences
	if b.cfg.Brief {
		want = max(1, want/2)
	}
	picked := cands[:min(want, len(cands))]
	if !b.cfg.Brief {
		slices.SortFunc(picked, func(a, c scoredSentence) int {
			if a.n != c.n {
				return a.n - c.n
			}
			return a.pos - c.pos
		})
	}

	en := req.Locale == "en"
	var parts []string
	if req.Opening != "" {
		parts = append(parts, req.Opening)
	}
	if len(picked) == 0 {
		if en {
			parts = append(parts, "I could not find anything about this in my knowledge base, so I would rather not guess.")
		} else {
			parts = append(parts, "我在知识库里没有找到和这个问题直接相关的内容，就不随意猜测了。")
		}
	} else {
		var body strings.Builder
		for i, s := range picked {
			if i > 0 && (en || !endsWithCJK(picked[i-1].text)) {
				body.WriteByte(' ')
			}
			body.WriteString(s.text)
			body.WriteString("[" + strconv.Itoa(s.n) + "]")
		}
		parts = append(parts, body.String())
	}
	if req.Closing != "" {
		parts = append(parts, req.Closing)
	}
	return strings.Join(parts, "\n\n")
}

// Stream implements Provider.
func (b *Baseline) Stream(ctx context.Context, req Request, onDelta func(Delta)) (Result, error) {
	start := b.cfg.Now()
	res := Result{Attempts: 1}
	text := b.Answer(req)
	var t *time.Ticker
	if b.cfg.Interval > 0 {
		t = time.NewTicker(b.cfg.Interval)
		defer t.Stop()
	}
	pieces := 0
	for piece := range splitPieces(text) {
		if t != nil {
			select {
			case <-ctx.Done():
				res.Status, res.Duration = Cancelled, b.cfg.Now().Sub(start)
				return res, ctx.Err()
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			res.Status, res.Duration = Cancelled, b.cfg.Now().Sub(start)
			return res, ctx.Err()
		}
		if pieces == 0 {
			res.TimeToFirstToken = b.cfg.Now().Sub(start)
		}
		pieces++
		onDelta(Delta{Content: piece})
	}
	// The baseline has no tokenizer: it counts the pieces it streamed.
	res.Usage = Usage{CompletionTokens: pieces, TotalTokens: pieces}
	res.Status, res.FinishReason, res.Duration = Complete, "stop", b.cfg.Now().Sub(start)
	return res, nil
}

// splitPieces yields text in model-sized pieces: up to two Han characters, a word with the
// space before it, or one other character.
func splitPieces(text string) func(func(string) bool) {
	return func(yield func(string) bool) {
		rs := []rune(text)
		isWord := func(r rune) bool { return (unicode.IsLetter(r) || unicode.IsDigit(r)) && !isHan(r) }
		for i := 0; i < len(rs); {
			j := i + 1
			switch {
			case isHan(rs[i]):
				if j < len(rs) && isHan(rs[j]) {
					j++
				}
			case rs[i] == ' ' || isWord(rs[i]):
				for j < len(rs) && isWord(rs[j]) {
					j++
				}
			}
			if !yield(string(rs[i:j])) {
				return
			}
			i = j
		}
	}
}

func isHan(r rune) bool { return unicode.Is(unicode.Han, r) }

func endsWithCJK(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return isHan(r) || strings.ContainsRune("。！？；：，”」）", r)
}

// termWeight favours informative matches: a Chinese bigram or a word says more than one
// Chinese character.
func termWeight(t string) float64 {
	switch n := utf8.RuneCountInString(t); {
	case n == 1 && isHan([]rune(t)[0]):
		return 0.2
	case n == 2 && isHan([]rune(t)[0]):
		return 1
	default:
		return 1.5
	}
}

func jitter(seed int64, s string) float64 {
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatInt(seed, 10)))
	h.Write([]byte(s))
	return float64(h.Sum64()%1000) / 1e7
}

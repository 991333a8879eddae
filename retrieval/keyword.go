package retrieval

import (
	"cmp"
	"context"
	"math"
	"slices"

	"github.com/mentor-ai/mentor/segment"
)

// Passage is a piece of a document chosen for a reply.
type Passage struct {
	DocumentID int64   `json:"document_id"`
	CorpusID   int64   `json:"corpus_id"`
	Slug       string  `json:"slug"`
	Lang       string  `json:"lang"`
	Title      string  `json:"title"`
	Text       string  `json:"text"`
	Score      float64 `json:"score"`
}

// BM25's usual constants.
const (
	bm25K1 = 1.2
	bm25B  = 0.75
)

// Search returns up to k documents of the corpora that best match query, by BM25 over Tokens.
// Each document is one passage until documents are chunked.
func (s *Store) Search(ctx context.Context, corpusIDs []int64, query string, k int) ([]Passage, error) {
	if k <= 0 || len(corpusIDs) == 0 {
		return nil, nil
	}
	docs, err := s.Documents(ctx, corpusIDs)
	if err != nil {
		return nil, err
	}
	return RankBM25(docs, query, k), nil
}

// RankBM25 scores docs against query and returns the best k with a positive score, best
// first; ties go to the lower document id, so results are stable.
func RankBM25(docs []Document, query string, k int) []Passage {
	qTokens := unique(segment.Tokens(query))
	if len(qTokens) == 0 || len(docs) == 0 {
		return nil
	}
	tfs := make([]map[string]int, len(docs))
	lens := make([]float64, len(docs))
	df := map[string]int{}
	var total float64
	for i, d := range docs {
		toks := segment.Tokens(d.Title + "\n" + d.Body)
		tf := map[string]int{}
		for _, t := range toks {
			tf[t]++
		}
		for t := range tf {
			df[t]++
		}
		tfs[i], lens[i] = tf, float64(len(toks))
		total += lens[i]
	}
	avg := total / float64(len(docs))
	n := float64(len(docs))
	var out []Passage
	for i, d := range docs {
		var score float64
		for _, t := range qTokens {
			f := float64(tfs[i][t])
			if f == 0 {
				continue
			}
			idf := math.Log(1 + (n-float64(df[t])+0.5)/(float64(df[t])+0.5))
			score += idf * f * (bm25K1 + 1) / (f + bm25K1*(1-bm25B+bm25B*lens[i]/avg))
		}
		if score > 0 {
			out = append(out, Passage{DocumentID: d.ID, CorpusID: d.CorpusID, Slug: d.Slug, Lang: d.Lang,
				Title: d.Title, Text: d.Body, Score: score})
		}
	}
	slices.SortFunc(out, func(a, b Passage) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.DocumentID, b.DocumentID))
	})
	return out[:min(k, len(out))]
}

func unique(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

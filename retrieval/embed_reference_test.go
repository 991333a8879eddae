package retrieval_test

import (
	"math"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/internal/corpusgen"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/segment"
)

// TestNgramEmbedderMatchesTheReference holds the offline embedder, which hashes slices of
// one encoding instead of encoding every gram (issue 17), to the vectors of the version it
// replaced, kept here, bit for bit: a stored chunk's vector must keep matching the same
// question's.
func TestNgramEmbedderMatchesTheReference(t *testing.T) {
	t.Parallel()
	texts := []string{"", "。！", "个人邮寄进境物品免征额是50元", "Drones must be declared when batteries exceed 160 Wh", "a", "ÉCOLE Straße İstanbul",
		"混合 mixed 文本 text 123", "ラーメン 한국어", "\xff\xfe broken 免\xff税"}
	for _, d := range corpusgen.Documents(5, 30, 4) {
		texts = append(texts, d.Title, d.Body)
	}
	e := retrieval.NewNgramEmbedder(256)
	for _, text := range texts {
		assert.Equal(t, referenceVector(256, text), e.Vector(text), "%q", text)
	}
}

func referenceVector(dim int, text string) []float32 {
	const fnvOffset, fnvPrime = 14695981039346656037, 1099511628211
	grams := []struct {
		size   int
		weight float32
	}{{1, 0.5}, {2, 1}, {3, 1}}
	v := make([]float32, dim)
	var buf []byte
	add := func(gram []rune, weight float32) {
		buf = buf[:0]
		for _, r := range gram {
			buf = utf8.AppendRune(buf, r)
		}
		sum := uint64(fnvOffset)
		for _, b := range buf {
			sum = (sum ^ uint64(b)) * fnvPrime
		}
		if sum>>63 == 1 {
			weight = -weight
		}
		v[sum%uint64(dim)] += weight
	}
	segment.Scan(text, func(run []rune) {
		for _, g := range grams {
			for i := 0; i+g.size <= len(run); i++ {
				add(run[i:i+g.size], g.weight)
			}
		}
	}, func(word []rune) {
		for i, r := range word {
			word[i] = unicode.ToLower(r)
		}
		add(word, 1)
		padded := append(append([]rune{'#'}, word...), '#')
		for i := 0; i+3 <= len(padded); i++ {
			add(padded[i:i+3], 0.5)
		}
	})
	var sq float64
	for _, x := range v {
		sq += float64(x) * float64(x)
	}
	if sq > 0 {
		inv := float32(1 / math.Sqrt(sq))
		for i := range v {
			v[i] *= inv
		}
	}
	return v
}

package acceptance

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSampleIsReproducible(t *testing.T) {
	t.Parallel()
	ids := make([]int64, 500)
	for i := range ids {
		ids[i] = int64(1000 + 3*i)
	}
	shuffled := slices.Clone(ids)
	slices.Reverse(shuffled)
	kept := slices.Clone(shuffled)
	a := Sample(ids, 50, 42)
	assert.Len(t, a, 50)
	assert.Equal(t, a, Sample(ids, 50, 42), "the same ids and seed draw the same sample")
	assert.Equal(t, a, Sample(shuffled, 50, 42), "whatever order the ids come in")
	assert.NotEqual(t, a, Sample(ids, 50, 43), "another seed draws another sample")
	assert.Equal(t, a[:10], Sample(ids, 10, 42), "a smaller sample is the start of the same draw")
	for _, id := range a {
		assert.Contains(t, ids, id)
	}
	seen := map[int64]bool{}
	for _, id := range a {
		assert.False(t, seen[id], "drawn once")
		seen[id] = true
	}
	all := Sample(ids, 800, 7)
	assert.ElementsMatch(t, ids, all, "n beyond the lot is the whole lot")
	assert.Equal(t, kept, shuffled, "the caller's ids are not reordered")
}

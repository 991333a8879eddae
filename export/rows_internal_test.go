package export

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestDedupeKeys: keys made from hashes computed once per judgment equal the keys of the
// whole row, and moving text between fields makes another key.
func TestDedupeKeys(t *testing.T) {
	t.Parallel()
	ctx := []message{{"user", "你好"}, {"assistant", "您好！"}, {"user", "免税额是多少？"}}
	assert.Equal(t, dedupeKey(ctx, "50元", "不知道"), combine(contextHash(ctx), textHash("50元"), textHash("不知道")))
	assert.NotEqual(t, dedupeKey(ctx, "50元", "不知道"), dedupeKey(ctx, "不知道", "50元"), "chosen and rejected swapped")
	assert.NotEqual(t, dedupeKey(ctx, "ab", "c"), dedupeKey(ctx, "a", "bc"))
	assert.NotEqual(t, dedupeKey([]message{{"user", "ab"}}), dedupeKey([]message{{"user", "a"}, {"user", "b"}}))
	assert.Equal(t, combine(contextHash(ctx)), dedupeKey(ctx), "an SFT row's key is its prompt's")
}

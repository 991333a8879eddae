package rlhf

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/pgtest"
)

// TestEveryJudgmentWriteIsValid prepares each of the sixteen shapes of a judgment's write
// (writeStatements): PostgreSQL parses and types every one, and each takes exactly the
// parameters writeArgs sends for its parts. The submit tests run the common shapes; this
// holds the rest (an edit with citations, pairs without a human reply, …), which a change
// to writeJudgmentSQL could break unseen.
func TestEveryJudgmentWriteIsValid(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	require.NoError(t, err)
	defer conn.Release()
	for i, sql := range writeStatements {
		p := writeParts{edit: i&1 != 0, gold: i&2 != 0, pairs: i&4 != 0, cites: i&8 != 0}
		require.Equal(t, i, p.index(), "%+v", p)
		sd, err := conn.Conn().Prepare(ctx, fmt.Sprintf("judgment_write_%d", i), sql)
		require.NoError(t, err, "%+v", p)
		edit, gold := "改写", "标准答案"
		args := writeArgs(p, make([]any, 12), 1, &edit, &gold, [4]any{}, [2]any{})
		assert.Len(t, sd.ParamOIDs, len(args), "%+v: the statement's parameters against writeArgs", p)
	}
}

package export_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/internal/bulkpairs"
)

// bulkPairs adds n preference pairs to w's project, in judgments of the customs helper by wang.
func bulkPairs(t testing.TB, w *world, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	require.NoError(t, bulkpairs.Insert(ctx, w.pool, bulkpairs.Owner{Project: w.project.ID, Persona: w.personas["customs-helper"].ID,
		PromptVersion: w.versions["customs-helper"][0].ID, User: w.users["wang"].ID}, n))
}

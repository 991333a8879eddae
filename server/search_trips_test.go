package server_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/internal/corpusgen"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
)

// TestSearchRoundTrips holds GET /search to the round trips its work needs (issue 17): the
// access check's one (which reads the corpus), then the two lists at once (one each) and
// the read of the fused passages. The search looked its corpus up again in a round trip of
// its own before, five in all. A caller the check refuses costs the check alone: no list
// runs for them. Each case is the fewest of three warm tries: the engine's background work
// shares the pool and can only add to a count.
func TestSearchRoundTrips(t *testing.T) {
	t.Parallel()
	f := newFixture(t, discardLogger(), options{countTrips: true})
	ctx := context.Background()
	project, err := f.deps.Prompts.CreateProject(ctx, prompts.Project{Slug: "search-trips", Name: "检索往返"})
	require.NoError(t, err)
	corpus, err := f.deps.Retrieval.CreateCorpus(ctx, retrieval.Corpus{ProjectID: project.ID, Slug: "rules", Name: "规定"})
	require.NoError(t, err)
	for _, r := range f.deps.Retrieval.IngestBatch(ctx, corpus, corpusgen.Documents(42, 20, 4)) {
		require.NoError(t, r.Err)
	}
	viewer := f.member(t, "viewer", project.ID, auth.RoleViewer)
	f.user(t, "outsider", false)
	outsider := f.signIn(t, "outsider")
	query := corpusgen.Queries(7, 1)[0]

	cases := []struct {
		name   string
		client *client
		corpus int64
		params url.Values
		status int
		trips  int64
	}{
		{name: "hybrid: the check, both lists at once, the passages", client: viewer, corpus: corpus.ID, status: http.StatusOK, trips: 4},
		{name: "full text only", client: viewer, corpus: corpus.ID, params: url.Values{"vector_weight": {"0"}}, status: http.StatusOK, trips: 3},
		{name: "vector only", client: viewer, corpus: corpus.ID, params: url.Values{"text_weight": {"0"}}, status: http.StatusOK, trips: 3},
		{name: "instance admin", client: f.admin, corpus: corpus.ID, status: http.StatusOK, trips: 4},
		{name: "not a member: not found, and no search", client: outsider, corpus: corpus.ID, status: http.StatusNotFound, trips: 1},
		{name: "no such corpus", client: viewer, corpus: 1 << 40, status: http.StatusNotFound, trips: 1},
	}
	for _, tc := range cases {
		q := url.Values{"corpus": {fmt.Sprint(tc.corpus)}, "q": {query}, "k": {"5"}}
		for k, v := range tc.params {
			q[k] = v
		}
		path := "/api/v1/search?" + q.Encode()
		// Warm: pgx prepares a statement once per connection.
		res := tc.client.request(t, "GET", path, nil)
		res.Body.Close()
		best := fewestRoundTrips(t, f, tc.name, tc.status, func() *http.Response { return tc.client.request(t, "GET", path, nil) })
		assert.Equal(t, tc.trips, best, "%s: round trips", tc.name)
	}
}

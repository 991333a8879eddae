package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/server"
)

// TestNonMembersCannotProbe sends every route about one project's thing (a project,
// persona, corpus, turn or conversation) as someone who belongs to no project, by session
// and by API tokens of every scope, once at a thing that exists and once at one that does
// not. The answers must be the same, status and body alike (but for the id the caller sent
// itself), or the difference tells an outsider what exists. A token whose scope does not
// cover the route used to get 403 for the first and 404 for the second.
func TestNonMembersCannotProbe(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	outsider, err := w.auth.UserByLogin(ctx, "outsider")
	require.NoError(t, err)
	callers := map[string]*client{"session": w.members["outsider"]}
	for _, scope := range []auth.Scope{auth.ScopeRead, auth.ScopeExport, auth.ScopeWrite} {
		secret, _, err := w.auth.CreateToken(ctx, outsider.ID, "probe-"+string(scope), []auth.Scope{scope})
		require.NoError(t, err)
		callers["token: "+string(scope)] = w.withToken(secret)
	}
	const none = 987654321
	missing := projectSide{project: prompts.Project{Slug: "no-such-project"}, persona: none, corps: none, turn: none, conversation: none,
		campaign: none, claim: none, review: none, batch: none}
	kinds := map[string]bool{}
	for _, rr := range server.RouteRules() {
		if rr.Target == "" {
			continue
		}
		kinds[strings.Fields(rr.Target)[0]] = true
		for name, c := range callers {
			t.Run(fmt.Sprintf("%s %s as %s", rr.Method, rr.Path, name), func(t *testing.T) {
				var body any
				if rr.Method != "GET" && rr.Method != "DELETE" {
					body = map[string]any{}
				}
				existing, absent := w.path(rr, w.b), w.path(rr, missing)
				status, got := c.call(t, rr.Method, existing, body)
				wantStatus, want := c.call(t, rr.Method, absent, body)
				assert.Equal(t, wantStatus, status, "%v against %v", got, want)
				assert.Equal(t, http.StatusNotFound, status, got)
				assert.Equal(t, withoutIDs(t, want), withoutIDs(t, got), "the body tells the two apart")
			})
		}
	}
	assert.Equal(t, map[string]bool{"project": true, "persona": true, "corpus": true, "turn": true, "conversation": true,
		"campaign": true, "claim": true, "review": true, "batch": true}, kinds,
		"every kind of target is probed")
}

// quoted is what an error message quotes: the id or slug the caller sent.
var quoted = regexp.MustCompile(`"[^"]*"`)

// withoutIDs is a response body with what its message quotes blanked, so that two answers
// that differ only in the id the caller sent compare equal.
func withoutIDs(t *testing.T, body map[string]any) string {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(b, &out))
	if e, ok := out["error"].(map[string]any); ok {
		if msg, ok := e["message"].(string); ok {
			e["message"] = quoted.ReplaceAllString(msg, `"…"`)
		}
		// The parameters of a not-found message are what the caller sent: blanked alike.
		if params, ok := e["params"].([]any); ok {
			for i := range params {
				params[i] = "…"
			}
		}
	}
	b, err = json.Marshal(out)
	require.NoError(t, err)
	return string(b)
}

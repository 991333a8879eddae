package server_test

import (
	"encoding/json"
	"io/fs"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/audit"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/export"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/server"
	"github.com/mentor-ai/mentor/ui"
	"github.com/mentor-ai/mentor/webhook"
)

// TestEveryAPITermHasAChineseName checks that each value the API sends as an English key and
// the interface shows — export formats with their descriptions, kinds, encodings, candidate
// statuses, token scopes, audit actions, webhook events, the built-in embedder, and every documented
// operation's summary, tag and error code — has a Chinese name in ui/static/locales, under
// the key the pages look it up by. The values come from the code, so a format or action
// added later without a name fails here.
func TestEveryAPITermHasAChineseName(t *testing.T) {
	t.Parallel()
	raw, err := fs.ReadFile(ui.Static(), "locales/zh-CN.json")
	require.NoError(t, err)
	var zh map[string]string
	require.NoError(t, json.Unmarshal(raw, &zh))

	var keys []string
	add := func(prefix string, values ...string) {
		for _, v := range values {
			keys = append(keys, prefix+"."+v)
		}
	}
	for _, f := range export.Formats() {
		add("exportFormat", f.Name, f.Name+".description")
		for _, k := range f.Kinds {
			add("exportKind", k.Name)
		}
	}
	add("encoding", export.Encodings...)
	add("status", export.Statuses...)
	for _, s := range []auth.Scope{auth.ScopeRead, auth.ScopeExport, auth.ScopeWrite} {
		add("scope", string(s), string(s)+".help")
	}
	add("auditAction", audit.Actions...)
	for _, e := range webhook.Events {
		add("webhooks.event", string(e))
	}
	add("embedder", retrieval.OfflineEmbedderName)
	for _, r := range auth.Roles {
		add("role", string(r))
	}
	for _, p := range auth.Permissions {
		add("api.perm", string(p))
	}
	doc, err := server.OpenAPI("test")
	require.NoError(t, err)
	for _, item := range doc["paths"].(map[string]any) {
		for _, op := range item.(map[string]any) {
			op := op.(map[string]any)
			add("api.op", op["operationId"].(string))
			for _, r := range op["responses"].(map[string]any) {
				codes, _ := r.(map[string]any)["x-mentor-codes"].([]any)
				for _, c := range codes {
					add("api.code", c.(string))
				}
			}
		}
	}
	for _, tg := range doc["tags"].([]any) {
		add("api.tag", tg.(map[string]any)["name"].(string))
	}

	var missing []string
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k] {
			continue
		}
		seen[k] = true
		if v, ok := zh[k]; !ok || strings.TrimSpace(v) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("add these keys to ui/static/locales/zh-CN.json and en.json (a new route's summary is api.op.<operationId>):\n%s",
			strings.Join(missing, "\n"))
	}
}

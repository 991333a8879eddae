package ui_test

import (
	"encoding/json"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/ui"
)

func catalog(t *testing.T, locale string) map[string]string {
	t.Helper()
	b, err := fs.ReadFile(ui.Static(), "locales/"+locale+".json")
	require.NoError(t, err)
	var m map[string]string
	require.NoError(t, json.Unmarshal(b, &m), locale)
	return m
}

// TestCatalogsMatch keeps zh-CN and en in step: a key in one must be in the other, and no
// message may be empty.
func TestCatalogsMatch(t *testing.T) {
	t.Parallel()
	zh, en := catalog(t, "zh-CN"), catalog(t, "en")
	assert.Equal(t, slices.Sorted(maps.Keys(zh)), slices.Sorted(maps.Keys(en)))
	for _, c := range []map[string]string{zh, en} {
		for k, v := range c {
			assert.NotEmpty(t, strings.TrimSpace(v), k)
		}
	}
}

var (
	htmlKey = regexp.MustCompile(`data-i18n(?:-placeholder)?="([\w.]+)"`)
	// In scripts, message keys are the only string literals shaped like "section.name".
	jsKey = regexp.MustCompile(`"([a-z][a-zA-Z]*(?:\.[a-zA-Z]+)+)"`)
)

// TestPagesUseKnownKeys finds every message key the HTML and scripts use and checks that
// the catalog has it.
func TestPagesUseKnownKeys(t *testing.T) {
	t.Parallel()
	zh := catalog(t, "zh-CN")
	namespaces := map[string]bool{}
	for k := range zh {
		ns, _, _ := strings.Cut(k, ".")
		namespaces[ns] = true
	}
	used := map[string]string{}
	err := fs.WalkDir(ui.Static(), ".", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && path == "vendor" {
			return fs.SkipDir // other projects' code, with no message keys of ours
		}
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".html") || strings.HasSuffix(path, ".js")) {
			return err
		}
		b, err := fs.ReadFile(ui.Static(), path)
		if err != nil {
			return err
		}
		pattern := htmlKey
		if strings.HasSuffix(path, ".js") {
			pattern = jsKey
		}
		for _, m := range pattern.FindAllStringSubmatch(string(b), -1) {
			ns, _, _ := strings.Cut(m[1], ".")
			if pattern == jsKey && !namespaces[ns] {
				continue // a dotted string that is not a message key, such as "project.read"
			}
			used[m[1]] = path
		}
		return nil
	})
	require.NoError(t, err)
	require.NotEmpty(t, used)
	// Keys the scripts build from API values, such as t(`kind.${p.kind}`).
	for _, key := range []string{"kind.digital_human", "kind.domain_assistant",
		"status.complete", "status.interrupted", "status.failed", "status.cancelled",
		"role.admin", "role.reviewer", "role.expert", "role.trainer", "role.viewer",
		"train.save.idle", "train.save.draft", "train.save.saving", "train.save.submitted", "train.save.failed",
		"flag.hallucination", "flag.unsafe", "flag.off_persona", "flag.refusal",
		"corpus.outcome.added", "corpus.outcome.updated", "corpus.outcome.unchanged", "corpus.outcome.failed",
		"corpus.field.slug", "corpus.field.title", "corpus.field.body", "corpus.field.lang", "corpus.field.tags",
		// Issue 16: webhook events and delivery statuses.
		"webhooks.event.judgment.submitted", "webhooks.event.item.completed", "webhooks.event.batch.accepted",
		"webhooks.event.batch.rejected", "webhooks.event.campaign.closed", "webhooks.event.export.ready",
		"webhooks.status.pending", "webhooks.status.delivered", "webhooks.status.failed", "webhooks.status.paused",
		// Issue 13: the people file's columns (campaigns.js).
		"people.col.login", "people.col.name", "people.col.base", "people.col.role", "people.col.lead"} {
		used[key] = "a dynamic key"
	}
	for key, path := range used {
		assert.Contains(t, zh, key, "%s uses an unknown message key", path)
	}
}

package server

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/errs"
)

// TestRejectNULNamesThePath checks the JSON paths rejectNUL reports, for the websocket's
// messages as much as for bodies: the HTTP tests cover the fields one by one.
func TestRejectNULNamesThePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, raw, field string // field "" means accepted
	}{
		{"no escape at all", `{"comment":"好","n":4,"ok":true,"x":null}`, ""},
		{"an escaped backslash before u0000 is no NUL", `{"comment":"C:\\u0000"}`, ""},
		{"top-level field", `{"comment":"a\u0000b"}`, "comment"},
		{"nested object", `{"edit":{"candidate_id":3,"content":"\u0000"}}`, "edit.content"},
		{"array of objects", `{"edits":[{"content":"ok"},{"content":"x\u0000"}]}`, "edits[1].content"},
		{"after scalars and nested values", `{"a":1,"b":[1,[2,3],{"c":"d"}],"e":{"f":[true,"\u0000"]}}`, "e.f[1]"},
		{"map keyed by id", `{"ratings":{"41":{"accuracy":3},"42":{"tone":"\u0000"}}}`, "ratings.42.tone"},
		{"a key holding the NUL", `{"ratings":{"41\u0000":{"accuracy":3}}}`, `ratings["41\u0000"]`},
		{"a key with a dot", `{"flags":{"a.b":["\u0000"]}}`, `flags["a.b"][0]`},
		{"top-level array", `[{"message":"hi"},"\u0000"]`, "[1]"},
		{"a websocket message", `{"type":"generate","plan":[{"model":"m"},{"model":"m"},{"model":"qwen\u0000"}]}`, "plan[2].model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := rejectNUL([]byte(tt.raw))
			if tt.field == "" {
				assert.NoError(t, err)
				return
			}
			var e *errs.Error
			if assert.ErrorAs(t, err, &e) {
				assert.Equal(t, errs.Unprocessable, e.Kind)
				assert.Equal(t, tt.field, e.Field)
			}
		})
	}
}

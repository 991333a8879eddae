package apidoc

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type role string

type inner struct {
	N int `json:"n"`
}

type embedded struct {
	Shared string `json:"shared"`
}

type sample struct {
	embedded
	ID       int64             `json:"id"`
	Name     string            `json:"name,omitempty"`
	Hidden   string            `json:"-"`
	When     time.Time         `json:"when"`
	Maybe    *int              `json:"maybe"`
	List     []inner           `json:"list"`
	Tags     map[string]string `json:"tags"`
	Any      any               `json:"any"`
	Role     role              `json:"role"`
	Inner    inner             `json:"inner"`
	Ptr      *inner            `json:"ptr,omitempty"`
	Raw      json.RawMessage   `json:"raw"`
	Quoted   int               `json:"quoted,string"`
	Bytes    []byte            `json:"bytes"`
	Self     *sample           `json:"self,omitempty"`
	internal int               // unexported: encoding/json never writes it
}

var _ = sample{internal: 0} // the field exists only to be left out

func TestSchemasFollowEncodingJSON(t *testing.T) {
	t.Parallel()
	s := newSchemas(map[reflect.Type][]string{reflect.TypeFor[role](): {"a", "b"}})
	ref := s.of(reflect.TypeFor[sample]())
	assert.Equal(t, Schema{"$ref": "#/components/schemas/Sample"}, ref)
	obj := s.components["Sample"]
	props := obj["properties"].(Schema)
	cases := []struct {
		field string
		want  Schema
	}{
		{"shared", Schema{"type": "string"}}, // lifted from the embedded struct
		{"id", Schema{"type": "integer", "format": "int64"}},
		{"name", Schema{"type": "string"}},
		{"when", Schema{"type": "string", "format": "date-time"}},
		{"maybe", Schema{"type": []any{"integer", "null"}, "format": "int64"}},
		{"list", Schema{"type": []any{"array", "null"}, "items": Schema{"$ref": "#/components/schemas/Inner"}}},
		{"tags", Schema{"type": []any{"object", "null"}, "additionalProperties": Schema{"type": "string"}}},
		{"any", Schema{}},
		{"role", Schema{"type": "string", "enum": []any{"a", "b"}}},
		{"inner", Schema{"$ref": "#/components/schemas/Inner"}},
		{"ptr", Schema{"anyOf": []any{Schema{"$ref": "#/components/schemas/Inner"}, Schema{"type": "null"}}}},
		{"raw", Schema{}},
		{"quoted", Schema{"type": "string"}},
		{"bytes", Schema{"type": []any{"string", "null"}, "contentEncoding": "base64"}},
		{"self", Schema{"anyOf": []any{Schema{"$ref": "#/components/schemas/Sample"}, Schema{"type": "null"}}}},
	}
	for _, tc := range cases {
		t.Run(tc.field, func(t *testing.T) {
			assert.Equal(t, tc.want, props[tc.field])
		})
	}
	assert.NotContains(t, props, "Hidden")
	assert.NotContains(t, props, "internal")
	assert.Len(t, props, len(cases))
	assert.Equal(t, []any{"shared", "id", "when", "maybe", "list", "tags", "any", "role", "inner", "raw", "quoted", "bytes"},
		obj["required"], "omitempty fields are optional, the rest required")
}

// TestComponentNamesDoNotClash gives a second type of the same name its package's name.
func TestComponentNamesDoNotClash(t *testing.T) {
	t.Parallel()
	s := newSchemas(nil)
	s.of(reflect.TypeFor[sample]())
	s.taken["Time2"] = reflect.TypeFor[int]()
	type Time2 struct{ X int }
	assert.Equal(t, Schema{"$ref": "#/components/schemas/ApidocTime2"}, s.of(reflect.TypeFor[Time2]()))
}

func TestBuildRefusesUndocumentedAndDuplicateOperations(t *testing.T) {
	t.Parallel()
	ok := Operation{Method: "GET", Path: "/x/:id", Summary: "x", Tag: "t", Responses: []Response{{Status: 200, Body: &Body{Type: reflect.TypeFor[inner]()}}},
		Errors: []ErrorResponse{{Status: 404, Codes: []string{"not_found"}}}}
	cases := []struct {
		name string
		ops  []Operation
		err  string
	}{
		{"fine", []Operation{ok}, ""},
		{"no summary", []Operation{{Method: "GET", Path: "/y", Responses: ok.Responses}}, "GET /y: undocumented"},
		{"no answer", []Operation{{Method: "GET", Path: "/y", Summary: "y"}}, "GET /y: undocumented"},
		{"twice", []Operation{ok, ok}, "GET /x/:id: documented twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, err := Build(Info{Title: "t", Version: "1"}, tc.ops, reflect.TypeFor[inner](), nil)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			op := doc["paths"].(map[string]any)["/x/{id}"].(map[string]any)["get"].(map[string]any)
			assert.Equal(t, "getXId", op["operationId"])
			assert.Equal(t, []any{"not_found"}, op["responses"].(map[string]any)["404"].(map[string]any)["x-mentor-codes"])
		})
	}
}

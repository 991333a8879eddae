package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"
)

// servedDocument is the OpenAPI document a running `mentor serve` serves, read as the
// contract check reads it: a test here validates an answer against the document the binary
// publishes, not against one built inside the test.
type servedDocument struct {
	doc      map[string]any
	c        *jsonschema.Compiler
	compiled map[string]*jsonschema.Schema
}

func fetchDocument(t testing.TB, m mentor) *servedDocument {
	t.Helper()
	res, err := http.Get(m.base + "/api/v1/openapi.json")
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, "%s", raw)
	var doc map[string]any
	require.NoError(t, json.Unmarshal(raw, &doc))
	c := jsonschema.NewCompiler()
	defs := strictSchema(t, map[string]any{"$defs": doc["components"].(map[string]any)["schemas"]})
	require.NoError(t, c.AddResource("mentor:defs.json", defs))
	return &servedDocument{doc: doc, c: c, compiled: map[string]*jsonschema.Schema{}}
}

// check fails t unless body is an answer the document gives for method and path (a route
// template such as /projects/{project}/leaderboard) with status: every field documented,
// no field the document lacks (objects are closed, as in server's contract test).
func (d *servedDocument) check(t testing.TB, method, path string, status int, body []byte) {
	t.Helper()
	require.NoError(t, d.validate(t, method, path, status, body), "the answer of %s %s does not match the served OpenAPI document: %.600s", method, path, body)
}

func (d *servedDocument) validate(t testing.TB, method, path string, status int, body []byte) error {
	t.Helper()
	op, _ := d.doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(method)].(map[string]any)
	require.NotNil(t, op, "%s %s is not in the served document", method, path)
	resp, _ := op["responses"].(map[string]any)[strconv.Itoa(status)].(map[string]any)
	require.NotNil(t, resp, "%s %s: status %d is not documented", method, path, status)
	url := "mentor:" + regexp.MustCompile(`\W+`).ReplaceAllString(method+path+strconv.Itoa(status), "-") + ".json"
	schema, ok := d.compiled[url]
	if !ok {
		sc := resp["content"].(map[string]any)["application/json"].(map[string]any)["schema"]
		require.NoError(t, d.c.AddResource(url, strictSchema(t, sc)))
		var err error
		schema, err = d.c.Compile(url)
		require.NoError(t, err)
		d.compiled[url] = schema
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	require.NoError(t, err)
	return schema.Validate(v)
}

// strictSchema points a schema's refs into mentor:defs.json and closes its objects.
func strictSchema(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	b = bytes.ReplaceAll(b, []byte(`"#/components/schemas/`), []byte(`"mentor:defs.json#/$defs/`))
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(t, err)
	var closeObjects func(any)
	closeObjects = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["properties"]; ok {
				if _, set := v["additionalProperties"]; !set {
					v["additionalProperties"] = false
				}
			}
			for _, x := range v {
				closeObjects(x)
			}
		case []any:
			for _, x := range v {
				closeObjects(x)
			}
		}
	}
	closeObjects(doc)
	return doc
}

package server_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mentor-ai/mentor/apidoc"
	"github.com/mentor-ai/mentor/server"
)

// contract checks answers against the OpenAPI document: every answer a test gets through
// client.call must have a status its route documents and, for JSON, a body its schema
// describes with no field left out. Every server test that calls the API is so a test of
// the document too.
type contract struct {
	ops []contractOp
}

type contractOp struct {
	op      apidoc.Operation
	pattern *regexp.Regexp
	params  int
	bodies  map[int]*jsonschema.Schema // by success status, for JSON answers
	errors  map[int][]string           // codes by error status
}

// theContract is compiled once per test binary: it depends only on the code.
var theContract = sync.OnceValues(newContract)

func newContract() (*contract, error) {
	doc, err := server.OpenAPI("test")
	if err != nil {
		return nil, err
	}
	comps := doc["components"].(map[string]any)["schemas"]
	c := jsonschema.NewCompiler()
	defs, err := strictJSON(map[string]any{"$defs": comps})
	if err != nil {
		return nil, err
	}
	if err := c.AddResource("mentor:defs.json", defs); err != nil {
		return nil, err
	}
	out := &contract{}
	for i, op := range server.Operations() {
		pattern := regexp.MustCompile(`[:*]\w+`).ReplaceAllString(regexp.QuoteMeta("/api/v1"+op.Path), `[^/]+`)
		co := contractOp{op: op, pattern: regexp.MustCompile("^" + pattern + "$"), params: strings.Count(op.Path, ":"),
			bodies: map[int]*jsonschema.Schema{}, errors: map[int][]string{}}
		for _, r := range op.Responses {
			if r.Body == nil || r.Body.ContentType != "" || r.Body.Type == nil {
				continue
			}
			path, _ := openAPIPath(op.Path)
			sc := doc["paths"].(map[string]any)[path].(map[string]any)[strings.ToLower(op.Method)].(map[string]any)["responses"].(map[string]any)[strconv.Itoa(r.Status)].(map[string]any)["content"].(map[string]any)["application/json"].(map[string]any)["schema"]
			res, err := strictJSON(sc)
			if err != nil {
				return nil, err
			}
			url := fmt.Sprintf("mentor:op%d-%d.json", i, r.Status)
			if err := c.AddResource(url, res); err != nil {
				return nil, err
			}
			if co.bodies[r.Status], err = c.Compile(url); err != nil {
				return nil, fmt.Errorf("%s %s %d: %w", op.Method, op.Path, r.Status, err)
			}
		}
		for _, e := range op.Errors {
			co.errors[e.Status] = e.Codes
		}
		out.ops = append(out.ops, co)
	}
	return out, nil
}

func openAPIPath(p string) (string, int) {
	n := 0
	return regexp.MustCompile(`[:*](\w+)`).ReplaceAllStringFunc(p, func(m string) string { n++; return "{" + m[1:] + "}" }), n
}

// strictJSON is a schema as the contract test reads it: refs point into mentor:defs.json,
// and an object may hold only the properties it lists, so a field the server sends that
// the document lacks fails the test.
func strictJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	b = bytes.ReplaceAll(b, []byte(`"#/components/schemas/`), []byte(`"mentor:defs.json#/$defs/`))
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	var strict func(any)
	strict = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if _, ok := v["properties"]; ok {
				if _, set := v["additionalProperties"]; !set {
					v["additionalProperties"] = false
				}
			}
			for _, x := range v {
				strict(x)
			}
		case []any:
			for _, x := range v {
				strict(x)
			}
		}
	}
	strict(doc)
	return doc, nil
}

// find is the documented operation for a request, the one with the fewest parameters when
// several match (a fixed segment beats a parameter, as in the router).
func (c *contract) find(method, path string) (contractOp, bool) {
	var best *contractOp
	for i := range c.ops {
		o := &c.ops[i]
		if o.op.Method == method && o.pattern.MatchString(path) && (best == nil || o.params < best.params) {
			best = o
		}
	}
	if best == nil {
		return contractOp{}, false
	}
	return *best, true
}

// check reports, as test errors, where an answer departs from the document.
func (c *contract) check(t testing.TB, method, rawPath string, status int, contentType string, body []byte) {
	t.Helper()
	path, _, _ := strings.Cut(rawPath, "?")
	if !strings.HasPrefix(path, "/api/v1/") {
		return
	}
	o, ok := c.find(method, path)
	if !ok {
		return // no such route: the router's 404 or 405, not an operation's answer
	}
	where := fmt.Sprintf("%s %s (%s %s)", method, path, o.op.Method, o.op.Path)
	documented := slices.ContainsFunc(o.op.Responses, func(r apidoc.Response) bool { return r.Status == status })
	codes, isError := o.errors[status]
	if !documented && !isError {
		t.Errorf("the OpenAPI document is missing an answer: %s answered %d %s, which its entry in server/routes.go does not list; "+
			"add .ok(%d, responseType{}) for a success, or .fail(errs.<Kind>) for an error only this handler gives. Body: %.300s",
			where, status, http.StatusText(status), status, body)
		return
	}
	if !strings.HasPrefix(contentType, "application/json") || len(body) == 0 {
		return
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Errorf("%s: the answer is not JSON: %v", where, err)
		return
	}
	if isError {
		code, _ := doc.(map[string]any)["error"].(map[string]any)["code"].(string)
		if !slices.Contains(codes, code) {
			t.Errorf("the OpenAPI document is missing an error code: %s answered %d with code %q, but documents only %v for that status; "+
				"add .fail(errs.<Kind>) to its entry in server/routes.go", where, status, code, codes)
		}
		return
	}
	if sc := o.bodies[status]; sc != nil {
		if err := sc.Validate(doc); err != nil {
			t.Errorf("the answer of %s does not match its OpenAPI schema (a field the response type lacks, or a type that differs): %v\nbody: %.600s", where, err, body)
		}
	}
}

// TestEveryRouteIsDocumented fails on a route in the table without documentation, and on an
// API route the document leaves out.
func TestEveryRouteIsDocumented(t *testing.T) {
	t.Parallel()
	if missing := server.Undocumented(); len(missing) > 0 {
		t.Errorf("these routes have no OpenAPI documentation: %s.\nGive each its entry's doc column in server/routes.go: "+
			"doc(\"what it does\").ok(200, responseType{}) — with .takes(requestType{}) if it reads a JSON body, .param(name, example, \"what\") "+
			"for each query parameter, and .fail(errs.<Kind>) for an error only its handler gives. The entries around it are examples.",
			strings.Join(missing, ", "))
	}
	doc, err := server.OpenAPI("test")
	if err != nil {
		t.Fatalf("the OpenAPI document does not build: %v", err)
	}
	paths := doc["paths"].(map[string]any)
	for _, rr := range server.RouteRules() {
		p, _ := openAPIPath(strings.TrimPrefix(rr.Path, "/api/v1"))
		item, _ := paths[p].(map[string]any)
		if _, ok := item[strings.ToLower(rr.Method)]; !ok {
			t.Errorf("%s %s is missing from the OpenAPI document", rr.Method, rr.Path)
		}
	}
}

// TestContractCatchesAnUndocumentedField checks the contract test itself: a field the schema
// lacks, a status it does not list and a code it does not list are all refused.
func TestContractCatchesAnUndocumentedField(t *testing.T) {
	t.Parallel()
	c, err := theContract()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, method, path string
		status             int
		body               string
		fails              bool
	}{
		{"as documented", "GET", "/api/v1/version", 200, `{"version":"x","schema_version":9}`, false},
		{"an extra field", "GET", "/api/v1/version", 200, `{"version":"x","schema_version":9,"build":"y"}`, true},
		{"a field of the wrong type", "GET", "/api/v1/version", 200, `{"version":"x","schema_version":"9"}`, true},
		{"a missing field", "GET", "/api/v1/version", 200, `{"version":"x"}`, true},
		{"an undocumented status", "GET", "/api/v1/version", 409, `{"error":{"code":"conflict","message":"m","key":"m","params":[]}}`, true},
		{"an undocumented code", "GET", "/api/v1/projects", 401, `{"error":{"code":"forbidden","message":"m","key":"m","params":[]}}`, true},
		{"a documented error", "GET", "/api/v1/projects", 401, `{"error":{"code":"unauthenticated","message":"m","key":"m","params":[]}}`, false},
		{"a nested extra field", "GET", "/api/v1/projects/p", 200, `{"id":1,"slug":"p","name":"n","description":"","blind_ranking":true,"created_at":"2026-01-01T00:00:00Z","updated_at":"2026-01-01T00:00:00Z","secret":1}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recordingTB{TB: t}
			c.check(rec, tc.method, tc.path, tc.status, "application/json", []byte(tc.body))
			if rec.failed != tc.fails {
				t.Errorf("failed = %v, want %v (%v)", rec.failed, tc.fails, rec.msgs)
			}
		})
	}
}

// recordingTB records errors instead of failing, to test a checker.
type recordingTB struct {
	testing.TB
	failed bool
	msgs   []string
}

func (r *recordingTB) Errorf(format string, args ...any) {
	r.failed = true
	r.msgs = append(r.msgs, fmt.Sprintf(format, args...))
}

func (r *recordingTB) Helper() {}

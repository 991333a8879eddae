// Package apidoc builds Mentor's OpenAPI 3.1 document from the route table and the Go types
// the handlers read and write (server/routes.go), so that the contract cannot drift from the
// code: a field added to a response type is in the document the next time it is served.
//
// It knows nothing about gin or Mentor's handlers: the server describes each route as an
// Operation, and Build reflects the types into JSON Schemas.
package apidoc

import (
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Version is the OpenAPI version the document declares.
const Version = "3.1.0"

// Operation documents one route.
type Operation struct {
	Method string
	Path   string // as gin spells it: /projects/:project/personas
	// Summary says in one line what the route does; Description may say more.
	Summary, Description string
	Tag                  string // the group the route is listed under
	// Permission is what the caller needs; Public routes need no sign-in.
	Permission string
	Public     bool
	Request    *Body // nil: the route reads no body
	Query      []Param
	Responses  []Response      // the success answers
	Errors     []ErrorResponse // the error answers, by status
}

// Body is a request or response body.
type Body struct {
	ContentType string       // application/json when empty
	Type        reflect.Type // the Go type the handler decodes or encodes; nil for a body with no schema
	Schema      Schema       // used instead of Type for bodies that are not JSON
}

// Param is a query parameter.
type Param struct {
	Name        string
	Type        reflect.Type // string, an integer, a float, a bool, or a slice of these (the parameter repeats)
	Description string
	Required    bool
}

// Response is one success answer.
type Response struct {
	Status      int
	Description string
	Body        *Body // nil: no body (204, 101)
	Headers     map[string]string
}

// ErrorResponse is one error status with the codes it carries and what its field names.
type ErrorResponse struct {
	Status int
	Codes  []string
	// Field says what the error's field names for this route (a JSON path in the body, a
	// query parameter); empty when the errors of this status name none.
	Field string
}

// Info is the document's title, version and description.
type Info struct {
	Title, Version, Description string
}

// Document is the built document: a JSON object.
type Document = map[string]any

// Build returns the OpenAPI document describing ops. errorType is the Go type of every error
// body; enums gives the values of string types that have a fixed set (a role, a kind).
func Build(info Info, ops []Operation, errorType reflect.Type, enums map[reflect.Type][]string) (Document, error) {
	s := newSchemas(enums)
	errorRef := s.of(errorType)
	paths := map[string]any{}
	ids := map[string]string{}
	for _, op := range ops {
		if op.Summary == "" || len(op.Responses) == 0 {
			return nil, fmt.Errorf("%s %s: undocumented (no summary or no success response)", op.Method, op.Path)
		}
		path, params := openAPIPath(op.Path)
		item, _ := paths[path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[path] = item
		}
		method := strings.ToLower(op.Method)
		if _, dup := item[method]; dup {
			return nil, fmt.Errorf("%s %s: documented twice", op.Method, op.Path)
		}
		id := OperationID(op.Method, op.Path)
		if other, dup := ids[id]; dup {
			return nil, fmt.Errorf("%s %s: operation id %s is also %s's", op.Method, op.Path, id, other)
		}
		ids[id] = op.Method + " " + op.Path
		o := map[string]any{"operationId": id, "summary": op.Summary, "tags": []any{op.Tag}}
		desc := op.Description
		if op.Permission != "" {
			desc = strings.TrimSpace(desc + "\n\nNeeds the permission `" + op.Permission + "`.")
			o["x-mentor-permission"] = op.Permission // for programs, and the UI's page, which names it in Chinese
		}
		if desc != "" {
			o["description"] = desc
		}
		if op.Public {
			o["security"] = []any{} // no sign-in
		}
		var parameters []any
		for _, p := range params {
			parameters = append(parameters, map[string]any{"name": p, "in": "path", "required": true, "schema": Schema{"type": "string"}})
		}
		for _, q := range op.Query {
			p := map[string]any{"name": q.Name, "in": "query", "schema": s.nonNull(q.Type)}
			if q.Description != "" {
				p["description"] = q.Description
			}
			if q.Required {
				p["required"] = true
			}
			if q.Type.Kind() == reflect.Slice {
				p["explode"] = true
			}
			parameters = append(parameters, p)
		}
		if len(parameters) > 0 {
			o["parameters"] = parameters
		}
		if op.Request != nil {
			o["requestBody"] = map[string]any{"required": true, "content": content(s, op.Request)}
		}
		responses := map[string]any{}
		for _, r := range op.Responses {
			res := map[string]any{"description": r.Description}
			if res["description"] == "" {
				res["description"] = http.StatusText(r.Status)
			}
			if r.Body != nil {
				res["content"] = content(s, r.Body)
			}
			if len(r.Headers) > 0 {
				h := map[string]any{}
				for name, d := range r.Headers {
					h[name] = map[string]any{"description": d, "schema": Schema{"type": "string"}}
				}
				res["headers"] = h
			}
			responses[strconv.Itoa(r.Status)] = res
		}
		for _, e := range op.Errors {
			key := strconv.Itoa(e.Status)
			if _, dup := responses[key]; dup {
				return nil, fmt.Errorf("%s %s: status %d is both a success and an error", op.Method, op.Path, e.Status)
			}
			responses[key] = map[string]any{
				"description": errorDescription(e),
				"content":     map[string]any{"application/json": map[string]any{"schema": errorRef}},
				"x-mentor-codes": func() []any {
					out := make([]any, len(e.Codes))
					for i, c := range e.Codes {
						out[i] = c
					}
					return out
				}(),
			}
		}
		o["responses"] = responses
		item[method] = o
	}
	var tags []any
	seen := map[string]bool{}
	for _, op := range ops {
		if !seen[op.Tag] {
			seen[op.Tag] = true
			tags = append(tags, map[string]any{"name": op.Tag})
		}
	}
	doc := Document{
		"openapi":           Version,
		"jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
		"info":              map[string]any{"title": info.Title, "version": info.Version, "description": info.Description},
		"servers":           []any{map[string]any{"url": "/api/v1"}},
		"tags":              tags,
		"paths":             paths,
		"security":          []any{map[string]any{"session": []any{}}, map[string]any{"token": []any{}}},
		"components": map[string]any{
			"schemas": s.components,
			"securitySchemes": map[string]any{
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": "mentor_session",
					"description": "The browser's session, from POST /session. Writes also need the X-CSRF-Token header with the session's csrf_token."},
				"token": map[string]any{"type": "http", "scheme": "bearer",
					"description": "An API token from POST /tokens, as `Authorization: Bearer <secret>`; its scopes limit what it may do."},
			},
		},
	}
	return doc, nil
}

func content(s *schemas, b *Body) map[string]any {
	ct := b.ContentType
	if ct == "" {
		ct = "application/json"
	}
	sc := b.Schema
	if sc == nil && b.Type != nil {
		sc = s.of(b.Type)
		if b.Type.Kind() == reflect.Struct && ct == "application/json" {
			// A request body is one object, never null, and the decoder refuses unknown
			// fields; the response side is described the same way for symmetry.
			sc = s.nonNull(b.Type)
		}
	}
	if sc == nil {
		sc = Schema{}
	}
	return map[string]any{ct: map[string]any{"schema": sc}}
}

func errorDescription(e ErrorResponse) string {
	codes := make([]string, len(e.Codes))
	for i, c := range e.Codes {
		codes[i] = "`" + c + "`"
	}
	d := http.StatusText(e.Status) + ": code " + strings.Join(codes, " or ")
	if e.Field != "" {
		d += "; field names " + e.Field
	}
	return d + "."
}

var ginParam = regexp.MustCompile(`[:*](\w+)`)

// openAPIPath turns /projects/:project into /projects/{project} and names its parameters.
func openAPIPath(p string) (string, []string) {
	var names []string
	out := ginParam.ReplaceAllStringFunc(p, func(m string) string {
		names = append(names, m[1:])
		return "{" + m[1:] + "}"
	})
	return out, names
}

// OperationID names an operation after its method and path, so that a generated client's
// method names are stable and readable: GET /projects/:project/personas is
// getProjectsProjectPersonas.
func OperationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for part := range strings.FieldsFuncSeq(path, func(r rune) bool { return r == '/' || r == '-' || r == '_' || r == '.' }) {
		part = strings.TrimLeft(part, ":*")
		b.WriteString(upperFirst(part))
	}
	return b.String()
}

// Paths lists the document's operations as "METHOD /path" with gin's spelling of
// parameters, sorted, for tests that compare it with the routes the server registers.
func Paths(ops []Operation) []string {
	var out []string
	for _, op := range ops {
		out = append(out, op.Method+" "+op.Path)
	}
	sort.Strings(out)
	return slices.Compact(out)
}

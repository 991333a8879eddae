package server

import (
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/apidoc"
	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
)

// apiDoc is one route's entry in the OpenAPI document: what it does, what it reads and
// what it answers. It is the fifth column of the route table (routes.go), built by doc(…)
// and its methods, so documenting a route is part of adding it:
//
//	doc("List the projects").ok(200, projectList{})
//	doc("Create a persona").takes(personaInput{}).ok(201, prompts.Persona{}).fails(errs.Conflict)
//
// The error answers every route can give (401, 403, 404, 422, 500, 503, and 400/413/415 for
// a body) are derived from its rule and method; fails adds the ones only its handler gives.
type apiDoc struct {
	summary, description string
	request              *apidoc.Body
	query                []apidoc.Param
	responses            []apidoc.Response
	fails                []errs.Kind
}

// doc starts a route's documentation with its one-line summary.
func doc(summary string) apiDoc { return apiDoc{summary: summary} }

// about adds a longer description.
func (a apiDoc) about(description string) apiDoc {
	a.description = description
	return a
}

// takes says the route reads a JSON body of body's type.
func (a apiDoc) takes(body any) apiDoc {
	a.request = &apidoc.Body{Type: reflect.TypeOf(body)}
	return a
}

// takesFiles says the route reads a multipart upload of files in the field "files".
func (a apiDoc) takesFiles() apiDoc {
	a.request = &apidoc.Body{ContentType: "multipart/form-data", Schema: apidoc.Schema{
		"type": "object", "required": []any{"files"},
		"properties": apidoc.Schema{"files": apidoc.Schema{"type": "array",
			"items": apidoc.Schema{"type": "string", "contentMediaType": "application/octet-stream"}}},
	}}
	return a
}

// param adds a query parameter; example is a value of its Go type.
func (a apiDoc) param(name string, example any, description string) apiDoc {
	a.query = append(a.query, apidoc.Param{Name: name, Type: reflect.TypeOf(example), Description: description})
	return a
}

// params adds the fields of a struct as query parameters, by their JSON names.
func (a apiDoc) params(v any) apiDoc {
	t := reflect.TypeOf(v)
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		a.query = append(a.query, apidoc.Param{Name: name, Type: f.Type, Description: f.Tag.Get("doc")})
	}
	return a
}

// ok adds a success answer with a JSON body of body's type; nil for none (204).
func (a apiDoc) ok(status int, body any) apiDoc {
	r := apidoc.Response{Status: status}
	if body != nil {
		r.Body = &apidoc.Body{Type: reflect.TypeOf(body)}
	}
	a.responses = append(a.responses, r)
	return a
}

// okAs adds a success answer whose body is not JSON.
func (a apiDoc) okAs(status int, contentType, description string, headers map[string]string) apiDoc {
	a.responses = append(a.responses, apidoc.Response{Status: status, Description: description, Headers: headers,
		Body: &apidoc.Body{ContentType: contentType, Schema: apidoc.Schema{"type": "string"}}})
	return a
}

// switches documents the websocket upgrade.
func (a apiDoc) switches(description string) apiDoc {
	a.responses = append(a.responses, apidoc.Response{Status: http.StatusSwitchingProtocols, Description: description})
	return a
}

// fail adds error kinds that only this route's handler answers with.
func (a apiDoc) fail(kinds ...errs.Kind) apiDoc {
	a.fails = append(a.fails, kinds...)
	return a
}

// documented reports whether the entry says enough to be published.
func (a apiDoc) documented() bool { return a.summary != "" && len(a.responses) > 0 }

// tags groups the document's operations; the first path segment names the group.
func tagOf(path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	switch seg {
	case "session", "tokens":
		return "session"
	case "users", "audit":
		return "admin"
	case "version", "openapi.json":
		return "meta"
	case "personas":
		return "prompts"
	case "corpora", "search":
		return "knowledge"
	case "ws", "conversations", "turns", "diff":
		return "training"
	case "reworks", "appeals", "batches": // quality control (issue 14)
		return "quality"
	case "judgments", "fixes": // a judgment's revisions (issue 14)
		return "quality"
	case "campaigns", "work", "claims", "bases": // campaigns (issue 13): set-up, work and bases
		// Quality control (issue 14): a campaign's review, batches and QC figures.
		for _, sub := range []string{"/review", "/batches", "/qc", "/appeals"} {
			if strings.Contains(path, sub) {
				return "quality"
			}
		}
		return "campaigns"
	case "projects":
		if strings.Contains(path, "/review-reasons") { // quality control (issue 14)
			return "quality"
		}
		for _, sub := range []string{"personas", "corpora", "exports", "webhooks", "campaigns", "bases", "people"} {
			if strings.Contains(path, "/"+sub) {
				return map[string]string{"personas": "prompts", "corpora": "knowledge", "exports": "exports", "webhooks": "webhooks",
					"campaigns": "campaigns", "bases": "campaigns", "people": "campaigns"}[sub]
			}
		}
	}
	return seg
}

// errorFields says what an error's field names, per kind that names one.
const (
	bodyField  = "the JSON path in the body that was wrong (name, configs[0].k)"
	queryField = "the query parameter that was wrong"
)

// operation turns a table row into the document's operation, adding the error answers its
// rule and method imply.
func (rt route) operation() apidoc.Operation {
	op := apidoc.Operation{Method: rt.method, Path: rt.path, Summary: rt.doc.summary, Description: rt.doc.description,
		Tag: tagOf(rt.path), Request: rt.doc.request, Query: rt.doc.query, Responses: rt.doc.responses}
	if rt.rule.perm != public {
		op.Permission = string(rt.rule.perm)
	} else {
		op.Public = true
	}
	kinds := []errs.Kind{errs.Internal, errs.Unavailable, errs.Unprocessable} // 422: a NUL in any parameter
	fields := map[errs.Kind]string{}
	if rt.rule.perm != public {
		kinds = append(kinds, errs.Unauthenticated, errs.Forbidden)
	}
	if rt.method != http.MethodGet {
		kinds = append(kinds, errs.Forbidden) // cross-origin writes, and a browser write without its CSRF header
	}
	if rt.rule.target != noProject || strings.Contains(rt.path, ":") {
		kinds = append(kinds, errs.NotFound)
	}
	if rt.doc.request != nil {
		kinds = append(kinds, errs.Invalid, errs.TooLarge)
		fields[errs.Invalid], fields[errs.Unprocessable] = bodyField, bodyField
	}
	if len(rt.doc.query) > 0 {
		kinds = append(kinds, errs.Invalid)
		if fields[errs.Invalid] == "" {
			fields[errs.Invalid] = queryField
		} else {
			fields[errs.Invalid] += ", or " + queryField
		}
	}
	if fields[errs.Unprocessable] == "" {
		fields[errs.Unprocessable] = "the parameter that was wrong"
	}
	kinds = append(kinds, rt.doc.fails...)
	byStatus := map[int][]string{}
	for _, k := range kinds {
		s := statusOf[k]
		if !slices.Contains(byStatus[s], string(k)) {
			byStatus[s] = append(byStatus[s], string(k))
		}
	}
	if rt.method != http.MethodGet && rt.doc.request != nil {
		byStatus[http.StatusUnsupportedMediaType] = []string{string(errs.Invalid)} // a body that is not JSON
	}
	for _, s := range sortedKeys(byStatus) {
		e := apidoc.ErrorResponse{Status: s, Codes: byStatus[s]}
		for _, c := range e.Codes {
			if f := fields[errs.Kind(c)]; f != "" {
				e.Field = f
			}
		}
		op.Errors = append(op.Errors, e)
	}
	return op
}

func sortedKeys(m map[int][]string) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Operations lists every API route as the OpenAPI document describes it, with paths under
// /api/v1 as the table spells them.
func Operations() []apidoc.Operation {
	var out []apidoc.Operation
	for _, rt := range apiRoutes(Deps{}) {
		out = append(out, rt.operation())
	}
	return out
}

// Undocumented names the routes whose table entry has no summary or no success answer.
func Undocumented() []string {
	var out []string
	for _, rt := range apiRoutes(Deps{}) {
		if !rt.doc.documented() {
			out = append(out, rt.method+" /api/v1"+rt.path)
		}
	}
	return out
}

// OpenAPI builds the document from the route table and the handlers' types.
func OpenAPI(version string) (apidoc.Document, error) {
	kinds := make([]string, 0, len(statusOf))
	for k := range statusOf {
		kinds = append(kinds, string(k))
	}
	slices.Sort(kinds)
	roles := make([]string, len(auth.Roles))
	for i, r := range auth.Roles {
		roles[i] = string(r)
	}
	if version == "" {
		version = "dev"
	}
	return apidoc.Build(apidoc.Info{Title: "Mentor API", Version: version,
		Description: "Mentor's HTTP API, generated from its route table (server/routes.go) and the types its handlers " +
			"read and write. Errors are always an ErrorBody; `code` is for programs, `message` for people " +
			"(in the language of Accept-Language or ?lang=), and `field` names what was wrong.",
	}, Operations(), reflect.TypeFor[errorBody](), map[reflect.Type][]string{
		reflect.TypeFor[errs.Kind](): kinds,
		reflect.TypeFor[auth.Role](): roles,
		// Campaigns (issue 13): their states and task kinds.
		reflect.TypeFor[campaign.State]():    stringsOf(campaign.States),
		reflect.TypeFor[campaign.TaskKind](): stringsOf(campaign.TaskKinds),
	})
}

// stringsOf spells a string type's values as the document's enum.
func stringsOf[T ~string](values []T) []string {
	out := make([]string, len(values))
	for i, v := range values {
		out[i] = string(v)
	}
	return out
}

// handleOpenAPI serves the document, built once: it depends only on the code.
func handleOpenAPI(version string) apiFunc {
	build := sync.OnceValues(func() ([]byte, error) {
		d, err := OpenAPI(version)
		if err != nil {
			return nil, err
		}
		return json.MarshalIndent(d, "", "  ")
	})
	return func(c *gin.Context) error {
		b, err := build()
		if err != nil {
			return errs.Wrap(errs.Internal, err, "build the OpenAPI document")
		}
		c.Data(http.StatusOK, "application/json; charset=utf-8", b)
		return nil
	}
}

package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/errs"
)

// maxJSONBody bounds API request bodies; prompt templates are the largest thing sent.
const maxJSONBody = 1 << 20

// bindJSON decodes the request body into v, refusing unknown fields, trailing data,
// oversized bodies and NUL characters (rejectNUL), with an error that says what was wrong
// and where.
func bindJSON(c *gin.Context, v any) error {
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxJSONBody))
	if err != nil {
		return jsonError(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errs.E(errs.Invalid, "the body must hold exactly one JSON object")
	}
	return rejectNUL(raw)
}

// nulError is what every refused NUL says, wherever it was sent, naming where.
func nulError(field string) error {
	e := errs.E(errs.Unprocessable, "must not contain the NUL character (\\u0000)")
	e.Field = field
	return e
}

// nulKeyError is nulError for an object key.
func nulKeyError(field string) error {
	e := errs.E(errs.Unprocessable, "the key must not contain the NUL character (\\u0000)")
	e.Field = field
	return e
}

// rejectNUL refuses a JSON document with a NUL character (\u0000) in any string, key or
// value, naming one as a JSON path (the first, with keys in sorted order): comment,
// edit.content, ratings.41.accuracy, plan[2].model. PostgreSQL cannot store NUL in text or
// jsonb, so without this such a value reaches the database and fails there as an internal
// error; no text a person writes needs one. Every JSON body passes through here (bindJSON), and so must every
// websocket message. raw must be valid JSON; invalid JSON is left to the decoder that
// reports it.
func rejectNUL(raw []byte) error {
	// A NUL can only arrive escaped: JSON does not allow a raw control character in a
	// string. Most documents have no escape at all and cost one scan.
	if !bytes.Contains(raw, []byte(`\u0000`)) {
		return nil
	}
	var doc any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil // JSON the decoder has already refused
	}
	return findNUL(doc, "")
}

// findNUL returns nulError for the first string in v holding a NUL, by its path below at.
// Object keys are visited in order, so the answer does not depend on map iteration.
func findNUL(v any, at string) error {
	switch v := v.(type) {
	case string:
		if strings.ContainsRune(v, 0) {
			return nulError(at)
		}
	case []any:
		for i, x := range v {
			if err := findNUL(x, fmt.Sprintf("%s[%d]", at, i)); err != nil {
				return err
			}
		}
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(v)) {
			path := at + pathKey(k, at == "")
			if strings.ContainsRune(k, 0) {
				return nulKeyError(path)
			}
			if err := findNUL(v[k], path); err != nil {
				return err
			}
		}
	}
	return nil
}

// pathKey is one object key of a JSON path: .name, or ["name"] when the key would make the
// path ambiguous (a dot, a bracket, a quote, a control character).
func pathKey(key string, first bool) string {
	if key != "" && !strings.ContainsAny(key, ".[]\"\\") && !strings.ContainsFunc(key, unicode.IsControl) {
		if first {
			return key
		}
		return "." + key
	}
	q, _ := json.Marshal(key)
	return "[" + string(q) + "]"
}

// rejectNULParams refuses a request whose path parameters or query string hold a NUL
// character, naming the parameter, before any handler or access check can send the value
// to the database. JSON bodies are checked by bindJSON.
func rejectNULParams(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		for _, p := range c.Params {
			if strings.ContainsRune(p.Value, 0) {
				writeError(c, logger, nulError(p.Key))
				return
			}
		}
		for name, values := range c.Request.URL.Query() {
			for _, v := range values {
				if strings.ContainsRune(name, 0) || strings.ContainsRune(v, 0) {
					writeError(c, logger, nulError(pathKey(name, true)))
					return
				}
			}
		}
		c.Next()
	}
}

func jsonError(err error) error {
	var (
		syntax    *json.SyntaxError
		typeErr   *json.UnmarshalTypeError
		tooLarge  *http.MaxBytesError
		unknownFx = "json: unknown field "
	)
	switch {
	case errors.Is(err, io.EOF):
		return errs.E(errs.Invalid, "the body is empty: send a JSON object")
	case errors.As(err, &tooLarge):
		return errs.E(errs.TooLarge, "the body is over %d bytes", tooLarge.Limit)
	case errors.As(err, &syntax):
		return errs.E(errs.Invalid, "malformed JSON at byte %d: %s", syntax.Offset, syntax.Error())
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			return errs.E(errs.Invalid, "the body must be a JSON object, not %s", typeErr.Value)
		}
		return errs.Field(field, "must be %s, got %s", jsonTypeName(typeErr.Type.Kind().String()), typeErr.Value)
	case strings.HasPrefix(err.Error(), unknownFx):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), unknownFx))
		return errs.Field(name, "unknown field")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errs.E(errs.Invalid, "malformed JSON: the body ends too early")
	}
	return errs.E(errs.Invalid, "malformed JSON: %v", err)
}

func jsonTypeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "a list"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}

// idParam reads a positive integer path parameter.
func idParam(c *gin.Context, name string) (int64, error) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, errs.E(errs.NotFound, "no %s %q", name, c.Param(name))
	}
	return id, nil
}

// sameOriginWrites refuses state-changing API requests that a browser could have sent from
// another site: they must be JSON (a cross-site form cannot send that without a CORS
// preflight, which we never grant) and, when the browser names an Origin, come from ours.
func sameOriginWrites(logger *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		if origin := c.GetHeader("Origin"); origin != "" && !sameOrigin(origin, c.Request) {
			writeError(c, logger, errs.E(errs.Forbidden, "cross-origin request from %s refused", origin))
			return
		}
		// Multipart is for file uploads; a form could send it cross-site, but browser writes
		// also need the session's CSRF header, which no other site can read.
		if ct := c.ContentType(); c.Request.ContentLength != 0 && ct != "application/json" && ct != "multipart/form-data" {
			writeErrorStatus(c, logger, http.StatusUnsupportedMediaType,
				errs.E(errs.Invalid, "Content-Type must be application/json (or multipart/form-data for uploads)"))
			return
		}
		c.Next()
	}
}

func sameOrigin(origin string, r *http.Request) bool {
	_, hostPart, ok := strings.Cut(origin, "://")
	return ok && strings.EqualFold(hostPart, r.Host)
}

// queryInt sets *dst from the query parameter name when it is given, and names the
// parameter when it is not a whole number.
func queryInt(c *gin.Context, name string, dst *int) error {
	if v := c.Query(name); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errs.Field(name, "%q is not a whole number", v)
		}
		*dst = n
	}
	return nil
}

// queryFloat is queryInt for numbers.
func queryFloat(c *gin.Context, name string, dst *float64) error {
	if v := c.Query(name); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errs.Field(name, "%q is not a number", v)
		}
		*dst = n
	}
	return nil
}

package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/errs"
)

// maxJSONBody bounds API request bodies; prompt templates are the largest thing sent.
const maxJSONBody = 1 << 20

// bindJSON decodes the request body into v, refusing unknown fields, trailing data and
// oversized bodies, with an error that says what was wrong and where.
func bindJSON(c *gin.Context, v any) error {
	body := http.MaxBytesReader(c.Writer, c.Request.Body, maxJSONBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errs.E(errs.Invalid, "the body must hold exactly one JSON object")
	}
	return nil
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
func sameOriginWrites() gin.HandlerFunc {
	return func(c *gin.Context) {
		switch c.Request.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
			c.Next()
			return
		}
		if origin := c.GetHeader("Origin"); origin != "" && !sameOrigin(origin, c.Request) {
			c.AbortWithStatusJSON(http.StatusForbidden, errorBody{Error: errorDetail{Code: errs.Forbidden,
				Message: fmt.Sprintf("cross-origin request from %s refused", origin)}})
			return
		}
		// Multipart is for file uploads; a form could send it cross-site, but browser writes
		// also need the session's CSRF header, which no other site can read.
		if ct := c.ContentType(); c.Request.ContentLength != 0 && ct != "application/json" && ct != "multipart/form-data" {
			c.AbortWithStatusJSON(http.StatusUnsupportedMediaType, errorBody{Error: errorDetail{Code: errs.Invalid,
				Message: "Content-Type must be application/json (or multipart/form-data for uploads)"}})
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

package server

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/errs"
)

var statusOf = map[errs.Kind]int{
	errs.Internal:        http.StatusInternalServerError,
	errs.Invalid:         http.StatusBadRequest,
	errs.Unprocessable:   http.StatusUnprocessableEntity,
	errs.NotFound:        http.StatusNotFound,
	errs.Conflict:        http.StatusConflict,
	errs.Unauthenticated: http.StatusUnauthorized,
	errs.Forbidden:       http.StatusForbidden,
	errs.TooLarge:        http.StatusRequestEntityTooLarge,
	errs.RateLimited:     http.StatusTooManyRequests,
	errs.Unavailable:     http.StatusServiceUnavailable,
	errs.NoSuchMethod:    http.StatusMethodNotAllowed,
}

// retryAfterSeconds is what a 503 tells the client to wait. The pool reconnects on the
// next request after the database is back, so a short wait costs nothing; 5 s is also
// the connect timeout (db.connectTimeout), the longest a retry can hang on a dead server.
const retryAfterSeconds = 5

// errorBody is the JSON every failed API call returns.
type errorBody struct {
	Error errorDetail `json:"error"`
}

// errorDetail is one error as clients see it. Code and Field are for programs; Message is
// for people, in the language of the request (see requestLang); Key and Params identify the
// message whatever its language: Key is its English format, and Params its arguments as
// text, so a client may render the message from its own catalog.
type errorDetail struct {
	Code    errs.Kind `json:"code"`
	Message string    `json:"message"`
	Field   string    `json:"field,omitempty"`
	Key     string    `json:"key"`
	Params  []string  `json:"params"`
}

// writeError is the one place where errors become HTTP responses. Internal errors are
// logged in full and shown to the client only as a generic message.
func writeError(c *gin.Context, logger *slog.Logger, err error) {
	writeErrorStatus(c, logger, statusOf[errs.KindOf(err)], err)
}

// writeErrorStatus is writeError with a status other than its kind's, for the few answers
// HTTP has a more precise status for (415 for a body that is not JSON).
func writeErrorStatus(c *gin.Context, logger *slog.Logger, status int, err error) {
	kind := errs.KindOf(err)
	if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
		// The client went away; nobody is left to read a response.
		c.Abort()
		return
	}
	lang := requestLang(c.Request)
	d := errs.Describe(err, lang)
	switch kind {
	case errs.Internal:
		logger.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method,
			"route", c.FullPath(), "err", err)
	case errs.Unavailable:
		// A dependency is down: operators need the cause, which the client never sees.
		logger.WarnContext(c.Request.Context(), "dependency unavailable", "route", c.FullPath(), "err", err)
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	c.Header("Content-Language", lang)
	c.Writer.Header().Add("Vary", "Accept-Language")
	c.AbortWithStatusJSON(status, errorBody{Error: errorDetail{Code: kind, Message: d.Message, Field: d.Field, Key: d.Key, Params: d.Params}})
}

// requestLang is the language to answer r in: a ?lang= parameter when it names one we
// speak (a websocket cannot set headers from a browser, and the interface's language may
// differ from the browser's), else the first of Accept-Language's languages that we speak,
// else Chinese, as most of our users are.
func requestLang(r *http.Request) string {
	if lang, ok := queryLang(r.URL.Query().Get("lang")); ok {
		return lang
	}
	return acceptLang(r.Header.Get("Accept-Language"))
}

// queryLang reads a ?lang= value: "zh-CN", "zh" or any zh-… tag means Chinese, "en" or any
// en-… tag English; anything else is not a choice.
func queryLang(v string) (lang string, ok bool) {
	tag := strings.ToLower(strings.TrimSpace(v))
	base, _, _ := strings.Cut(tag, "-")
	switch base {
	case "zh":
		return errs.Chinese, true
	case "en":
		return errs.English, true
	}
	return "", false
}

// acceptLang picks from an Accept-Language header (RFC 9110 §12.5.4): the spoken language
// with the highest weight, the earlier one on a tie; Chinese when none is spoken.
func acceptLang(header string) string {
	type choice struct {
		lang   string
		weight float64
	}
	var choices []choice
	for part := range strings.SplitSeq(header, ",") {
		tag, params, _ := strings.Cut(part, ";")
		lang, ok := queryLang(tag)
		if !ok {
			continue
		}
		weight := 1.0
		if q, found := strings.CutPrefix(strings.TrimSpace(params), "q="); found {
			w, err := strconv.ParseFloat(strings.TrimSpace(q), 64)
			if err != nil {
				continue // a malformed weight: ignore the language rather than guess
			}
			weight = w
		}
		if weight > 0 {
			choices = append(choices, choice{lang, weight})
		}
	}
	if len(choices) == 0 {
		return errs.Chinese
	}
	slices.SortStableFunc(choices, func(a, b choice) int { return cmp.Compare(b.weight, a.weight) })
	return choices[0].lang
}

package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"

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
}

// retryAfterSeconds is what a 503 tells the client to wait. The pool reconnects on the
// next request after the database is back, so a short wait costs nothing; 5 s is also
// the connect timeout (db.connectTimeout), the longest a retry can hang on a dead server.
const retryAfterSeconds = 5

// errorBody is the JSON every failed API call returns.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    errs.Kind `json:"code"`
	Message string    `json:"message"`
	Field   string    `json:"field,omitempty"`
}

// writeError is the one place where errors become HTTP responses. Internal errors are
// logged in full and shown to the client only as a generic message.
func writeError(c *gin.Context, logger *slog.Logger, err error) {
	kind := errs.KindOf(err)
	if errors.Is(err, context.Canceled) && c.Request.Context().Err() != nil {
		// The client went away; nobody is left to read a response.
		c.Abort()
		return
	}
	detail := errorDetail{Code: kind, Message: "internal error"}
	var e *errs.Error
	if kind != errs.Internal && errors.As(err, &e) {
		detail.Message, detail.Field = e.Message, e.Field
		if kind == errs.Unavailable {
			// A dependency is down: operators need the cause, which the client never sees.
			logger.WarnContext(c.Request.Context(), "dependency unavailable", "route", c.FullPath(), "err", err)
			c.Header("Retry-After", strconv.Itoa(retryAfterSeconds))
		}
	} else {
		logger.ErrorContext(c.Request.Context(), "request failed", "method", c.Request.Method,
			"route", c.FullPath(), "err", err)
	}
	c.AbortWithStatusJSON(statusOf[kind], errorBody{Error: detail})
}

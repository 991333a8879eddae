// Package errs defines the error kinds every Mentor package reports, so that the server can
// turn any error into an HTTP status and a message in one place (server/errors.go).
package errs

import (
	"errors"
	"fmt"
)

// Kind classifies an error by what the caller should do about it.
type Kind string

// The kinds. Their string values appear in API responses as "code".
const (
	Internal        Kind = "internal"        // a bug or an outage: the caller cannot fix it
	Invalid         Kind = "invalid"         // the request is malformed or a value is out of range
	Unprocessable   Kind = "unprocessable"   // well-formed, but inconsistent with current state
	NotFound        Kind = "not_found"       // no such thing, or not visible to this caller
	Conflict        Kind = "conflict"        // clashes with something stored (a reused key, a duplicate)
	Unauthenticated Kind = "unauthenticated" // no valid session or token
	Forbidden       Kind = "forbidden"       // authenticated, but not allowed
	TooLarge        Kind = "too_large"       // the body or file is over a limit
	RateLimited     Kind = "rate_limited"    // too many requests: retry later
	Unavailable     Kind = "unavailable"     // a dependency (database, model endpoint) is not reachable
)

// Error is an error with a kind, a message safe to show the user, and optionally the field
// (a JSON path, flag or file position) that was wrong.
type Error struct {
	Kind    Kind
	Field   string
	Message string
	Err     error // the cause, for logs; never shown to users
}

func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		if msg == "" {
			return e.Err.Error()
		}
		return msg + ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// E returns an error of kind k with a formatted, user-safe message.
func E(k Kind, format string, args ...any) *Error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// Field returns an Invalid error naming the field that was wrong.
func Field(field, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Message returns the part of err that is safe to show a user: the message of the first
// *Error in its chain (with its field), or "internal error".
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) && e.Kind != Internal {
		if e.Field != "" {
			return e.Field + ": " + e.Message
		}
		return e.Message
	}
	return "internal error"
}

// Package errs defines the error kinds every Mentor package reports, so that the server can
// turn any error into an HTTP status and a message in one place (server/errors.go).
//
// A message is built from an English format and its arguments, and both are kept: the format
// is the message's stable key, the arguments its parameters, and Localize renders the same
// message from a catalog in the user's language (catalog_zh.go).
package errs

import "errors"

// Kind classifies an error by what the caller should do about it.
type Kind string

// The kinds. Their string values appear in API responses as "code".
const (
	Internal        Kind = "internal"           // a bug or an outage: the caller cannot fix it
	Invalid         Kind = "invalid"            // the request is malformed or a value is out of range
	Unprocessable   Kind = "unprocessable"      // well-formed, but inconsistent with current state
	NotFound        Kind = "not_found"          // no such thing, or not visible to this caller
	Conflict        Kind = "conflict"           // clashes with something stored (a reused key, a duplicate)
	Unauthenticated Kind = "unauthenticated"    // no valid session or token
	Forbidden       Kind = "forbidden"          // authenticated, but not allowed
	TooLarge        Kind = "too_large"          // the body or file is over a limit
	RateLimited     Kind = "rate_limited"       // too many requests: retry later
	Unavailable     Kind = "unavailable"        // a dependency (database, model endpoint) is not reachable
	NoSuchMethod    Kind = "method_not_allowed" // the route exists, but not for this HTTP method
)

// Error is an error with a kind, a message safe to show the user, and optionally the field
// (a JSON path, flag or file position) that was wrong.
type Error struct {
	Kind  Kind
	Field string
	// Message is the English text. Errors built by E, Field or Wrap also keep the Format and
	// Args it was made from, which Localize needs; an Error built by hand without a Format
	// can only ever be shown in English (a test refuses such literals).
	Message string
	Format  string // the English format: the message's key in every catalog
	Args    []any
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

// E returns an error of kind k with a formatted, user-safe message. An argument that is an
// error carrying an *Error prints as its user-safe message (see Message), never with its
// cause, and is translated along with the error that holds it.
func E(k Kind, format string, args ...any) *Error {
	return newError(k, "", nil, format, args)
}

// Field returns an Invalid error naming the field that was wrong.
func Field(field, format string, args ...any) *Error {
	return newError(Invalid, field, nil, format, args)
}

// Wrap is E with a cause: the cause is logged, never shown, and errors.Is and errors.As see
// it.
func Wrap(k Kind, cause error, format string, args ...any) *Error {
	return newError(k, "", cause, format, args)
}

func newError(k Kind, field string, cause error, format string, args []any) *Error {
	return &Error{Kind: k, Field: field, Format: format, Args: args, Err: cause,
		Message: render(English, format, args)}
}

// AtField returns err with its field put where the caller's request has it: rename gets
// the field the error names and returns the request's own name for it ("k" inside a list
// of configurations is "configs[2].k"). An error that names no field, or is not an *Error,
// is returned as it is; err itself is never changed, since errors can be shared.
func AtField(err error, rename func(field string) string) error {
	var e *Error
	if !errors.As(err, &e) || e.Field == "" {
		return err
	}
	moved := *e // the same message and translation, at another place
	moved.Field = rename(e.Field)
	return &moved
}

// Phrase is a translatable part of a message, such as the "version 3 of persona 7" in
// "version 3 of persona 7: not found": an argument of E, Field or Wrap that is a Phrase is
// rendered in the language of the whole message.
type Phrase struct {
	Format string
	Args   []any
}

// P returns the phrase made of format and args.
func P(format string, args ...any) Phrase { return Phrase{Format: format, Args: args} }

// String renders the phrase in English.
func (p Phrase) String() string { return render(English, p.Format, p.Args) }

// KindOf returns the kind of the first *Error in err's chain, or Internal.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Internal
}

// Message returns the part of err that is safe to show a user, in English: the message of
// the first *Error in its chain (with its field), or "internal error".
func Message(err error) string { return Localize(err, English) }

// internalError is what a user is told about an error that is not theirs to fix.
const internalError = "internal error"

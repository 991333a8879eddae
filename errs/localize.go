package errs

import (
	"errors"
	"fmt"
)

// The languages messages come in; package locale lists the same ones for the interface.
// English is what the code says, so it needs no catalog.
const (
	English = "en"
	Chinese = "zh-CN"
)

// Detail is what a user may be told about an error, in one language.
type Detail struct {
	Kind  Kind
	Field string // the field that was wrong, as the client spells it, or ""
	// Message is the user-safe message, without the field: clients show the field next to it,
	// or by the control that caused it.
	Message string
	// Key is the message's English format, and Params its arguments as English text: they
	// identify the message in any language. An internal error's key is "internal error".
	Key    string
	Params []string
}

// Describe returns the user-safe parts of err in lang (Chinese or English; any other value
// gets English): those of the first *Error in its chain, or of "internal error" when there
// is none or it is Internal. A format missing from the catalog falls back to English rather
// than fail: the catalog's test keeps that from shipping.
func Describe(err error, lang string) Detail {
	var e *Error
	if !errors.As(err, &e) || e.Kind == Internal {
		return Detail{Kind: Internal, Message: translate(lang, internalError), Key: internalError, Params: []string{}}
	}
	d := Detail{Kind: e.Kind, Field: e.Field, Message: e.Message, Key: e.Message, Params: []string{}}
	if e.Format == "" {
		return d // built by hand: English only
	}
	d.Message, d.Key = render(lang, e.Format, e.Args), e.Format
	for _, a := range e.Args {
		d.Params = append(d.Params, fmt.Sprint(localArg(English, a)))
	}
	return d
}

// Localize returns the part of err that is safe to show a user, like Message, in lang: its
// message after its field, when it names one.
func Localize(err error, lang string) string {
	d := Describe(err, lang)
	switch {
	case d.Field == "":
		return d.Message
	case lang == Chinese:
		// A full-width colon, as Chinese puts after a label; the field stays as the client
		// spells it, since it names a JSON path.
		return d.Field + "：" + d.Message
	}
	return d.Field + ": " + d.Message
}

func render(lang, format string, args []any) string {
	local := make([]any, len(args))
	for i, a := range args {
		local[i] = localArg(lang, a)
	}
	return fmt.Sprintf(translate(lang, format), local...)
}

// localArg renders the arguments that are themselves messages (a Phrase, or an error that
// carries an *Error) in lang, and leaves every other argument to its verb.
func localArg(lang string, arg any) any {
	switch a := arg.(type) {
	case Phrase:
		return render(lang, a.Format, a.Args)
	case error:
		var e *Error
		if errors.As(a, &e) {
			return Localize(a, lang)
		}
	}
	return arg
}

func translate(lang, format string) string {
	if lang == Chinese {
		if t, ok := zhCN[format]; ok {
			return t
		}
	}
	return format
}

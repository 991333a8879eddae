package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/errs"
)

func TestAtFieldPutsTheFieldWhereTheRequestHasIt(t *testing.T) {
	toQ := func(field string) string {
		if field == "query" {
			return "q"
		}
		return field
	}
	nested := func(field string) string { return "configs[2]." + field }
	plain := errors.New("connection reset")
	for _, tc := range []struct {
		name      string
		err       error
		rename    func(string) string
		wantField string
	}{
		{"a field renamed", errs.Field("query", "must not be empty"), toQ, "q"},
		{"another field kept", errs.Field("k", "must be between 1 and %d, not %d", 50, 0), toQ, "k"},
		{"a field placed in a list", errs.Field("k", "must be between 1 and %d, not %d", 50, 0), nested, "configs[2].k"},
		{"a wrapped field error", fmt.Errorf("search: %w", errs.Field("query", "must not be empty")), toQ, "q"},
		{"an error without a field", errs.E(errs.Unavailable, "the database is not reachable"), nested, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := tc.err.Error()
			got := errs.AtField(tc.err, tc.rename)
			var e *errs.Error
			if assert.ErrorAs(t, got, &e) {
				assert.Equal(t, tc.wantField, e.Field)
			}
			assert.Equal(t, before, tc.err.Error(), "the error it was given is not changed")
			var was *errs.Error
			errors.As(tc.err, &was)
			assert.Equal(t, was.Format, e.Format, "the message and its translation key stay")
		})
	}
	assert.Same(t, plain, errs.AtField(plain, toQ), "an error that is not an *Error is returned as it is")
	assert.NoError(t, errs.AtField(nil, toQ))
}

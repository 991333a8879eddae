// Package locale names the languages Mentor's interface and content come in, so that adding
// one is a change here (and in the migrations' CHECK constraints), not a search.
package locale

import (
	"slices"
	"strings"

	"github.com/mentor-ai/mentor/errs"
)

// Supported lists the locales, Chinese first: most trainers work in Chinese.
var Supported = []string{"zh-CN", "en"}

// Valid reports whether s is a supported locale.
func Valid(s string) bool { return slices.Contains(Supported, s) }

// Check returns an Invalid error naming field unless s is a supported locale.
func Check(field, s string) error {
	if Valid(s) {
		return nil
	}
	return errs.Field(field, "must be one of %s, got %q", strings.Join(Supported, ", "), s)
}

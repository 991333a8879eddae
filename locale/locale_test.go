package locale_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/locale"
)

func TestCheck(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"zh-CN", "en"} {
		assert.NoError(t, locale.Check("locale", ok))
	}
	for _, bad := range []string{"", "fr", "zh", "EN"} {
		err := locale.Check("locale", bad)
		assert.Equal(t, errs.Invalid, errs.KindOf(err), bad)
		assert.Contains(t, errs.Message(err), `locale: must be one of zh-CN, en, got "`+bad+`"`)
	}
}

// TestErrorsComeInEverySupportedLocale keeps package errs, which cannot import this one,
// speaking the same languages.
func TestErrorsComeInEverySupportedLocale(t *testing.T) {
	t.Parallel()
	assert.ElementsMatch(t, locale.Supported, []string{errs.Chinese, errs.English})
}

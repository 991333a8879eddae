package server_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/server"
)

// TestNewRefusesMissingDependencies leaves out each required dependency in turn: New must
// refuse, naming it, rather than build a server that panics at the first request that needs it.
func TestNewRefusesMissingDependencies(t *testing.T) {
	t.Parallel()
	f := setup(t)
	full := f.deps
	typ := reflect.TypeOf(full)
	required := 0
	for i := range typ.NumField() {
		field := typ.Field(i)
		if !field.IsExported() || field.Tag.Get("optional") == "true" {
			continue
		}
		required++
		t.Run(field.Name, func(t *testing.T) {
			deps := full
			v := reflect.ValueOf(&deps).Elem().Field(i)
			v.Set(reflect.Zero(v.Type()))
			h, err := server.New(deps)
			require.Error(t, err)
			assert.Nil(t, h)
			assert.Contains(t, err.Error(), field.Name)
		})
	}
	// Live, the one that shipped missing, is among them.
	_, ok := typ.FieldByName("Live")
	require.True(t, ok)
	assert.GreaterOrEqual(t, required, 10)
}

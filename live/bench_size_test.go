package live

import (
	"os"
	"strconv"
	"testing"
)

// benchSize reads a benchmark's size from the environment, so a smoke run can be small.
func benchSize(b *testing.B, name string, def int) int {
	b.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		b.Fatalf("%s: want a positive number, got %q", name, v)
	}
	return n
}

// Package migrations holds Mentor's schema as numbered SQL files, embedded in the binary.
//
// Files are append-only: a migration that has shipped is never edited, only followed by a
// newer one. The db package applies them with goose under an advisory lock.
package migrations

import (
	"embed"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
)

// FS holds the migration files, named NNNNN_what_it_does.sql.
//
//go:embed *.sql
var FS embed.FS

// Latest returns the highest migration version this binary carries.
func Latest() (int64, error) {
	entries, err := fs.ReadDir(FS, ".")
	if err != nil {
		return 0, fmt.Errorf("list migrations: %w", err)
	}
	var latest int64
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		if !ok {
			return 0, fmt.Errorf("migration %s: name must start with a number and an underscore", e.Name())
		}
		v, err := strconv.ParseInt(prefix, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

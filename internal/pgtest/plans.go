package pgtest

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

// CheckPlannedOnce checks that the prepared statement whose text begins with prefix ran at
// least runs times on its cached generic plan and was never planned for its values, as
// db.QueueGenericPlans promises. The pool should have one connection (CountingPool(t, 1)):
// pg_prepared_statements shows only the connection that reads it. name says which
// statement, in the failure.
func CheckPlannedOnce(t testing.TB, pool *pgxpool.Pool, name, prefix string, runs int64) {
	t.Helper()
	var generic, custom int64
	if err := pool.QueryRow(context.Background(), `SELECT generic_plans, custom_plans FROM pg_prepared_statements
		WHERE starts_with(statement, $1)`, prefix).Scan(&generic, &custom); err != nil {
		t.Errorf("pgtest: the plans of %s (a statement beginning %q): %v", name, prefix, err)
		return
	}
	if custom != 0 || generic < runs {
		t.Errorf("%s: %d custom plans (want 0) and %d generic (want at least %d)", name, custom, generic, runs)
	}
}

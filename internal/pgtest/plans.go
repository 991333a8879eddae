package pgtest

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
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

// CachedGenericPlan returns the generic plan (EXPLAIN, costs off) that the pool's one
// connection keeps for the prepared statement whose text begins with prefix, as it was made:
// EXPLAIN EXECUTE under force_generic_plan reuses a statement's cached generic plan instead of
// planning it again, and a generic plan does not depend on the values, so every parameter is
// NULL. The pool should have one connection (CountingPool(t, 1)), whose statements these are.
func CachedGenericPlan(t testing.TB, pool *pgxpool.Pool, prefix string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Release()
	var name string
	var params int
	if err := conn.QueryRow(ctx, `SELECT name, cardinality(parameter_types) FROM pg_prepared_statements
		WHERE starts_with(statement, $1)`, prefix).Scan(&name, &params); err != nil {
		t.Fatalf("pgtest: the prepared statement beginning %q: %v", prefix, err)
	}
	nulls := strings.TrimSuffix(strings.Repeat("NULL, ", params), ", ")
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // it only read
	if _, err := tx.Exec(ctx, `SET LOCAL plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	rows, err := tx.Query(ctx, `EXPLAIN (COSTS OFF) EXECUTE `+pgx.Identifier{name}.Sanitize()+`(`+nulls+`)`, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		t.Fatalf("pgtest: explain the plan of the statement beginning %q: %v", prefix, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("pgtest: explain the plan of the statement beginning %q: %v", prefix, err)
	}
	return strings.Join(lines, "\n")
}

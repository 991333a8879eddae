package db

import (
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/errs"
)

// Pending is a lookup queued on a pgx.Batch that other lookups ride too, so that several
// stores' questions cost one round trip (the access check asks for the caller and for what
// the route is about at once: issue 17). Its Result is there once the batch has been sent
// and closed.
type Pending[T any] struct {
	val   T
	found bool
	err   error
	what  errs.Phrase
}

// Result returns the row, or the domain's error for it: errs.NotFound, named by what
// Queue was given, when there was none (or the batch was not sent).
func (p *Pending[T]) Result() (T, error) {
	if !p.found && p.err == nil {
		return p.val, Error(pgx.ErrNoRows, "%s", p.what)
	}
	return p.val, p.err
}

// Found reports whether the lookup found its row.
func (p *Pending[T]) Found() bool { return p.found }

// Queue queues sql on b, whose one row scan turns into a T; what names the row in errors
// (errs.P("turn %d", id)). A missing row is not a failure of the batch, only of this lookup: the
// callback records it and lets the others run. Any other error fails the batch, as it
// would fail the statements after it anyway.
func Queue[T any](b *pgx.Batch, scan pgx.RowToFunc[T], what errs.Phrase, sql string, args ...any) *Pending[T] {
	p := &Pending[T]{what: what}
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		v, err := pgx.CollectExactlyOneRow(rows, scan)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			return nil
		case err != nil:
			p.err = Error(err, "%s", what)
			return p.err
		}
		p.val, p.found = v, true
		return nil
	})
	return p
}

// GenericPlansSQL makes the statements after it in the same transaction use each
// connection's one cached generic plan instead of planning them anew for their values.
// A batch sent outside a transaction block is one implicit transaction, so queued first
// it holds for the batch's other statements and ends with it. set_config rather than SET
// LOCAL, which warns outside an explicit transaction block.
//
// The plan is made with sequential scans off (GenericPlansSettings), because it lasts as long
// as the connection: made while a table is small, PostgreSQL's cheapest plan reads the table
// whole and keeps doing so as it grows. The live save's generic plan did exactly that: a
// sequential scan of every candidate, nested-looped against the 32 saved, once a second
// for each chunk, and a quarter of the relay's PostgreSQL CPU was under such scans
// (perf, issue 12). The foreign-key checks' own cached plans, made during these statements,
// are made with the same settings. A key lookup's index scan is right at every size.
const GenericPlansSQL = `SELECT ` + GenericPlansSettings

// GenericPlansSettings is GenericPlansSQL's select list, for a statement that sets them
// alongside work of its own (one statement less for PostgreSQL to bind and run).
const GenericPlansSettings = `set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)`

// QueueGenericPlans queues GenericPlansSQL on b, before the lookups it is for. Key lookups
// (a row by its id, a session by its hash) have one good plan whatever the key, but
// PostgreSQL plans a prepared statement for its values on its first five runs on each
// connection, and for ever after whenever it judges the generic plan no cheaper than the
// custom ones, which it did for the access check's session lookup and Submit's lookups:
// their planning was most of their CPU, about 0.25 and 0.4 ms a call against 0.08 and
// 0.17 ms of running them (log_statement_stats, issue 17). The statement itself costs
// about 0.03 ms. Only for batches of key lookups: a statement whose best plan depends on
// its values (a search, a filtered list) should not run after it in the same batch.
func QueueGenericPlans(b *pgx.Batch) {
	b.Queue(GenericPlansSQL)
}

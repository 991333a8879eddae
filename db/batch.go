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

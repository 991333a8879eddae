package live

import (
	"context"
	"sync"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
)

// Limits caps what one user can spend on models, against runaway cost.
type Limits struct {
	Concurrent int // streams at once per user (per replica: live streams stay on one replica); 0: no limit
	PerHour    int // generations per user per hour, across replicas; 0: no limit
}

// Gate enforces Limits: the per-user gate every generation passes, live or not.
type Gate struct {
	limits Limits
	store  *auth.Store // counts generations per hour, across replicas
	mu     sync.Mutex
	active map[int64]int
}

func newGate(l Limits, store *auth.Store) *Gate {
	return &Gate{limits: l, store: store, active: map[int64]int{}}
}

// Gate is the engine's per-user generation gate, for generations outside live sessions
// (the try endpoint) to count against the same limits.
func (e *Engine) Gate() *Gate { return e.gate }

// Acquire admits one generation for user, or says which limit stops it. The returned func
// must be called when the generation ends.
func (g *Gate) Acquire(ctx context.Context, userID int64) (func(), error) {
	r, err := g.reserve(ctx, userID, 1)
	if err != nil {
		return nil, err
	}
	return r.take(), nil
}

// reservation is n generations admitted together. Each running stream takes one with take
// and releases it when it ends; releaseRest gives back whatever was not taken, so a turn
// that fails or panics half-way through setting up never keeps a user's slots. It belongs to
// the one goroutine that runs the command.
type reservation struct {
	slots []func()
}

// reserve admits n generations for user, or none, counting them against the hour's limit in
// one statement.
func (g *Gate) reserve(ctx context.Context, userID int64, n int) (*reservation, error) {
	g.mu.Lock()
	if g.limits.Concurrent > 0 && g.active[userID]+n > g.limits.Concurrent {
		g.mu.Unlock()
		return nil, errs.E(errs.RateLimited, "you already have %d generations running: wait for one to finish", g.limits.Concurrent)
	}
	g.active[userID] += n
	g.mu.Unlock()
	release := func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.active[userID]--; g.active[userID] <= 0 {
			delete(g.active, userID)
		}
	}
	r := &reservation{slots: make([]func(), n)}
	for i := range r.slots {
		r.slots[i] = release
	}
	ok, err := g.store.CountGenerations(ctx, userID, g.limits.PerHour, n)
	if err != nil || !ok {
		r.releaseRest()
		if err == nil {
			err = errs.E(errs.RateLimited, "you have used this hour's %d generations: try again next hour", g.limits.PerHour)
		}
		return nil, err
	}
	return r, nil
}

// take hands one slot to its holder, who must call the returned func exactly once.
func (r *reservation) take() func() {
	if len(r.slots) == 0 {
		return func() {}
	}
	release := r.slots[0]
	r.slots = r.slots[1:]
	return sync.OnceFunc(release)
}

// releaseRest releases every slot not taken. Safe to call more than once.
func (r *reservation) releaseRest() {
	for _, release := range r.slots {
		release()
	}
	r.slots = nil
}

// activeFor is how many generations user holds now.
func (g *Gate) activeFor(userID int64) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.active[userID]
}

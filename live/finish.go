package live

import (
	"context"
	"slices"
	"sync"

	"github.com/mentor-ai/mentor/rlhf"
)

// Final saves, batched. At the end of a burst of streams every candidate's final save comes
// at about the same moment (a turn's candidates end together; so do the turns of trainers who
// started together); one statement and one commit each had them queue for pool connections
// and WAL flushes. Instead, the first stream to arrive leads: it saves what is queued (its
// own save and any that came meanwhile, up to maxFinishBatch) in one statement, tells each
// its answer, and if more came while it was saving, hands the lead to the oldest of them and
// goes on with its own stream's end. One batch is in flight at a time, so the saves that
// arrive during it share the next commit (group commit): under load the batches grow, and
// nobody waits for more than the one in flight and their own. Nothing here has a goroutine
// of its own, so it needs no start or stop.

// maxFinishBatch bounds one statement: a few hundred rows keep it to milliseconds.
const maxFinishBatch = 256

type finishReq struct {
	final   rlhf.Final
	written bool
	err     error
	// wake receives true when this request is to lead the next batch, false when its answer
	// (written, err) is ready.
	wake chan bool
}

type finishQueue struct {
	mu      sync.Mutex
	queue   []*finishReq
	leading bool // a batch is being saved
}

// finish saves one candidate's final state (batched with others'), within ctx; it reports
// whether the row was written (false: it no longer streams under its owner). ctx bounds the
// batch this request's goroutine leads, if it leads one; a request waiting in the queue waits
// for the batch that takes it, which its own leader bounds.
func (e *Engine) finish(ctx context.Context, f rlhf.Final) (bool, error) {
	r := &finishReq{final: f, wake: make(chan bool, 1)}
	q := &e.finishes
	q.mu.Lock()
	q.queue = append(q.queue, r)
	if q.leading {
		q.mu.Unlock()
		if lead := <-r.wake; !lead {
			return r.written, r.err
		}
	} else {
		q.leading = true
		q.mu.Unlock()
	}
	// Leading: save batches until this request has its answer, then hand the lead on.
	for {
		q.mu.Lock()
		batch := q.queue[:min(len(q.queue), maxFinishBatch)]
		q.queue = q.queue[len(batch):]
		q.mu.Unlock()
		e.saveFinals(ctx, batch)
		q.mu.Lock()
		mine := !containsReq(q.queue, r)
		if !mine {
			q.mu.Unlock()
			continue // more than a batch was queued before this one
		}
		if len(q.queue) == 0 {
			q.leading = false
		} else {
			q.queue[0].wake <- true
		}
		q.mu.Unlock()
		return r.written, r.err
	}
}

func containsReq(q []*finishReq, r *finishReq) bool {
	for _, x := range q {
		if x == r {
			return true
		}
	}
	return false
}

// saveFinals saves batch in one statement and answers each request but the leader's own (the
// leader reads its answer from its request). Every request of the batch gets the batch's
// error, if any: each retries on its own (finishDurably). Then it tells the other replicas
// which turns have finished candidates, in one notification for the batch (one per candidate
// was a statement and a commit each), so that their followers read them now.
func (e *Engine) saveFinals(ctx context.Context, batch []*finishReq) {
	finals := make([]rlhf.Final, len(batch))
	for i, r := range batch {
		finals[i] = r.final
	}
	written, err := e.store.FinishAll(ctx, finals)
	for i, r := range batch {
		r.err = err
		if err == nil {
			r.written = written[i]
		}
		select {
		case r.wake <- false:
		default: // the leader's own request: nobody waits on its channel
		}
	}
	if err != nil {
		return
	}
	var turns []int64
	for i, r := range batch {
		if written[i] && !slices.Contains(turns, r.final.C.TurnID) {
			turns = append(turns, r.final.C.TurnID)
		}
	}
	if len(turns) > 0 {
		e.notify(ctx, busEvent{Kind: kindFinished, Turns: turns})
	}
}

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
// and WAL flushes. Instead, a stream that arrives while fewer than maxFinishInFlight batches
// are being saved leads one: it takes what is queued (its own save last, and up to
// maxFinishBatch in all) and saves it in one statement. One that arrives while that many are
// in flight waits in the queue; a leader done with its batch takes the next batch from the
// queue and hands it, with the lead, to the oldest save in it, then goes on with its own
// stream's end. Under load the batches grow (group commit), and nobody waits for more than
// the batches in flight and their own. A leader is always handed its batch under the queue's
// lock, so no two batches hold one save. Nothing here has a goroutine of its own, so it needs
// no start or stop.

const (
	maxFinishBatch = 256 // bounds one statement: a few hundred rows keep it to milliseconds
	// maxFinishInFlight is how many batches are saved at once. One: every final save that
	// arrives while a batch is being saved goes in the next, and shares its statement and its
	// commit (group commit). With four in flight, each of the relay's final saves went alone,
	// since a stream's end rarely found four saves ahead of it: 794 statements for 800
	// candidates, each with a durable commit, and the relay's PostgreSQL CPU fell from
	// 11.5–12.5 to 9.0–9.5 ms per 1,000 tokens with one (issue 12). A stream's end waits for
	// at most the batch in flight and its own.
	maxFinishInFlight = 1
)

type finishReq struct {
	final   rlhf.Final
	written bool
	err     error
	// batch is what this request leads, when it was handed the lead.
	batch []*finishReq
	// wake receives true when this request is to lead batch, false when its answer
	// (written, err) is ready.
	wake chan bool
}

type finishQueue struct {
	mu       sync.Mutex
	queue    []*finishReq
	inFlight int // batches being saved
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
	var batch []*finishReq
	if q.inFlight < maxFinishInFlight {
		q.inFlight++
		// From the tail: this request is the last one queued, so its batch holds it.
		n := min(len(q.queue), maxFinishBatch)
		batch = slices.Clone(q.queue[len(q.queue)-n:])
		q.queue = q.queue[:len(q.queue)-n]
		q.mu.Unlock()
	} else {
		q.mu.Unlock()
		if lead := <-r.wake; !lead {
			return r.written, r.err
		}
		batch = r.batch
		// Handed the lead after waiting in the queue: the batch gets a whole attempt's time,
		// not what is left of this request's.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), finishAttempt)
		defer cancel()
	}
	e.saveFinals(ctx, batch)
	q.mu.Lock()
	if len(q.queue) > 0 {
		n := min(len(q.queue), maxFinishBatch)
		next := slices.Clone(q.queue[:n])
		q.queue = q.queue[n:]
		next[0].batch = next
		next[0].wake <- true // its channel is empty: it waits for this, and nothing else is sent to it yet
	} else {
		q.inFlight--
	}
	q.mu.Unlock()
	return r.written, r.err
}

// saveFinals saves batch in one statement and answers each request (the leader, whose own
// request is in it, reads its answer from the request, not the channel). When the statement
// fails, each save is tried again alone, so that one the database refuses (a constraint, a
// bug) fails alone rather than every stream that ended with it: under load a batch holds
// many. A request whose save failed retries on its own (finishDurably). Then it hands the
// turns that have finished candidates to the announcer (announce), which tells the other
// replicas so that their followers read them now.
func (e *Engine) saveFinals(ctx context.Context, batch []*finishReq) {
	finals := make([]rlhf.Final, len(batch))
	for i, r := range batch {
		finals[i] = r.final
	}
	written, err := e.store.FinishAll(ctx, finals)
	failed := make([]error, len(batch))
	switch {
	case err == nil:
	case len(batch) == 1:
		failed[0] = err
	default:
		written = make([]bool, len(batch))
		for i := range batch {
			one, err := e.store.FinishAll(ctx, finals[i:i+1])
			if failed[i] = err; err == nil {
				written[i] = one[0]
			}
		}
	}
	for i, r := range batch {
		r.err = failed[i]
		if r.err == nil {
			r.written = written[i]
		}
		select {
		case r.wake <- false:
		default: // the leader's own request: nobody waits on its channel
		}
	}
	var turns []int64
	for i, r := range batch {
		if failed[i] == nil && written[i] && !slices.Contains(turns, r.final.C.TurnID) {
			turns = append(turns, r.final.C.TurnID)
		}
	}
	e.announce(turns)
}

// Finished candidates are announced to the other replicas off the streams' path. The
// notification used to be sent by a batch's leader after the save: the leader's own stream
// waited one more round trip (and a pool connection) before its done, and so did the batch
// queued behind it, which the leader hands on only once it is free. Now the leader only
// notes the turns; announceLoop sends them, every turn noted while the previous notification
// was in flight in one (so a burst of batches costs fewer notifications, never more). A turn
// whose announcement is lost (a shutdown, an outage) costs latency only: followers also read
// at the save cadence.

// maxAnnounced bounds the turn ids of one notification: PostgreSQL refuses a payload of
// 8,000 bytes or more, and an id takes at most 20.
const maxAnnounced = 300

// announce notes turns whose finished candidates are saved, for announceLoop to send.
func (e *Engine) announce(turns []int64) {
	if len(turns) == 0 {
		return
	}
	e.announceMu.Lock()
	for _, t := range turns {
		if !slices.Contains(e.announced, t) {
			e.announced = append(e.announced, t)
		}
	}
	e.announceMu.Unlock()
	select {
	case e.announceWake <- struct{}{}:
	default: // already woken
	}
}

// takeAnnounced takes up to maxAnnounced of the turns noted so far.
func (e *Engine) takeAnnounced() []int64 {
	e.announceMu.Lock()
	defer e.announceMu.Unlock()
	n := min(len(e.announced), maxAnnounced)
	turns := slices.Clone(e.announced[:n])
	e.announced = append(e.announced[:0], e.announced[n:]...)
	return turns
}

// announceLoop sends the noted turns as "finished" notifications until ctx ends.
func (e *Engine) announceLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.announceWake:
		}
		for turns := e.takeAnnounced(); len(turns) > 0; turns = e.takeAnnounced() {
			e.notify(ctx, busEvent{Kind: kindFinished, Turns: turns})
		}
	}
}

package live

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// Campaign items generated live (issue 13). A live campaign's item has no candidates until
// its first claim: then StartItem starts its turn here exactly as a trainer's generate
// command does (the same planning, retrieval, streams, once-a-second saves, leases and final
// saves), and FollowItem sends the turn to each claimant, over server-sent events rather than
// a websocket. Later claimants of the item follow the same turn: from this replica's memory
// while it streams or was just finished here, from the database when it streams on another
// replica, and as stored snapshots once it finished long ago. Nothing here streams from a
// model itself: the engine's own startCandidate does.

// ItemTurn is a campaign item's turn to start.
type ItemTurn struct {
	PersonaID      int64
	UserID         int64           // the first claimant: the turn's author
	ConversationID int64           // the item's prior conversation, stored already; 0 for none
	ParentID       *int64          // the prior's last (assistant) message, with ConversationID
	Message        string          // the item's question
	Plan           []ItemCandidate // the campaign's candidate plan, in its order
	ShuffleSeed    *int64          // shuffles the positions (a blind project or a blind pairwise campaign)
	HideSources    bool            // the claimants may not learn models' names: error texts are redacted
}

// ItemCandidate is one entry of a campaign's plan.
type ItemCandidate struct {
	PromptVersionID int64
	Model           string   // the version's model when empty
	Temperature     *float32 // the version's when nil
}

// StartItem stores a campaign item's turn with its candidates streaming and starts their
// streams; it returns the turn as stored. The streams belong to the engine, as a live
// session's do: they go on whoever follows them.
//
// No per-user gate is passed: the claimant did not choose to generate, and what a live
// campaign spends is bounded by its items, one turn each, as pre-generation's is (the gate's
// eight streams at once would refuse the third item a work screen holds ahead at N = 4).
func (e *Engine) StartItem(ctx context.Context, in ItemTurn) (rlhf.Turn, error) {
	persona, err := e.prompts.Persona(ctx, in.PersonaID)
	if err != nil {
		return rlhf.Turn{}, err
	}
	plan := make([]plannedCandidate, len(in.Plan))
	versions := map[int64]prompts.Version{}
	for i, p := range in.Plan {
		v, ok := versions[p.PromptVersionID]
		if !ok {
			if v, err = e.prompts.Version(ctx, p.PromptVersionID); err != nil {
				return rlhf.Turn{}, err
			}
			versions[p.PromptVersionID] = v
		}
		plan[i] = plannedCandidate{version: v, model: p.Model, temperature: p.Temperature, planIndex: i}
	}
	if in.ShuffleSeed != nil {
		plan = shuffled(plan, *in.ShuffleSeed)
	}
	var history []llm.Message
	if in.ConversationID != 0 && in.ParentID != nil {
		msgs, err := e.store.History(ctx, in.ConversationID, *in.ParentID)
		if err != nil {
			return rlhf.Turn{}, err
		}
		for _, m := range msgs {
			history = append(history, llm.Message{Role: m.Role, Content: m.Content})
		}
	}
	history = append(history, llm.Message{Role: "user", Content: in.Message})
	prepared := make([]generation.Prepared, len(plan))
	specs := make([]rlhf.CandidateSpec, len(plan))
	retrieved := map[int64]*[]retrieval.Passage{} // one search per prompt version in a turn
	for i, pc := range plan {
		if retrieved[pc.version.ID] == nil {
			passages, err := e.generator.Retrieve(ctx, pc.version, in.Message)
			if err != nil {
				return rlhf.Turn{}, err
			}
			retrieved[pc.version.ID] = &passages
		}
		p, err := e.generator.Prepare(ctx, generation.Plan{Persona: persona, Version: pc.version, Model: pc.model,
			Temperature: pc.temperature, Seed: time.Now().UnixNano()%1_000_000 + int64(i), Locale: persona.Locale,
			History: history, Retrieved: retrieved[pc.version.ID]})
		if err != nil {
			return rlhf.Turn{}, err
		}
		prepared[i] = p
		specs[i] = candidateSpec(rlhf.CandidateSpec{Position: i + 1, PlanIndex: &pc.planIndex, PromptVersionID: pc.version.ID}, p)
	}
	lease, until := e.lease()
	turn, err := e.store.StartTurn(ctx, rlhf.NewTurn{ConversationID: in.ConversationID, ProjectID: persona.ProjectID,
		PersonaID: persona.ID, Locale: persona.Locale, ParentID: in.ParentID, UserID: in.UserID, Message: in.Message,
		Candidates: specs, ShuffleSeed: in.ShuffleSeed, Lease: lease})
	if err != nil {
		return rlhf.Turn{}, err
	}
	lt := newLiveTurn(turn.ID, in.UserID, in.HideSources)
	lt.expect(len(turn.Candidates))
	e.addTurn(lt)
	for i, c := range turn.Candidates {
		e.startCandidate(lt, c, until, prepared[i], func() {})
	}
	return turn, nil
}

// RestartItem streams again, in place, the failed or empty candidates of a campaign item's
// turn that cannot be judged as it stands: every stream ended, nobody judged it, and fewer
// than two of its candidates (or none, with a plan of one) can be judged. Such an item is not
// lost to an upstream that failed mid-stream: the next claimant to open it gets it made
// again. A turn that can be judged is left as it is, since its claimants may be judging it
// already. It reports how many candidates it restarted.
func (e *Engine) RestartItem(ctx context.Context, turnID, userID int64, hideSources bool) (int, error) {
	turn, err := e.store.Turn(ctx, turnID)
	if err != nil {
		return 0, err
	}
	var broken []rlhf.Candidate
	for _, c := range turn.Candidates {
		if c.Status == rlhf.StatusStreaming {
			return 0, nil
		}
		if !rlhf.Usable(c.Status, c.Content) {
			broken = append(broken, c)
		}
	}
	if len(broken) == 0 || len(turn.Candidates)-len(broken) >= min(2, len(turn.Candidates)) {
		return 0, nil
	}
	if judged, err := e.store.Judged(ctx, turnID); err != nil || judged {
		return 0, err
	}
	tc, err := e.store.TurnContext(ctx, turnID)
	if err != nil {
		return 0, err
	}
	persona, err := e.prompts.Persona(ctx, tc.PersonaID)
	if err != nil {
		return 0, err
	}
	msgs, err := e.store.History(ctx, tc.ConversationID, tc.UserMessageID)
	if err != nil {
		return 0, err
	}
	history := make([]llm.Message, len(msgs))
	for j, m := range msgs {
		history[j] = llm.Message{Role: m.Role, Content: m.Content}
	}
	question := msgs[len(msgs)-1].Content
	seqs := make(map[int64]int64, len(turn.Candidates))
	for _, c := range turn.Candidates {
		seqs[c.ID] = c.Seq
	}
	n := 0
	for _, c := range broken {
		version, err := e.prompts.Version(ctx, c.PromptVersionID)
		if err != nil {
			return n, err
		}
		passages, err := e.generator.Retrieve(ctx, version, question)
		if err != nil {
			return n, err
		}
		temperature := c.Temperature
		p, err := e.generator.Prepare(ctx, generation.Plan{Persona: persona, Version: version, Model: c.Model,
			Temperature: &temperature, Seed: time.Now().UnixNano() % 1_000_000, Locale: tc.Locale, History: history, Retrieved: &passages})
		if err != nil {
			return n, err
		}
		spec := candidateSpec(c.CandidateSpec, p)
		lease, until := e.lease()
		if err := e.store.Restart(ctx, c.ID, spec, lease); err != nil {
			return n, err
		}
		c.CandidateSpec, c.Content, c.Reasoning, c.Status, c.Error, c.Owner = spec, "", "", rlhf.StatusStreaming, "", lease.Owner
		lt := e.liveTurnFor(turn.ID, userID, hideSources) // counts the stream before it starts
		lt.seedSeqs(seqs)                                 // a turn no longer in memory numbers on from the database
		e.startCandidate(lt, c, until, p, func() {})
		n++
	}
	return n, nil
}

// ErrFollowerDropped ends a FollowItem whose client could not take events as fast as they
// came: it may follow again from the last event it received.
var ErrFollowerDropped = errors.New("the client fell behind the turn's events")

// FollowItem sends a campaign item's turn to one claimant through send, one JSON event at a
// time, from one goroutine: the events the live session's websocket sends (start, passages,
// delta, reasoning, done, and snapshot), numbered per candidate as there, and after each
// candidate's last number in after only. It returns once every candidate's final event (done,
// or a snapshot of a finished candidate) has been sent, or when ctx ends or the server
// stops. A send that fails ends it with that error.
func (e *Engine) FollowItem(ctx context.Context, turnID int64, after map[int64]int64, hideSources bool, send func(event []byte) error) error {
	t, err := e.store.Turn(ctx, turnID)
	if err != nil {
		return err
	}
	tr := &itemTransport{send: send, final: map[int64]bool{}, done: make(chan struct{}), closed: make(chan struct{})}
	for _, c := range t.Candidates {
		tr.final[c.ID] = false
	}
	wc := &wsConn{engine: e, conn: tr, send: make(chan any, sendQueue), reason: make(chan closeReason, 1),
		follows: map[*liveTurn]struct{}{}, woken: make(chan struct{}, 1)}
	from := map[int64]int64{}
	for id, seq := range after {
		from[id] = seq
	}
	lt := e.turn(turnID)
	var stored []rlhf.Candidate // candidates to send as the database has them
	if lt != nil {
		lt.mu.Lock()
		for _, c := range t.Candidates {
			l := lt.logs[c.ID]
			switch {
			case l == nil || (l.done == 0 && len(l.entries) == 0):
				// Not streamed here: its stream has not begun yet, or the turn came back to
				// memory for a restart of its other candidates (seedSeqs), and the database
				// holds this one.
				if c.Status.Finished() {
					if from[c.ID] >= c.Seq {
						tr.final[c.ID] = true
					} else {
						stored = append(stored, c)
					}
				}
			case l.done != 0 && c.Status == rlhf.StatusStreaming && l.done <= c.Seq:
				// Restarted (RestartItem) and its new stream not begun: the done in memory is the
				// failure being made good, not news for the client.
				from[c.ID] = max(from[c.ID], l.done)
			case l.done != 0:
				tr.final[c.ID] = from[c.ID] >= l.done
			default:
				// Streaming: after a restart, the client needs only the new stream, from its start.
				for i := len(l.entries) - 1; i >= 0; i-- {
					if en := l.entries[i]; en.full != nil && en.full.Type == "start" {
						from[c.ID] = max(from[c.ID], l.base+int64(i))
						break
					}
				}
			}
		}
		lt.mu.Unlock()
	} else {
		for _, c := range t.Candidates {
			switch {
			case c.Status.Finished() && from[c.ID] >= c.Seq:
				tr.final[c.ID] = true
			case c.Status.Finished():
				stored = append(stored, c)
			}
		}
	}
	if tr.allFinal() {
		return nil
	}
	go wc.writePump()
	defer func() {
		e.unsubscribe(wc)
		wc.close(websocket.CloseNormalClosure, "")
		<-tr.closed // the writer has stopped: nothing is sent after this returns
	}()
	streaming := slices.ContainsFunc(t.Candidates, func(c rlhf.Candidate) bool { return c.Status == rlhf.StatusStreaming })
	switch {
	case lt != nil:
		wc.follow(lt, from)
	case streaming:
		e.followRemote(ctx, wc, t, from, hideSources) // it streams on another replica
		stored = nil                                  // the follower sends them
	}
	for _, c := range stored {
		msg := c.Error
		if hideSources {
			msg = RedactSources(msg, c)
		}
		wc.emit(candidateEvent{Type: "snapshot", TurnID: t.ID, CandidateID: c.ID, Seq: c.Seq, Content: c.Content, Status: c.Status,
			FinishReason: c.FinishReason, Error: msg, HTML: e.renderer.Markdown(c.Content)})
	}
	select {
	case <-tr.done:
		return nil
	case <-tr.closed:
		if err := tr.err(); err != nil {
			return err
		}
		return ErrFollowerDropped
	case <-ctx.Done():
		return ctx.Err()
	case <-e.streams.Done():
		return ErrShutdown
	}
}

// itemTransport is FollowItem's wire: the connection's writer writes events to it as to a
// websocket, and it hands them to send. It notes each candidate's final event, and says
// done once every candidate has sent one. Only the writer goroutine calls its writes.
type itemTransport struct {
	send   func([]byte) error
	mu     sync.Mutex
	final  map[int64]bool // candidate id -> its final event has been sent
	failed error
	done   chan struct{} // closed once every candidate's final event is sent
	closed chan struct{} // closed when the writer stops
	once   sync.Once
	fin    sync.Once
}

func (t *itemTransport) allFinal() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range t.final {
		if !f {
			return false
		}
	}
	return true
}

func (t *itemTransport) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failed
}

func (t *itemTransport) write(b []byte, ev *candidateEvent) error {
	if err := t.send(b); err != nil {
		t.mu.Lock()
		t.failed = err
		t.mu.Unlock()
		return err
	}
	if ev == nil {
		return nil
	}
	t.mu.Lock()
	if _, ok := t.final[ev.CandidateID]; ok {
		switch {
		case ev.Type == "done", ev.Type == "snapshot" && ev.Status.Finished():
			t.final[ev.CandidateID] = true
		case ev.Type == "start":
			t.final[ev.CandidateID] = false
		}
	}
	t.mu.Unlock()
	if t.allFinal() {
		t.fin.Do(func() { close(t.done) })
	}
	return nil
}

// WriteJSON implements Transport: whole events (start, passages, done, snapshot, errors).
func (t *itemTransport) WriteJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	switch ev := v.(type) {
	case *candidateEvent:
		return t.write(b, ev)
	case candidateEvent:
		return t.write(b, &ev)
	}
	return t.write(b, nil)
}

// WriteMessage implements Transport: pieces of text, already JSON; pings are not sent (the
// HTTP stream has no frames for them).
func (t *itemTransport) WriteMessage(messageType int, data []byte) error {
	if messageType != websocket.TextMessage {
		return nil
	}
	return t.write(data, nil)
}

// WriteControl implements Transport: the close frame has no counterpart either.
func (t *itemTransport) WriteControl(int, []byte, time.Time) error { return nil }

// Close implements Transport: the writer has stopped.
func (t *itemTransport) Close() error {
	t.once.Do(func() { close(t.closed) })
	return nil
}

// The reader's side of Transport: an HTTP stream has no reader, so none is called.
func (t *itemTransport) ReadMessage() (int, []byte, error)         { return 0, nil, errors.New("no reader") }
func (t *itemTransport) SetReadLimit(int64)                        {}
func (t *itemTransport) SetReadDeadline(time.Time) error           { return nil }
func (t *itemTransport) SetWriteDeadline(time.Time) error          { return nil }
func (t *itemTransport) SetPongHandler(func(appData string) error) {}

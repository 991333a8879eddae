package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/retrieval"
	"github.com/mentor-ai/mentor/rlhf"
)

// Live training sessions: a generate command starts a turn whose candidates stream
// concurrently. A turn belongs to the hub, not to the connection that started it: streams
// keep running while the trainer's socket reconnects, and a resume replays exactly the events
// the client missed (each candidate's events are numbered 1, 2, 3…).

// ErrShutdown is the cause given to streams stopped because the server is stopping; their
// candidates are marked interrupted, not cancelled.
var ErrShutdown = errors.New("the server is stopping")

var errUserCancel = errors.New("cancelled by the trainer")

const (
	defaultCandidates = 4
	maxCandidates     = 8
	flushEvery        = time.Second     // content is saved this often while streaming (the design's "at least once a second")
	keepFinished      = 2 * time.Minute // how long a finished turn can be resumed from memory
)

type generateCmd struct {
	Type            string     `json:"type"`
	ID              string     `json:"id"`
	PersonaID       int64      `json:"persona_id"`
	ConversationID  int64      `json:"conversation_id"`
	ParentMessageID *int64     `json:"parent_message_id"`
	Locale          string     `json:"locale"`
	Message         string     `json:"message"`
	N               int        `json:"n"`
	Plan            []planItem `json:"plan"`
}

type planItem struct {
	PromptVersion int      `json:"prompt_version"`
	Model         string   `json:"model"`
	Temperature   *float32 `json:"temperature"`
}

type cancelCmd struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	TurnID      int64  `json:"turn_id"`
	CandidateID int64  `json:"candidate_id"` // 0: every candidate of the turn
}

type resumeCmd struct {
	Type   string           `json:"type"`
	ID     string           `json:"id"`
	TurnID int64            `json:"turn_id"`
	After  map[string]int64 `json:"after"` // candidate id -> last sequence number received
}

// candidateInfo describes a candidate to the trainer; model and version are left out when the
// project ranks blind.
type candidateInfo struct {
	CandidateID   int64  `json:"candidate_id"`
	MessageID     int64  `json:"message_id"`
	Position      int    `json:"position"`
	Label         string `json:"label"`
	Model         string `json:"model,omitempty"`
	PromptVersion int    `json:"prompt_version,omitempty"`
	Baseline      *bool  `json:"baseline,omitempty"`
}

type turnEvent struct {
	Type           string          `json:"type"` // "turn"
	ID             string          `json:"id,omitempty"`
	TurnID         int64           `json:"turn_id"`
	ConversationID int64           `json:"conversation_id"`
	UserMessageID  int64           `json:"user_message_id"`
	Candidates     []candidateInfo `json:"candidates"`
}

// candidateEvent is every event about one candidate: start, passages, delta, reasoning, done,
// and snapshot (a whole candidate at once, when a resume finds the turn no longer in memory).
type candidateEvent struct {
	Type         string     `json:"type"`
	TurnID       int64      `json:"turn_id"`
	CandidateID  int64      `json:"candidate_id"`
	Seq          int64      `json:"seq"`
	Content      string     `json:"content,omitempty"`
	Passages     any        `json:"passages,omitempty"`
	Status       string     `json:"status,omitempty"`
	FinishReason string     `json:"finish_reason,omitempty"`
	Error        string     `json:"error,omitempty"`
	Usage        *llm.Usage `json:"usage,omitempty"`
	TTFTMillis   *int64     `json:"time_to_first_token_ms,omitempty"`
	TotalMillis  *int64     `json:"duration_ms,omitempty"`
	HTML         string     `json:"html,omitempty"`
}

// liveTurn is a turn whose candidates may still be streaming. Its event log is the one copy
// of what happened: connections follow it with a cursor (see wsConn.follow) instead of
// receiving copies, so a burst of events (a fast model, eight candidates) never overflows a
// connection's queue, and a resume is just a cursor that skips what the client already has.
type liveTurn struct {
	id, userID int64
	mu         sync.Mutex
	events     []candidateEvent
	seq        map[int64]int64 // candidate id -> last sequence number
	subs       map[*wsConn]struct{}
	cancels    map[int64]context.CancelCauseFunc
	pending    sync.WaitGroup
}

// publish numbers ev, appends it to the log and wakes every connection that follows the turn.
func (t *liveTurn) publish(ev candidateEvent) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.seq[ev.CandidateID]++
	ev.Seq = t.seq[ev.CandidateID]
	t.events = append(t.events, ev)
	for c := range t.subs {
		c.wake()
	}
}

// eventsFrom returns the events from index i on.
func (t *liveTurn) eventsFrom(i int) []candidateEvent {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.events[min(i, len(t.events)):])
}

// commands handles the live-session messages of one connection.
type commands struct {
	d    Deps
	p    principal
	conn *wsConn
}

func (x commands) handle(ctx context.Context, typ string, raw []byte) error {
	switch typ {
	case "generate":
		var cmd generateCmd
		if err := strictJSON(raw, &cmd); err != nil {
			return err
		}
		return x.generate(ctx, cmd)
	case "cancel":
		var cmd cancelCmd
		if err := strictJSON(raw, &cmd); err != nil {
			return err
		}
		return x.cancel(cmd)
	case "resume":
		var cmd resumeCmd
		if err := strictJSON(raw, &cmd); err != nil {
			return err
		}
		return x.resume(ctx, cmd)
	}
	return errs.E(errs.Invalid, "unknown message type %s", strconvQuote(typ))
}

func strictJSON(raw []byte, v any) error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	return nil
}

// generate plans the candidates, stores the turn, and starts one stream per candidate.
func (x commands) generate(ctx context.Context, cmd generateCmd) error {
	d := x.d
	if err := checkUserTurn(cmd.Message, cmd.Locale); err != nil {
		return err
	}
	switch {
	case cmd.N < 0 || cmd.N > maxCandidates:
		return errs.Field("n", "must be between 1 and %d, got %d", maxCandidates, cmd.N)
	case len(cmd.Plan) > maxCandidates:
		return errs.Field("plan", "at most %d candidates, got %d", maxCandidates, len(cmd.Plan))
	}
	persona, err := d.Prompts.Persona(ctx, cmd.PersonaID)
	if err != nil {
		return errs.E(errs.NotFound, "no persona %d", cmd.PersonaID)
	}
	role, err := d.Auth.Role(ctx, x.p.user.ID, persona.ProjectID)
	if err != nil {
		return err
	}
	if err := auth.Decide(x.p.user, role, x.p.scopes(), auth.Generate); err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return errs.E(errs.NotFound, "no persona %d", cmd.PersonaID)
		}
		return err
	}
	project, err := d.Prompts.Project(ctx, persona.ProjectID)
	if err != nil {
		return err
	}
	versions, err := d.Prompts.Versions(ctx, persona.ID)
	if err != nil {
		return err
	}
	plan, err := planCandidates(versions, d.Models, cmd)
	if err != nil {
		return err
	}
	locale := cmd.Locale
	if locale == "" {
		locale = persona.Locale
	}
	history := []llm.Message{}
	if cmd.ParentMessageID != nil {
		msgs, err := d.Live.History(ctx, cmd.ConversationID, *cmd.ParentMessageID)
		if err != nil {
			return errs.Field("parent_message_id", "%s", err)
		}
		for _, m := range msgs {
			history = append(history, llm.Message{Role: m.Role, Content: m.Content})
		}
	}
	history = append(history, llm.Message{Role: "user", Content: cmd.Message})

	// Reserve every candidate's generation up front: all of the turn runs, or none of it.
	var releases []func()
	releaseAll := func() {
		for _, r := range releases {
			r()
		}
	}
	for range plan {
		release, err := d.gate.acquire(ctx, d.Auth, x.p.user.ID)
		if err != nil {
			releaseAll()
			return err
		}
		releases = append(releases, release)
	}
	prepared := make([]generation.Prepared, len(plan))
	specs := make([]rlhf.CandidateSpec, len(plan))
	retrieved := map[int64]*[]retrieval.Passage{} // one search per prompt version in a turn
	for i, pc := range plan {
		seed := time.Now().UnixNano()%1_000_000 + int64(i)
		if retrieved[pc.version.ID] == nil {
			passages, err := d.Generator.Retrieve(ctx, pc.version, cmd.Message)
			if err != nil {
				releaseAll()
				return err
			}
			retrieved[pc.version.ID] = &passages
		}
		p, err := d.Generator.Prepare(ctx, generation.Plan{Persona: persona, Version: pc.version, Model: pc.model,
			Temperature: pc.temperature, Seed: seed, Locale: locale, History: history, Retrieved: retrieved[pc.version.ID]})
		if err != nil {
			releaseAll()
			return err
		}
		prepared[i] = p
		passageIDs := make([]int64, len(p.Passages))
		for j, ps := range p.Passages {
			passageIDs[j] = ps.ChunkID
		}
		specs[i] = rlhf.CandidateSpec{Position: i + 1, Model: p.Model.Name, Endpoint: p.Model.Endpoint, Baseline: p.Model.Baseline,
			PromptVersionID: pc.version.ID, Temperature: p.Request.Temperature, TopP: p.Request.TopP, MaxTokens: p.Request.MaxTokens,
			Seed: seed, SystemPromptHash: p.SystemPromptHash, PassageIDs: passageIDs}
	}
	turn, err := d.Live.StartTurn(ctx, rlhf.NewTurn{ConversationID: cmd.ConversationID, ProjectID: persona.ProjectID,
		PersonaID: persona.ID, Locale: locale, ParentID: cmd.ParentMessageID, UserID: x.p.user.ID, Message: cmd.Message, Candidates: specs})
	if err != nil {
		releaseAll()
		return err
	}

	lt := &liveTurn{id: turn.ID, userID: x.p.user.ID, seq: map[int64]int64{}, subs: map[*wsConn]struct{}{},
		cancels: map[int64]context.CancelCauseFunc{}}
	info := make([]candidateInfo, len(turn.Candidates))
	for i, c := range turn.Candidates {
		info[i] = candidateInfo{CandidateID: c.ID, MessageID: c.MessageID, Position: c.Position, Label: string(rune('A' + i))}
		if !project.BlindRanking {
			b := c.Baseline
			info[i].Model, info[i].PromptVersion, info[i].Baseline = c.Model, plan[i].version.Version, &b
		}
	}
	x.conn.emit(turnEvent{Type: "turn", ID: cmd.ID, TurnID: turn.ID, ConversationID: turn.ConversationID,
		UserMessageID: turn.UserMessageID, Candidates: info})
	d.Hub.addTurn(lt)
	x.conn.follow(lt, nil)

	for i, c := range turn.Candidates {
		cctx, cancel := context.WithCancelCause(d.Hub.streams)
		lt.cancels[c.ID] = cancel
		lt.pending.Add(1)
		d.Hub.streamsWG.Add(1)
		go func() {
			defer d.Hub.streamsWG.Done()
			defer lt.pending.Done()
			defer releases[i]()
			defer cancel(nil)
			d.runCandidate(cctx, lt, c, prepared[i])
		}()
	}
	go func() {
		lt.pending.Wait()
		time.AfterFunc(keepFinished, func() { d.Hub.removeTurn(lt.id) })
	}()
	return nil
}

type plannedCandidate struct {
	version     prompts.Version
	model       string
	temperature *float32
}

// planCandidates turns the command into candidates: the plan as given, or by default the
// persona's newest versions, each with its own model first and then with the other available
// models, until n distinct version × model pairs are found.
func planCandidates(versions []prompts.Version, models *llm.Registry, cmd generateCmd) ([]plannedCandidate, error) {
	if len(versions) == 0 {
		return nil, errs.E(errs.Unprocessable, "this persona has no prompt version yet: publish one first")
	}
	byNumber := map[int]prompts.Version{}
	for _, v := range versions {
		byNumber[v.Version] = v
	}
	if len(cmd.Plan) > 0 {
		var out []plannedCandidate
		for i, it := range cmd.Plan {
			v, ok := byNumber[it.PromptVersion]
			if !ok {
				return nil, errs.Field(fmt.Sprintf("plan[%d].prompt_version", i), "no version %d", it.PromptVersion)
			}
			if it.Temperature != nil && (*it.Temperature < 0 || *it.Temperature > 2) {
				return nil, errs.Field(fmt.Sprintf("plan[%d].temperature", i), "must be between 0 and 2, got %g", *it.Temperature)
			}
			if it.Model != "" && !models.Has(it.Model) {
				return nil, errs.Field(fmt.Sprintf("plan[%d].model", i), "unknown model %q", it.Model)
			}
			out = append(out, plannedCandidate{version: v, model: it.Model, temperature: it.Temperature})
		}
		return out, nil
	}
	n := cmd.N
	if n == 0 {
		n = defaultCandidates
	}
	var available []string
	for _, m := range models.Models() {
		if m.Available {
			available = append(available, m.Name)
		}
	}
	var out []plannedCandidate
	seen := map[string]bool{}
	add := func(v prompts.Version, model string) {
		key := strconv.Itoa(v.Version) + "|" + model
		if len(out) < n && !seen[key] && slices.Contains(available, model) {
			seen[key] = true
			out = append(out, plannedCandidate{version: v, model: model})
		}
	}
	newest := versions[:min(len(versions), n)] // newest first
	for _, v := range newest {
		add(v, v.Model)
	}
	for _, m := range available {
		for _, v := range newest {
			add(v, m)
		}
	}
	if len(out) == 0 {
		return nil, errs.E(errs.Unavailable, "no model is available for this persona's versions: see the models page")
	}
	return out, nil
}

// runCandidate streams one candidate, publishing its events and saving its content.
func (d Deps) runCandidate(ctx context.Context, lt *liveTurn, c rlhf.Candidate, p generation.Prepared) {
	lt.publish(candidateEvent{Type: "start", TurnID: lt.id, CandidateID: c.ID})
	lt.publish(candidateEvent{Type: "passages", TurnID: lt.id, CandidateID: c.ID, Passages: p.Passages})

	var mu sync.Mutex
	var content, reasoning strings.Builder
	dirty := false
	save := context.WithoutCancel(ctx) // saving must outlive a cancelled stream
	// The hub's flusher saves what is new once a second, with every other live candidate.
	d.Hub.track(c.ID, func() (rlhf.Candidate, bool) {
		mu.Lock()
		defer mu.Unlock()
		snap := c
		snap.Content, snap.Reasoning = content.String(), reasoning.String()
		was := dirty
		dirty = false
		return snap, was
	})

	res, err := p.Provider.Stream(ctx, p.Request, func(delta llm.Delta) {
		mu.Lock()
		content.WriteString(delta.Content)
		reasoning.WriteString(delta.Reasoning)
		dirty = true
		mu.Unlock()
		if delta.Reasoning != "" {
			lt.publish(candidateEvent{Type: "reasoning", TurnID: lt.id, CandidateID: c.ID, Content: delta.Reasoning})
		}
		if delta.Content != "" {
			lt.publish(candidateEvent{Type: "delta", TurnID: lt.id, CandidateID: c.ID, Content: delta.Content})
		}
	})
	d.Hub.untrack(c.ID)

	status := string(res.Status)
	msg := ""
	if err != nil {
		msg = errs.Message(err)
	}
	if res.Status == llm.Cancelled && errors.Is(context.Cause(ctx), ErrShutdown) {
		status, msg = string(llm.Interrupted), "the server stopped while it streamed"
	}
	ttft, total := res.TimeToFirstToken.Milliseconds(), res.Duration.Milliseconds()
	final := c
	final.Content, final.Reasoning, final.Status, final.FinishReason, final.Error = content.String(), reasoning.String(), status, res.FinishReason, msg
	final.PromptTokens, final.CompletionTokens, final.Attempts = res.Usage.PromptTokens, res.Usage.CompletionTokens, res.Attempts
	t32, d32 := int(ttft), int(total)
	final.TTFTMillis, final.DurationMillis = &t32, &d32
	saveCtx, cancel := context.WithTimeout(save, 10*time.Second)
	defer cancel()
	if err := d.Live.Finish(saveCtx, final); err != nil {
		d.Logger.Error("save candidate", "candidate", c.ID, "err", err)
	}
	usage := res.Usage
	lt.publish(candidateEvent{Type: "done", TurnID: lt.id, CandidateID: c.ID, Status: status, FinishReason: res.FinishReason,
		Error: msg, Usage: &usage, TTFTMillis: &ttft, TotalMillis: &total, HTML: d.renderer.Markdown(final.Content)})
}

// cancel stops one candidate, or every candidate of a turn.
func (x commands) cancel(cmd cancelCmd) error {
	lt := x.d.Hub.turn(cmd.TurnID)
	if lt == nil || lt.userID != x.p.user.ID {
		return errs.E(errs.NotFound, "no running turn %d", cmd.TurnID)
	}
	lt.mu.Lock()
	defer lt.mu.Unlock()
	if cmd.CandidateID != 0 {
		cancel, ok := lt.cancels[cmd.CandidateID]
		if !ok {
			return errs.Field("candidate_id", "candidate %d is not in turn %d", cmd.CandidateID, cmd.TurnID)
		}
		cancel(errUserCancel)
		return nil
	}
	for _, cancel := range lt.cancels {
		cancel(errUserCancel)
	}
	return nil
}

// resume subscribes the connection to a turn and sends what it missed: from memory while the
// turn is there (exactly the events after each candidate's last sequence number), otherwise
// one snapshot per candidate from the database.
func (x commands) resume(ctx context.Context, cmd resumeCmd) error {
	after := map[int64]int64{}
	for k, v := range cmd.After {
		id, err := strconv.ParseInt(k, 10, 64)
		if err != nil {
			return errs.Field("after", "keys must be candidate ids, got %q", k)
		}
		after[id] = v
	}
	if lt := x.d.Hub.turn(cmd.TurnID); lt != nil {
		if lt.userID != x.p.user.ID {
			return errs.E(errs.NotFound, "no turn %d", cmd.TurnID)
		}
		x.conn.follow(lt, after)
		return nil
	}
	t, err := x.d.Live.Turn(ctx, cmd.TurnID)
	if err != nil || t.CreatedBy != x.p.user.ID {
		return errs.E(errs.NotFound, "no turn %d", cmd.TurnID)
	}
	for _, c := range t.Candidates {
		x.conn.emit(candidateEvent{Type: "snapshot", TurnID: t.ID, CandidateID: c.ID, Content: c.Content, Status: c.Status,
			FinishReason: c.FinishReason, Error: c.Error, HTML: x.d.renderer.Markdown(c.Content)})
	}
	return nil
}

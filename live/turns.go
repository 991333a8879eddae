package live

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/generation"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/locale"
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

var errUnknownCandidate = errors.New("no such candidate in this turn")

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

type regenerateCmd struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	TurnID      int64  `json:"turn_id"`
	CandidateID int64  `json:"candidate_id"`
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
	Type         string      `json:"type"`
	TurnID       int64       `json:"turn_id"`
	CandidateID  int64       `json:"candidate_id"`
	Seq          int64       `json:"seq"`
	Content      string      `json:"content,omitempty"`
	Passages     any         `json:"passages,omitempty"`
	Status       rlhf.Status `json:"status,omitempty"`
	FinishReason string      `json:"finish_reason,omitempty"`
	Error        string      `json:"error,omitempty"`
	Usage        *llm.Usage  `json:"usage,omitempty"`
	TTFTMillis   *int64      `json:"time_to_first_token_ms,omitempty"`
	TotalMillis  *int64      `json:"duration_ms,omitempty"`
	HTML         string      `json:"html,omitempty"`
}

// liveTurn is a turn whose candidates may still be streaming. Its event logs (one per
// candidate, see log.go) are the one copy of what happened: connections follow them with a
// cursor kept here (the last sequence number sent, per candidate) instead of receiving copies,
// so a burst of events (a fast model, eight candidates) never overflows a connection's queue,
// and a resume is just a cursor that skips what the client already has.
type liveTurn struct {
	id, userID int64
	mu         sync.Mutex
	logs       map[int64]*candidateLog
	order      []int64                     // candidate ids, in the order their first event came
	subs       map[*wsConn]map[int64]int64 // following connection -> per candidate, the last seq sent
	cancels    map[int64]context.CancelCauseFunc
	running    int // streams expected or running; the turn leaves memory keepFinished after the last
	// hideSources: the turn's trainer may not learn candidates' models (a blind project),
	// so error texts, which endpoints often write with the model's name, are redacted.
	hideSources bool
}

func newLiveTurn(id, userID int64, hideSources bool) *liveTurn {
	return &liveTurn{id: id, userID: userID, logs: map[int64]*candidateLog{}, subs: map[*wsConn]map[int64]int64{},
		cancels: map[int64]context.CancelCauseFunc{}, hideSources: hideSources}
}

// expect counts n more streams on the turn, before they start: one that ends at once must
// not find the turn idle while its siblings are still to start.
func (t *liveTurn) expect(n int) {
	t.mu.Lock()
	t.running += n
	t.mu.Unlock()
}

// commands handles the live-session messages of one connection.
type commands struct {
	e      *Engine
	caller Caller
	conn   *wsConn
}

func (x commands) handle(ctx context.Context, typ string, raw []byte) error {
	switch typ {
	case "generate":
		var cmd generateCmd
		if err := x.e.decode(raw, &cmd); err != nil {
			return err
		}
		return x.generate(ctx, cmd)
	case "cancel":
		var cmd cancelCmd
		if err := x.e.decode(raw, &cmd); err != nil {
			return err
		}
		return x.cancel(ctx, cmd)
	case "regenerate":
		var cmd regenerateCmd
		if err := x.e.decode(raw, &cmd); err != nil {
			return err
		}
		return x.regenerate(ctx, cmd)
	case "resume":
		var cmd resumeCmd
		if err := x.e.decode(raw, &cmd); err != nil {
			return err
		}
		return x.resume(ctx, cmd)
	}
	return errs.E(errs.Invalid, "unknown message type %s", strconvQuote(typ))
}

const maxMessageRunes = 8000

// CheckUserTurn checks what a trainer types as the user's turn, and the optional locale,
// for the try endpoint and the live session alike.
func CheckUserTurn(message, loc string) error {
	switch n := utf8.RuneCountInString(message); {
	case strings.TrimSpace(message) == "":
		return errs.Field("message", "must not be empty")
	case n > maxMessageRunes:
		return errs.Field("message", "must be at most %d characters, got %d", maxMessageRunes, n)
	}
	if loc != "" {
		return locale.Check("locale", loc)
	}
	return nil
}

// generate plans the candidates, stores the turn, and starts one stream per candidate.
func (x commands) generate(ctx context.Context, cmd generateCmd) error {
	e := x.e
	if err := CheckUserTurn(cmd.Message, cmd.Locale); err != nil {
		return err
	}
	switch {
	case cmd.N < 0 || cmd.N > maxCandidates:
		return errs.Field("n", "must be between 1 and %d, got %d", maxCandidates, cmd.N)
	case len(cmd.Plan) > maxCandidates:
		return errs.Field("plan", "at most %d candidates, got %d", maxCandidates, len(cmd.Plan))
	}
	a, versions, err := x.lookup(ctx, cmd.PersonaID, auth.Generate, true)
	if err != nil {
		return err
	}
	persona := a.persona
	plan, err := planCandidates(versions, e.models, cmd)
	if err != nil {
		return err
	}
	locale := cmd.Locale
	if locale == "" {
		locale = persona.Locale
	}
	history := []llm.Message{}
	if cmd.ConversationID != 0 {
		// One answer for a conversation that is missing and one that is someone else's: a
		// probe learns nothing, and another project's messages never reach a model.
		owner, campaignItem, err := e.store.ConversationPersona(ctx, cmd.ConversationID)
		if err != nil || owner != persona.ID {
			if err != nil && errs.KindOf(err) != errs.NotFound {
				return err
			}
			return errs.Field("conversation_id", "no conversation %d with this persona", cmd.ConversationID)
		}
		// A campaign item's conversation grows only through its claim (issue 13's guard).
		if campaignItem {
			return rlhf.ErrCampaignTurn
		}
	}
	if cmd.ParentMessageID != nil {
		msgs, err := e.store.History(ctx, cmd.ConversationID, *cmd.ParentMessageID)
		if err != nil {
			return errs.Field("parent_message_id", "%s", err)
		}
		for _, m := range msgs {
			history = append(history, llm.Message{Role: m.Role, Content: m.Content})
		}
	}
	history = append(history, llm.Message{Role: "user", Content: cmd.Message})

	// Blind projects show the candidates in an order drawn per turn, so position says nothing
	// about version or model; the seed is stored with the turn, so position bias can be
	// measured afterwards.
	var shuffleSeed *int64
	if a.project.BlindRanking {
		seed := rand.Int64()
		shuffleSeed = &seed
		plan = shuffled(plan, seed)
	}

	// Reserve every candidate's generation up front: all of the turn runs, or none of it.
	// Whatever happens from here on (an error, a panic), slots not handed to a running stream
	// go back.
	slots, err := e.gate.reserve(ctx, x.caller.User.ID, len(plan))
	if err != nil {
		return err
	}
	defer slots.releaseRest()
	prepared := make([]generation.Prepared, len(plan))
	specs := make([]rlhf.CandidateSpec, len(plan))
	retrieved := map[int64]*[]retrieval.Passage{} // one search per prompt version in a turn
	for i, pc := range plan {
		seed := time.Now().UnixNano()%1_000_000 + int64(i)
		if retrieved[pc.version.ID] == nil {
			passages, err := e.generator.Retrieve(ctx, pc.version, cmd.Message)
			if err != nil {
				return err
			}
			retrieved[pc.version.ID] = &passages
		}
		p, err := e.generator.Prepare(ctx, generation.Plan{Persona: persona, Version: pc.version, Model: pc.model,
			Temperature: pc.temperature, Seed: seed, Locale: locale, History: history, Retrieved: retrieved[pc.version.ID]})
		if err != nil {
			return err
		}
		prepared[i] = p
		specs[i] = candidateSpec(rlhf.CandidateSpec{Position: i + 1, PlanIndex: &pc.planIndex, PromptVersionID: pc.version.ID}, p)
	}
	lease, until := e.lease()
	turn, err := e.store.StartTurn(ctx, rlhf.NewTurn{ConversationID: cmd.ConversationID, ProjectID: persona.ProjectID,
		PersonaID: persona.ID, Locale: locale, ParentID: cmd.ParentMessageID, UserID: x.caller.User.ID, Message: cmd.Message,
		Candidates: specs, ShuffleSeed: shuffleSeed, Lease: lease})
	if err != nil {
		return err
	}

	lt := newLiveTurn(turn.ID, x.caller.User.ID, !a.seesModels)
	info := make([]candidateInfo, len(turn.Candidates))
	for i, c := range turn.Candidates {
		info[i] = describeCandidate(c, plan[i].version.Version, a.seesModels)
	}
	x.conn.emit(turnEvent{Type: "turn", ID: cmd.ID, TurnID: turn.ID, ConversationID: turn.ConversationID,
		UserMessageID: turn.UserMessageID, Candidates: info})
	lt.expect(len(turn.Candidates))
	e.addTurn(lt)
	x.conn.follow(lt, nil)

	for i, c := range turn.Candidates {
		e.startCandidate(lt, c, until, prepared[i], slots.take())
	}
	return nil
}

// access is what a command may do with a persona: the persona, its project, the caller's
// role there, and whether the caller may see which model wrote each candidate.
type access struct {
	persona    prompts.Persona
	project    prompts.Project
	role       auth.Role
	seesModels bool
}

// personaFor loads a persona the caller may act on with perm. A persona in a project the
// caller is not in, or may not do perm in, is "no persona": a probe learns nothing.
func (x commands) personaFor(ctx context.Context, personaID int64, perm auth.Permission) (access, error) {
	a, _, err := x.lookup(ctx, personaID, perm, false)
	return a, err
}

// lookup is personaFor that also reads the persona's versions, newest first, when versions
// is set (a generate plans from them). The persona, its project, the caller's roles and the
// versions are read in one pipelined batch: one round trip where a generate made four, one
// after another, while the first streams of a burst of trainers were flowing (issue 12).
// Nothing read is returned before the access decision, so reading it all at once tells a
// caller without access nothing.
func (x commands) lookup(ctx context.Context, personaID int64, perm auth.Permission, versions bool) (access, []prompts.Version, error) {
	notFound := errs.E(errs.NotFound, "no persona %d", personaID)
	b := &pgx.Batch{}
	// Key lookups, planned once per connection: PostgreSQL planned each of the four anew on
	// every generate, about 0.75 ms of a session's PostgreSQL CPU (issue 12).
	db.QueueGenericPlans(b)
	persona := x.e.prompts.QueuePersona(b, personaID)
	project := x.e.prompts.QueueProjectOfPersona(b, personaID)
	roles := x.e.auth.QueueMemberships(b, x.caller.User.ID)
	var vs []prompts.Version
	if versions {
		x.e.prompts.QueueVersions(b, personaID, &vs)
	}
	var a access
	if err := x.e.pool.SendBatch(ctx, b).Close(); err != nil {
		return a, nil, db.Error(err, "read persona %d", personaID)
	}
	var err error
	if a.persona, err = persona.Result(); errs.KindOf(err) == errs.NotFound {
		return a, nil, notFound
	} else if err != nil {
		return a, nil, err
	}
	m, err := roles.Result()
	if err != nil {
		return a, nil, err
	}
	a.role = m.In(a.persona.ProjectID)
	if err := auth.Decide(x.caller.User, a.role, x.caller.Scopes, perm); err != nil {
		if errs.KindOf(err) == errs.NotFound {
			return a, nil, notFound
		}
		return a, nil, err
	}
	if a.project, err = project.Result(); err != nil {
		return a, nil, err
	}
	a.seesModels = auth.SeesModels(x.caller.User, a.role, a.project.BlindRanking)
	return a, vs, nil
}

// ownTurn loads a turn the caller started, in a project where the caller may still do perm.
// Anyone else's turn, or the caller's after leaving the project (or losing perm there),
// reads as a missing turn.
func (x commands) ownTurn(ctx context.Context, turnID int64, perm auth.Permission) (rlhf.TurnContext, access, error) {
	notFound := errs.E(errs.NotFound, "no turn %d", turnID)
	tc, err := x.e.store.TurnContext(ctx, turnID)
	if errs.KindOf(err) == errs.NotFound || (err == nil && tc.CreatedBy != x.caller.User.ID) {
		return tc, access{}, notFound
	} else if err != nil {
		return tc, access{}, err
	}
	a, err := x.personaFor(ctx, tc.PersonaID, perm)
	if k := errs.KindOf(err); k == errs.NotFound || k == errs.Forbidden {
		return tc, a, notFound
	}
	return tc, a, err
}

// candidateSpec is base with what a prepared request says: model, sampling, seed, rendered
// prompt and passages, as stored with the candidate to reproduce it.
func candidateSpec(base rlhf.CandidateSpec, p generation.Prepared) rlhf.CandidateSpec {
	base.Model, base.Endpoint, base.Baseline = p.Model.Name, p.Model.Endpoint, p.Model.Baseline
	base.Temperature, base.TopP, base.MaxTokens, base.Seed = p.Request.Temperature, p.Request.TopP, p.Request.MaxTokens, p.Request.Seed
	base.SystemPromptHash = p.SystemPromptHash
	base.PassageIDs = make([]int64, len(p.Passages))
	for j, ps := range p.Passages {
		base.PassageIDs[j] = ps.ChunkID
	}
	return base
}

// describeCandidate is what the trainer's screen learns of a candidate: its label, and its
// model and version only when reveal says the caller may see them.
func describeCandidate(c rlhf.Candidate, version int, reveal bool) candidateInfo {
	info := candidateInfo{CandidateID: c.ID, MessageID: c.MessageID, Position: c.Position, Label: string(rune('A' + c.Position - 1))}
	if reveal {
		b := c.Baseline
		info.Model, info.PromptVersion, info.Baseline = c.Model, version, &b
	}
	return info
}

// shuffled returns plan in an order drawn from seed (Fisher–Yates), each candidate keeping
// its place in the plan as planIndex.
func shuffled(plan []plannedCandidate, seed int64) []plannedCandidate {
	out := slices.Clone(plan)
	r := rand.New(rand.NewPCG(uint64(seed), 0x6d656e746f72))
	r.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// startCandidate runs one candidate's stream on its own goroutine, holding slot until the
// candidate's final state is saved. The caller has counted the stream on lt (expect), and
// stored the candidate streaming under a lease that holds until leaseUntil.
func (e *Engine) startCandidate(lt *liveTurn, c rlhf.Candidate, leaseUntil time.Time, p generation.Prepared, slot func()) {
	cctx, cancel := context.WithCancelCause(e.streams)
	lt.mu.Lock()
	lt.cancels[c.ID] = cancel
	lt.mu.Unlock()
	e.streamsWG.Add(1)
	go func() {
		defer e.streamsWG.Done()
		defer e.streamEnded(lt)
		defer slot()
		defer cancel(nil)
		defer func() {
			// A panic in one stream must not take the server (and every other trainer's
			// streams) down: the candidate fails, and says so.
			if r := recover(); r != nil {
				e.logger.Error("candidate stream panicked", "candidate", c.ID, "panic", r, "stack", string(debug.Stack()))
				base := e.untrack(c.ID)
				failed := c
				failed.Status, failed.Error = rlhf.StatusFailed, "internal error"
				failed.Seq = lt.lastSeqs()[c.ID] + 1
				failed.Content, failed.Reasoning = "", "" // what the last save wrote stays
				base.bytes = [2]int{}
				if saved, ok := e.finishDurably(lt, failed, base); ok {
					lt.publish(candidateEvent{Type: "done", TurnID: lt.id, CandidateID: c.ID, Status: saved.Status, Error: saved.Error})
				}
			}
		}()
		e.runCandidate(cctx, cancel, leaseUntil, lt, c, p)
	}()
}

type plannedCandidate struct {
	version     prompts.Version
	model       string
	temperature *float32
	planIndex   int // where it stands in the plan, before a blind project's shuffle
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
			out = append(out, plannedCandidate{version: v, model: it.Model, temperature: it.Temperature, planIndex: i})
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
			out = append(out, plannedCandidate{version: v, model: model, planIndex: len(out)})
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
func (e *Engine) runCandidate(ctx context.Context, stop context.CancelCauseFunc, leaseUntil time.Time, lt *liveTurn, c rlhf.Candidate, p generation.Prepared) {
	lt.publish(candidateEvent{Type: "start", TurnID: lt.id, CandidateID: c.ID})
	seq := lt.publish(candidateEvent{Type: "passages", TurnID: lt.id, CandidateID: c.ID, Passages: p.Passages})

	// mu holds the text and the number of the last event it includes together: a save writes
	// both, so a replica following the stream from the database numbers it as this one does.
	var mu sync.Mutex
	var content, reasoning strings.Builder
	var changes uint64
	// The hub's save loop saves what is new once a second, with every other live candidate,
	// and renews the stream's lease; it stops the stream (stop) once the lease is lost.
	e.track(c.ID, leaseUntil, stop, func() (streamText, uint64) {
		mu.Lock()
		defer mu.Unlock()
		return streamText{content: content.String(), reasoning: reasoning.String(), seq: seq}, changes
	})

	res, err := p.Provider.Stream(ctx, p.Request, func(delta llm.Delta) {
		// PostgreSQL's text cannot hold NUL, and a model can send one: drop it here, so the
		// saved reply is always what the trainer saw.
		delta.Content, delta.Reasoning = stripNUL(delta.Content), stripNUL(delta.Reasoning)
		mu.Lock()
		defer mu.Unlock()
		content.WriteString(delta.Content)
		reasoning.WriteString(delta.Reasoning)
		changes++
		if delta.Reasoning != "" {
			seq = lt.publish(candidateEvent{Type: "reasoning", TurnID: lt.id, CandidateID: c.ID, Content: delta.Reasoning})
		}
		if delta.Content != "" {
			seq = lt.publish(candidateEvent{Type: "delta", TurnID: lt.id, CandidateID: c.ID, Content: delta.Content})
		}
	})
	base := e.untrack(c.ID)

	status := rlhf.StatusOf(res.Status)
	msg := ""
	if err != nil {
		msg = errs.Message(err)
	}
	if res.Status == llm.Cancelled {
		switch cause := context.Cause(ctx); {
		case errors.Is(cause, ErrShutdown):
			status, msg = rlhf.StatusInterrupted, "the server stopped while it streamed"
		case errors.Is(cause, ErrLeaseLost):
			status, msg = rlhf.StatusInterrupted, "the server lost its database while it streamed"
		}
	}
	ttft, total := res.TimeToFirstToken.Milliseconds(), res.Duration.Milliseconds()
	final := c
	final.Content, final.Reasoning, final.Status, final.FinishReason, final.Error = content.String(), reasoning.String(), status, res.FinishReason, msg
	final.PromptTokens, final.CompletionTokens, final.Attempts = res.Usage.PromptTokens, res.Usage.CompletionTokens, res.Attempts
	t32, d32 := int(ttft), int(total)
	final.TTFTMillis, final.DurationMillis = &t32, &d32
	final.Seq = seq + 1 // the done event's: only this goroutine publishes this candidate's events
	// The reply's HTML is rendered while the final save is in flight, not after it: done
	// waits for the slower of the two, not for both in turn.
	html := make(chan string, 1)
	go func() { html <- e.renderer.Markdown(final.Content) }()
	saved, ok := e.finishDurably(lt, final, base)
	if !ok {
		return // the server is stopping before the save went through: a sweep marks it interrupted once its lease runs out
	}
	usage := res.Usage
	msg = saved.Error
	if lt.hideSources {
		msg = RedactSources(msg, c)
	}
	lt.publish(candidateEvent{Type: "done", TurnID: lt.id, CandidateID: c.ID, Status: saved.Status, FinishReason: saved.FinishReason,
		Error: msg, Usage: &usage, TTFTMillis: &ttft, TotalMillis: &total, HTML: <-html})
}

// Final saves are retried this way: soon at first, then every few seconds, for as long as
// the database is down; only a server shutdown gives up.
const (
	finishRetryFirst = 100 * time.Millisecond
	finishRetryMax   = 5 * time.Second
	finishAttempt    = 10 * time.Second // one attempt's time limit
)

// finishDurably saves a candidate's final state, retrying until the database takes it or
// the server stops. It reports whether the database now holds a final state, and which: the
// one saved, or "interrupted" when a sweep gave the row up first (this replica had lost its
// lease; the row keeps what the last save wrote). The trainer hears "done" only after this
// returns true: a reply the screen calls finished is one the database has, so a judgment of
// it is never refused for a candidate the database still calls streaming.
//
// base is what the last once-a-second save that went through wrote: only the text after it
// is sent (see rlhf.Store.FinishAll).
func (e *Engine) finishDurably(lt *liveTurn, final rlhf.Candidate, base savedBase) (rlhf.Candidate, bool) {
	// Nothing a model or an endpoint sent may stop the save: PostgreSQL refuses NUL in text.
	// The stream's text is stripped as it comes, so this changes no offset in base.
	final.Content, final.Reasoning = stripNUL(final.Content), stripNUL(final.Reasoning)
	final.Error, final.FinishReason = stripNUL(final.Error), stripNUL(final.FinishReason)
	stopping := e.streams // cancelled only when the server stops
	wait := finishRetryFirst
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(stopping), finishAttempt)
		tail := final
		tail.Content, tail.Reasoning = final.Content[base.bytes[0]:], final.Reasoning[base.bytes[1]:]
		written, err := e.finish(ctx, rlhf.Final{C: tail, Base: base.saved})
		cancel()
		if err == nil && !written {
			err = rlhf.ErrNotOwner
		}
		if err == nil {
			if attempt > 1 {
				e.logger.Info("saved candidate after retrying", "candidate", final.ID, "attempts", attempt)
			}
			return final, true
		}
		if errors.Is(err, rlhf.ErrNotOwner) {
			e.logger.Warn("candidate given up before its final save", "candidate", final.ID, "turn", lt.id, "status", final.Status)
			final.Status, final.FinishReason, final.Error = rlhf.StatusInterrupted, "", "the server lost its database while it streamed"
			return final, true
		}
		if !transient(err) {
			// Waiting will not help (a constraint, a bug): record the candidate as failed,
			// once, so the trainer can regenerate it instead of waiting forever.
			e.logger.Error("save candidate: refused by the database", "candidate", final.ID, "turn", lt.id, "err", err)
			if final.Status == rlhf.StatusFailed && final.Error == "internal error" {
				return final, false
			}
			final.Status, final.Error = rlhf.StatusFailed, "internal error"
			continue
		}
		e.logger.Error("save candidate: will retry", "candidate", final.ID, "turn", lt.id, "attempt", attempt, "retry_in", wait, "err", err)
		select {
		case <-stopping.Done():
			return final, false
		case <-time.After(wait):
		}
		wait = min(2*wait, finishRetryMax)
	}
}

// transient reports whether a failed save may go through if tried again: the database was
// out of reach, or a concurrent transaction got in the way.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01" || db.Unreachable(err)
	}
	return errs.KindOf(err) == errs.Unavailable || db.Unreachable(err)
}

// RedactSources takes a candidate's model and endpoint names out of a text shown to a trainer
// who ranks blind ("The model `qwen-max` does not exist" would tell which pane is which).
func RedactSources(text string, c rlhf.Candidate) string {
	for _, name := range []string{c.Model, c.Endpoint} {
		if len(name) >= 2 {
			text = strings.ReplaceAll(text, name, "•••")
		}
	}
	return text
}

func stripNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// regenerate streams a failed or empty candidate again, in place: the same candidate id,
// position, model, prompt version and temperature, a new seed and fresh passages. The turn's
// followers get a new start event for it, then its stream as usual.
func (x commands) regenerate(ctx context.Context, cmd regenerateCmd) error {
	e := x.e
	tc, a, err := x.ownTurn(ctx, cmd.TurnID, auth.Generate)
	if err != nil {
		return err
	}
	// A campaign item's failed candidates are regenerated by its generation jobs (the
	// campaign's "regenerate failed"), never from a live session (issue 13's guard).
	if tc.CampaignItem {
		return rlhf.ErrCampaignTurn
	}
	turn, err := e.store.Turn(ctx, cmd.TurnID)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(turn.Candidates, func(c rlhf.Candidate) bool { return c.ID == cmd.CandidateID })
	if i < 0 {
		return errs.Field("candidate_id", "candidate %d is not in turn %d", cmd.CandidateID, cmd.TurnID)
	}
	c := turn.Candidates[i]
	if c.Status == rlhf.StatusStreaming || rlhf.Usable(c.Status, c.Content) {
		return rlhf.ErrNotRegenerable
	}
	if judged, err := e.store.Judged(ctx, turn.ID); err != nil {
		return err
	} else if judged {
		return rlhf.ErrTurnJudged
	}
	version, err := e.prompts.Version(ctx, c.PromptVersionID)
	if err != nil {
		return err
	}
	msgs, err := e.store.History(ctx, tc.ConversationID, tc.UserMessageID)
	if err != nil {
		return err
	}
	history := make([]llm.Message, len(msgs))
	for j, m := range msgs {
		history[j] = llm.Message{Role: m.Role, Content: m.Content}
	}
	question := msgs[len(msgs)-1].Content
	slots, err := e.gate.reserve(ctx, x.caller.User.ID, 1)
	if err != nil {
		return err
	}
	defer slots.releaseRest()
	passages, err := e.generator.Retrieve(ctx, version, question)
	if err != nil {
		return err
	}
	seed := time.Now().UnixNano() % 1_000_000
	temperature := c.Temperature
	p, err := e.generator.Prepare(ctx, generation.Plan{Persona: a.persona, Version: version, Model: c.Model,
		Temperature: &temperature, Seed: seed, Locale: tc.Locale, History: history, Retrieved: &passages})
	if err != nil {
		return err
	}
	spec := candidateSpec(c.CandidateSpec, p)
	lease, until := e.lease()
	if err := e.store.Restart(ctx, c.ID, spec, lease); err != nil {
		return err
	}
	c.CandidateSpec, c.Content, c.Reasoning, c.Status, c.Error, c.Owner = spec, "", "", rlhf.StatusStreaming, "", lease.Owner

	lt := e.liveTurnFor(turn.ID, x.caller.User.ID, !a.seesModels)
	seqs := make(map[int64]int64, len(turn.Candidates))
	for _, tc := range turn.Candidates {
		seqs[tc.ID] = tc.Seq
	}
	lt.seedSeqs(seqs) // a turn no longer in memory numbers on from what the database has
	x.conn.followFromNow(lt)
	e.startCandidate(lt, c, until, p, slots.take())
	return nil
}

// cancel stops one candidate, or every candidate of a turn: here when it streams here,
// otherwise through the replica that streams it (see notify).
func (x commands) cancel(ctx context.Context, cmd cancelCmd) error {
	notRunning := errs.E(errs.NotFound, "no running turn %d", cmd.TurnID)
	notInTurn := errs.Field("candidate_id", "candidate %d is not in turn %d", cmd.CandidateID, cmd.TurnID)
	if lt := x.e.turn(cmd.TurnID); lt != nil && lt.userID == x.caller.User.ID {
		if err := lt.cancel(cmd.CandidateID, errUserCancel); err != nil {
			return notInTurn
		}
		return nil
	}
	if _, _, err := x.ownTurn(ctx, cmd.TurnID, auth.Generate); errs.KindOf(err) == errs.NotFound {
		return notRunning
	} else if err != nil {
		return err
	}
	t, err := x.e.store.Turn(ctx, cmd.TurnID)
	if err != nil {
		return err
	}
	known, streaming := cmd.CandidateID == 0, false
	for _, c := range t.Candidates {
		if cmd.CandidateID == 0 || c.ID == cmd.CandidateID {
			known = true
			streaming = streaming || c.Status == rlhf.StatusStreaming
		}
	}
	switch {
	case !known:
		return notInTurn
	case !streaming:
		return notRunning
	}
	x.e.notify(ctx, busEvent{Kind: kindCancel, Turn: cmd.TurnID, Candidate: cmd.CandidateID, User: x.caller.User.ID})
	return nil
}

// cancel stops one candidate of the turn with cause, or all of them when candidateID is 0.
func (t *liveTurn) cancel(candidateID int64, cause error) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if candidateID != 0 {
		cancel, ok := t.cancels[candidateID]
		if !ok {
			return errUnknownCandidate
		}
		cancel(cause)
		return nil
	}
	for _, cancel := range t.cancels {
		cancel(cause)
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
	// Only the trainer who started a turn follows it, and only while still allowed to judge in
	// its project: a member removed from the project loses their old turns too.
	_, a, err := x.ownTurn(ctx, cmd.TurnID, auth.Judge)
	if err != nil {
		return err
	}
	if lt := x.e.turn(cmd.TurnID); lt != nil {
		x.conn.follow(lt, after)
		return nil
	}
	t, err := x.e.store.Turn(ctx, cmd.TurnID)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(t.Candidates, func(c rlhf.Candidate) bool { return c.Status == rlhf.StatusStreaming }) {
		// It streams on another replica: follow it from the database (see follow.go).
		x.e.followRemote(ctx, x.conn, t, after, !a.seesModels)
		return nil
	}
	for _, c := range t.Candidates {
		msg := c.Error
		if !a.seesModels {
			msg = RedactSources(msg, c)
		}
		x.conn.emit(candidateEvent{Type: "snapshot", TurnID: t.ID, CandidateID: c.ID, Seq: c.Seq, Content: c.Content, Status: c.Status,
			FinishReason: c.FinishReason, Error: msg, HTML: x.e.renderer.Markdown(c.Content)})
	}
	return nil
}

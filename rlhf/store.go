package rlhf

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
)

// Store reads and writes conversations, turns and candidates.
type Store struct {
	pool *pgxpool.Pool
	// clock, when set, stands in for the database's clock in lease checks (WithClock).
	clock func() time.Time
}

// Option configures a Store.
type Option func(*Store)

// WithClock has the store measure leases on now instead of the database's clock: for tests
// that drive leases and sweeps with an injected clock. Without it, every lease is granted and
// checked against the database's now(), the one clock all replicas share (docs/architecture.md,
// "Clocks").
func WithClock(now func() time.Time) Option { return func(s *Store) { s.clock = now } }

// NewStore returns a Store on pool.
func NewStore(pool *pgxpool.Pool, opts ...Option) *Store {
	s := &Store{pool: pool}
	for _, o := range opts {
		o(s)
	}
	return s
}

// leaseNow is the time leases are measured at: nil for the database's now() (the SQL reads
// coalesce($n, now())), or the injected clock's.
func (s *Store) leaseNow() *time.Time {
	if s.clock == nil {
		return nil
	}
	t := s.clock()
	return &t
}

// Message is one node of a conversation tree.
type Message struct {
	ID             int64     `json:"id" db:"id"`
	ConversationID int64     `json:"conversation_id" db:"conversation_id"`
	ParentID       *int64    `json:"parent_id" db:"parent_id"`
	Role           string    `json:"role" db:"role"`
	Author         string    `json:"author" db:"author"` // human or model
	AuthorID       *int64    `json:"author_id" db:"author_id"`
	Content        string    `json:"content" db:"content"`
	CreatedAt      time.Time `json:"created_at" db:"created_at"`
}

// CandidateSpec is what one candidate is generated from: enough to reproduce it.
type CandidateSpec struct {
	Position         int     `json:"position" db:"position"`
	PlanIndex        *int    `json:"plan_index" db:"plan_index"` // place in the plan before a blind shuffle; nil for old turns
	Model            string  `json:"model" db:"model"`
	Endpoint         string  `json:"endpoint" db:"endpoint"`
	Baseline         bool    `json:"baseline" db:"baseline"`
	PromptVersionID  int64   `json:"prompt_version_id" db:"prompt_version_id"`
	Temperature      float32 `json:"temperature" db:"temperature"`
	TopP             float32 `json:"top_p" db:"top_p"`
	MaxTokens        int     `json:"max_tokens" db:"max_tokens"`
	Seed             int64   `json:"seed" db:"seed"`
	SystemPromptHash string  `json:"system_prompt_hash" db:"system_prompt_hash"`
	PassageIDs       []int64 `json:"passage_ids" db:"passage_ids"`
}

// Candidate is a stored candidate with its content so far.
type Candidate struct {
	ID        int64 `json:"id" db:"id"`
	TurnID    int64 `json:"turn_id" db:"turn_id"`
	MessageID int64 `json:"message_id" db:"message_id"`
	CandidateSpec
	Content          string `json:"content" db:"content"`
	Reasoning        string `json:"reasoning" db:"reasoning"`
	Status           Status `json:"status" db:"status"`
	FinishReason     string `json:"finish_reason" db:"finish_reason"`
	Error            string `json:"error" db:"error"`
	PromptTokens     int    `json:"prompt_tokens" db:"prompt_tokens"`
	CompletionTokens int    `json:"completion_tokens" db:"completion_tokens"`
	TTFTMillis       *int   `json:"ttft_ms" db:"ttft_ms"`
	DurationMillis   *int   `json:"duration_ms" db:"duration_ms"`
	Attempts         int    `json:"attempts" db:"attempts"`
	// Owner is the replica that streams the candidate, or last streamed it. Finish and Flush
	// write only as that owner: a replica never writes into a row another has given up.
	Owner string `json:"-" db:"owner"`
	// Seq is the sequence number of the candidate's last event that Content includes, in its
	// owner's numbering: what a replica following the stream from the database tells the client.
	Seq int64 `json:"-" db:"seq"`
}

// Turn is a user message and its candidates.
type Turn struct {
	ID             int64       `json:"id"`
	ConversationID int64       `json:"conversation_id"`
	UserMessageID  int64       `json:"user_message_id"`
	CreatedBy      int64       `json:"created_by"`
	Candidates     []Candidate `json:"candidates"`
}

// NewTurn is a user's message and the candidates to generate for it.
type NewTurn struct {
	ConversationID int64  // 0 starts a conversation
	ProjectID      int64  // for a new conversation
	PersonaID      int64  // the conversation's persona; checked against an existing one
	Locale         string // for a new conversation
	ParentID       *int64 // the message this turn follows; nil for the first
	UserID         int64
	Message        string
	Candidates     []CandidateSpec
	ShuffleSeed    *int64 // the seed of a blind project's shuffle of positions, kept with the turn
	Lease          Lease  // the streaming replica's claim on the new candidates; required
}

// Lease is a replica's claim on the candidates it streams: Owner is the replica's id, and the
// claim holds for For from when the database grants it, unless the owner renews it (Flush).
// Past it, a sweep by any replica may mark the candidates interrupted. The database's clock
// grants and checks every lease: replicas' clocks may disagree, and a lease written in one
// replica's time and checked in another's would end early or late by their difference.
type Lease struct {
	Owner string
	For   time.Duration
}

// micros is the lease's length in microseconds, as the SQL takes it.
func (l Lease) micros() int64 { return l.For.Microseconds() }

func (l Lease) check() error {
	if l.Owner == "" || l.For <= 0 {
		return errs.E(errs.Internal, "a streaming candidate needs an owner and a lease")
	}
	return nil
}

// StartTurn stores the user's message and the candidates, as streaming, in one statement
// (and, to continue a conversation, one check before it). It runs while other trainers'
// first tokens flow: as a transaction of an insert per row it took 13 round trips, each
// waiting for a pool connection under load (issue 12). One statement is atomic, as the
// transaction was: a conversation, messages, turn and candidates all, or nothing.
func (s *Store) StartTurn(ctx context.Context, in NewTurn) (Turn, error) {
	var t Turn
	if err := in.Lease.check(); err != nil {
		return t, err
	}
	if in.ConversationID == 0 {
		if in.ParentID != nil {
			return t, errs.Field("parent_message_id", "a new conversation has no parent message")
		}
	} else {
		if in.ParentID == nil {
			return t, errs.Field("parent_message_id", "say which message this turn continues from")
		}
		// The persona of a conversation never changes, nor does a message leave one: this
		// check holds for the statement below.
		var personaID int64
		var parentOK bool
		if err := s.pool.QueryRow(ctx, `SELECT c.persona_id, EXISTS (SELECT 1 FROM messages m
				WHERE m.id = $2 AND m.conversation_id = c.id AND m.role = 'assistant') FROM conversations c WHERE c.id = $1`,
			in.ConversationID, *in.ParentID).Scan(&personaID, &parentOK); err != nil {
			return t, db.Error(err, "conversation %d", in.ConversationID)
		}
		if personaID != in.PersonaID {
			return t, errs.Field("conversation_id", "conversation %d is with another persona", in.ConversationID)
		}
		if !parentOK {
			return t, errs.Field("parent_message_id", "message %d is not a reply in conversation %d", *in.ParentID, in.ConversationID)
		}
	}
	n := len(in.Candidates)
	positions, maxTokens, planIndex := make([]int32, n), make([]int32, n), make([]*int32, n)
	models, endpoints, hashes, passages := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	baselines, versions, seeds := make([]bool, n), make([]int64, n), make([]int64, n)
	temps, topPs := make([]float32, n), make([]float32, n)
	for i, c := range in.Candidates {
		positions[i], maxTokens[i] = int32(c.Position), int32(c.MaxTokens)
		if c.PlanIndex != nil {
			v := int32(*c.PlanIndex)
			planIndex[i] = &v
		}
		models[i], endpoints[i], hashes[i], baselines[i], versions[i], seeds[i] = c.Model, c.Endpoint, c.SystemPromptHash, c.Baseline, c.PromptVersionID, c.Seed
		temps[i], topPs[i] = c.Temperature, c.TopP
		// An array per candidate cannot ride unnest (it would flatten them): each goes as its
		// text form and is cast back.
		ids := make([]string, len(c.PassageIDs))
		for j, id := range c.PassageIDs {
			ids[j] = strconv.FormatInt(id, 10)
		}
		passages[i] = "{" + strings.Join(ids, ",") + "}"
	}
	byPosition := map[int]Candidate{}
	var candID, msgID *int64
	var position *int
	// The assistant messages' ids are drawn first (spec is computed once, as it is used
	// twice), so each candidate's row names its own message without relying on the order
	// RETURNING lists rows in. It is planned once per connection (queryGeneric).
	err := s.queryGeneric(ctx, func(rows pgx.Rows) error {
		_, err := pgx.ForEachRow(rows, []any{&t.ID, &t.ConversationID, &t.UserMessageID, &candID, &msgID, &position}, func() error {
			if candID != nil {
				byPosition[*position] = Candidate{ID: *candID, MessageID: *msgID}
			}
			return nil
		})
		return err
	}, `WITH conv AS (
			INSERT INTO conversations (project_id, persona_id, created_by, locale) SELECT $1, $2, $3, $4 WHERE $5::bigint = 0 RETURNING id),
		cid AS (SELECT id FROM conv UNION ALL SELECT $5::bigint WHERE $5::bigint <> 0),
		um AS (INSERT INTO messages (conversation_id, parent_id, role, author, author_id, content)
			SELECT cid.id, $6::bigint, 'user', 'human', $3, $7 FROM cid RETURNING id, conversation_id),
		t AS (INSERT INTO turns (conversation_id, user_message_id, created_by, shuffle_seed)
			SELECT um.conversation_id, um.id, $3, $8::bigint FROM um RETURNING id, conversation_id, user_message_id),
		spec AS MATERIALIZED (SELECT s.*, nextval(pg_get_serial_sequence('messages', 'id')) AS message_id
			FROM unnest($9::int[], $10::text[], $11::text[], $12::bool[], $13::bigint[], $14::real[], $15::real[], $16::int[],
				$17::bigint[], $18::text[], $19::text[], $20::int[])
				AS s (position, model, endpoint, baseline, prompt_version_id, temperature, top_p, max_tokens, seed, system_prompt_hash,
					passage_ids, plan_index)),
		am AS (INSERT INTO messages (id, conversation_id, parent_id, role, author) OVERRIDING SYSTEM VALUE
			SELECT spec.message_id, t.conversation_id, t.user_message_id, 'assistant', 'model' FROM spec, t),
		c AS (INSERT INTO candidates (turn_id, message_id, position, model, endpoint, baseline, prompt_version_id, temperature, top_p,
				max_tokens, seed, system_prompt_hash, passage_ids, status, plan_index, owner, lease_until)
			SELECT t.id, spec.message_id, spec.position, spec.model, spec.endpoint, spec.baseline, spec.prompt_version_id, spec.temperature,
				spec.top_p, spec.max_tokens, spec.seed, spec.system_prompt_hash, spec.passage_ids::bigint[], $21, spec.plan_index, $22,
				coalesce($24::timestamptz, now()) + $23::bigint * interval '1 microsecond'
			FROM spec, t RETURNING id, message_id, position)
		SELECT t.id, t.conversation_id, t.user_message_id, c.id, c.message_id, c.position FROM t LEFT JOIN c ON true ORDER BY c.position`,
		in.ProjectID, in.PersonaID, in.UserID, in.Locale, in.ConversationID, in.ParentID, in.Message, in.ShuffleSeed,
		positions, models, endpoints, baselines, versions, temps, topPs, maxTokens, seeds, hashes, passages, planIndex,
		StatusStreaming, in.Lease.Owner, in.Lease.micros(), s.leaseNow())
	if err != nil {
		return Turn{}, db.Error(err, "start a turn")
	}
	if t.ID == 0 {
		return Turn{}, db.Error(pgx.ErrNoRows, "conversation %d", in.ConversationID)
	}
	t.CreatedBy = in.UserID
	for _, c := range in.Candidates {
		stored := byPosition[c.Position]
		cand := Candidate{ID: stored.ID, TurnID: t.ID, MessageID: stored.MessageID, CandidateSpec: c, Status: StatusStreaming, Owner: in.Lease.Owner}
		if cand.PassageIDs == nil {
			cand.PassageIDs = []int64{}
		}
		t.Candidates = append(t.Candidates, cand)
	}
	return t, nil
}

// History returns the path from the conversation's first message to messageID, in order.
func (s *Store) History(ctx context.Context, conversationID, messageID int64) ([]Message, error) {
	rows, _ := s.pool.Query(ctx, `WITH RECURSIVE path AS (
			SELECT m.*, 0 AS depth FROM messages m WHERE m.id = $1 AND m.conversation_id = $2
			UNION ALL
			SELECT m.*, p.depth + 1 FROM messages m JOIN path p ON m.id = p.parent_id
		)
		SELECT id, conversation_id, parent_id, role, author, author_id, content, created_at FROM path ORDER BY depth DESC`, messageID, conversationID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Message])
	if err == nil && len(out) == 0 {
		err = pgx.ErrNoRows
	}
	return out, db.Error(err, "message %d of conversation %d", messageID, conversationID)
}

// Flush saves streaming candidates' new text and renews their lease for lease.For from the
// database's now, all in one statement: a replica with hundreds of live streams writes once a second, not once per
// stream. It sends only the text added since the last save that went through (Snapshot.Base),
// not the whole reply again: re-sending and re-parsing every reply once a second was 9.6% of
// all bytes allocated and most of the save's Postgres CPU (issue 12).
//
// An append must not happen twice. A save whose answer was lost (a timeout, a dropped
// connection) may have committed anyway; the engine then sends the next save from the same
// base, with more text. So the new text is appended as is only when the row's seq is still
// the base's; otherwise the row holds some of the text already, and it becomes the base's
// prefix (Base.ContentChars characters, which only this owner wrote) followed by the new text.
// Either way the row ends up holding exactly the stream's text up to Seq.
//
// Candidates whose Dirty is false only have their lease renewed. It writes only candidates
// that are still streaming, owned by lease.Owner, with a lease that has not run out by the database's now: a
// late save must not undo a finish, and a replica whose lease ran out has given its rows up,
// even if no sweep has marked them yet. It returns the ids it renewed; a streaming candidate
// missing from them is lost to its owner, which must stop streaming it.
//
// It does not wait for the WAL flush (synchronous_commit off for its transactions only): a
// crash may lose the last second of a stream, which the live-session design allows. Finish
// is fully durable and writes the whole text.
func (s *Store) Flush(ctx context.Context, lease Lease, cs []Snapshot) ([]int64, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	if err := lease.check(); err != nil {
		return nil, err
	}
	n := len(cs)
	ids, contents, reasonings, dirty := make([]int64, n), make([]string, n), make([]string, n), make([]bool, n)
	seqs, baseSeqs, baseContent, baseReasoning := make([]int64, n), make([]int64, n), make([]int32, n), make([]int32, n)
	for i, c := range cs {
		ids[i], contents[i], reasonings[i], dirty[i], seqs[i] = c.ID, c.Content, c.Reasoning, c.Dirty, c.Seq
		baseSeqs[i], baseContent[i], baseReasoning[i] = c.Base.Seq, int32(c.Base.ContentChars), int32(c.Base.ReasoningChars)
	}
	// In chunks of flushChunk, each a transaction of its own: a finishing stream's final save
	// waits for the row lock of the chunk that holds its candidate, and one statement for
	// every live stream held them all until it committed (issue 12: at 200 streams, a final
	// save waited up to a whole save, most of the `done` p99). Each chunk is one round trip:
	// the settings and the statement are sent together and share one implicit transaction,
	// and the statement is planned once per connection (db.QueueGenericPlans).
	var kept []int64
	for lo := 0; lo < n; lo += flushChunk {
		hi := min(lo+flushChunk, n)
		b := &pgx.Batch{}
		db.QueueGenericPlans(b)
		b.Queue(`SELECT set_config('synchronous_commit', 'off', true)`)
		// Candidates before messages: the order Finish and Restart lock them in. cur locks the
		// candidates and reads their seq before this statement changes it (RETURNING would give
		// the new one): the messages' update needs the old one to know whether to append.
		q := b.Queue(`WITH data AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bool[], $9::bigint[],
					$10::bigint[], $11::int[], $12::int[]) AS d (id, content, reasoning, dirty, seq, base_seq, base_content, base_reasoning)),
			cur AS (SELECT candidates.id, candidates.message_id, candidates.seq AS old_seq FROM candidates JOIN data ON data.id = candidates.id
				WHERE candidates.status = $5 AND candidates.owner = $7 AND candidates.lease_until > coalesce($8::timestamptz, now())
				ORDER BY candidates.id FOR UPDATE OF candidates),
			c AS (UPDATE candidates SET lease_until = coalesce($8::timestamptz, now()) + $6::bigint * interval '1 microsecond',
					reasoning = CASE WHEN NOT data.dirty THEN candidates.reasoning
						WHEN cur.old_seq = data.base_seq THEN candidates.reasoning || data.reasoning
						ELSE left(candidates.reasoning, data.base_reasoning) || data.reasoning END,
					seq = CASE WHEN data.dirty THEN data.seq ELSE candidates.seq END,
					updated_at = CASE WHEN data.dirty THEN now() ELSE candidates.updated_at END
				FROM data JOIN cur ON cur.id = data.id
				WHERE candidates.id = data.id
				RETURNING candidates.id, cur.message_id, cur.old_seq, data.content, data.dirty, data.base_seq, data.base_content),
			m AS (UPDATE messages SET content = CASE WHEN c.old_seq = c.base_seq THEN messages.content || c.content
					ELSE left(messages.content, c.base_content) || c.content END
				FROM c WHERE messages.id = c.message_id AND c.dirty)
			SELECT id FROM c`, ids[lo:hi], contents[lo:hi], reasonings[lo:hi], dirty[lo:hi], StatusStreaming, lease.micros(), lease.Owner,
			s.leaseNow(), seqs[lo:hi], baseSeqs[lo:hi], baseContent[lo:hi], baseReasoning[lo:hi])
		q.Query(func(rows pgx.Rows) error {
			got, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			kept = append(kept, got...)
			return err
		})
		if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
			return nil, db.Error(err, "save %d streaming candidates", len(cs))
		}
	}
	return kept, nil
}

// queryGeneric runs one statement planned once per connection, whatever its values
// (db.QueueGenericPlans, in the same batch: still one round trip), and hands its rows to
// read. The live statements (a turn's start, the saves) write rows named by their ids: one
// plan fits every call, and PostgreSQL planned them anew on every call, since it judged no
// generic plan cheaper than the custom ones (issue 12: a cold relay round spent 0.21 s of
// its PostgreSQL time planning).
func (s *Store) queryGeneric(ctx context.Context, read func(pgx.Rows) error, sql string, args ...any) error {
	b := &pgx.Batch{}
	db.QueueGenericPlans(b)
	b.Queue(sql, args...).Query(read)
	return s.pool.SendBatch(ctx, b).Close()
}

// flushChunk is how many streams one transaction of Flush saves: small enough that a final
// save waiting for its row lock waits a few milliseconds, large enough that 500 streams
// take a handful of round trips a second.
const flushChunk = 32

// Snapshot is what Flush saves of one streaming candidate: the text added since Base, the
// last save of it that went through, up to and including its event numbered Seq. Dirty says
// whether anything changed since Base.
type Snapshot struct {
	ID                 int64
	Content, Reasoning string // added since Base
	Seq                int64
	Base               Saved
	Dirty              bool
}

// Saved is what a save that went through wrote of a candidate: its seq, and the length of its
// content and reasoning in characters (what PostgreSQL's left() counts, not bytes). The zero
// Saved is an empty candidate: a save from it writes the whole text.
type Saved struct {
	Seq                          int64
	ContentChars, ReasoningChars int
}

// ErrNotOwner is Finish's answer for a candidate that is no longer streaming under its owner:
// a sweep gave it up (its lease ran out), or it was finished already.
var ErrNotOwner = errs.E(errs.Conflict, "this candidate is no longer streaming here")

// Finish saves a candidate's final content, status and measurements, as c.Owner and only
// while the candidate is still streaming under that owner (ErrNotOwner otherwise). It is one
// statement that locks the candidate row before its message row, the order Flush takes them
// in: two orders deadlocked under load (the once-a-second save against a stream's final save).
func (s *Store) Finish(ctx context.Context, c Candidate) error {
	if !c.Status.Finished() {
		return errs.E(errs.Internal, "finish candidate %d: %q is not a final status", c.ID, c.Status)
	}
	tag, err := s.pool.Exec(ctx, `WITH c AS (
			UPDATE candidates SET reasoning = $2, status = $3, finish_reason = $4, error = $5, prompt_tokens = $6,
				completion_tokens = $7, ttft_ms = $8, duration_ms = $9, attempts = $10, lease_until = NULL, seq = $14, updated_at = now()
			WHERE id = $1 AND status = $12 AND owner = $13 RETURNING message_id)
		UPDATE messages SET content = $11 FROM c WHERE messages.id = c.message_id`,
		c.ID, c.Reasoning, c.Status, c.FinishReason, c.Error, c.PromptTokens, c.CompletionTokens,
		c.TTFTMillis, c.DurationMillis, c.Attempts, c.Content, StatusStreaming, c.Owner, c.Seq)
	if err == nil && tag.RowsAffected() == 0 {
		return ErrNotOwner
	}
	return db.Error(err, "save candidate %d", c.ID)
}

// Final is a candidate's final state for FinishAll. C.Content and C.Reasoning hold only the
// text after Base, what the last save that went through wrote (the zero Saved: the whole
// text), as in Flush: the final save does not send the reply again.
type Final struct {
	C    Candidate
	Base Saved
}

// FinishAll saves several candidates' final states in one statement and one commit: at the end
// of a burst of streams every candidate's final save came at the same moment, and each waited
// for a pool connection and a WAL flush of its own (issue 12's block profile: 75% of the
// non-idle blocking). Each is written as its C.Owner and only while still streaming under
// that owner; the answer says, for each, whether it was written (false is Finish's
// ErrNotOwner). Rows are locked in id order, candidates before messages, as Flush locks them.
func (s *Store) FinishAll(ctx context.Context, fs []Final) ([]bool, error) {
	n := len(fs)
	if n == 0 {
		return nil, nil
	}
	ids, seqs, baseSeqs := make([]int64, n), make([]int64, n), make([]int64, n)
	contents, reasonings, statuses, reasons, errors, owners := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	prompt, completion, attempts, baseContent, baseReasoning := make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
	ttft, duration := make([]*int32, n), make([]*int32, n)
	for i, f := range fs {
		c := f.C
		if !c.Status.Finished() {
			return nil, errs.E(errs.Internal, "finish candidate %d: %q is not a final status", c.ID, c.Status)
		}
		ids[i], seqs[i], baseSeqs[i] = c.ID, c.Seq, f.Base.Seq
		contents[i], reasonings[i], statuses[i], reasons[i], errors[i], owners[i] = c.Content, c.Reasoning, string(c.Status), c.FinishReason, c.Error, c.Owner
		prompt[i], completion[i], attempts[i] = int32(c.PromptTokens), int32(c.CompletionTokens), int32(c.Attempts)
		baseContent[i], baseReasoning[i] = int32(f.Base.ContentChars), int32(f.Base.ReasoningChars)
		if c.TTFTMillis != nil {
			v := int32(*c.TTFTMillis)
			ttft[i] = &v
		}
		if c.DurationMillis != nil {
			v := int32(*c.DurationMillis)
			duration[i] = &v
		}
	}
	var written []int64
	err := s.queryGeneric(ctx, func(rows pgx.Rows) error {
		var err error
		written, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		return err
	}, `WITH data AS (SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
				$7::int[], $8::int[], $9::int[], $10::int[], $11::int[], $12::text[], $13::bigint[], $14::bigint[], $15::int[], $16::int[])
				AS d (id, content, reasoning, status, finish_reason, error, prompt_tokens, completion_tokens, ttft_ms, duration_ms, attempts,
					owner, seq, base_seq, base_content, base_reasoning)),
			cur AS (SELECT candidates.id, candidates.message_id, candidates.seq AS old_seq FROM candidates JOIN data ON data.id = candidates.id
				WHERE candidates.status = $17 AND candidates.owner = data.owner ORDER BY candidates.id FOR UPDATE OF candidates),
			c AS (UPDATE candidates SET status = data.status, finish_reason = data.finish_reason, error = data.error,
					prompt_tokens = data.prompt_tokens, completion_tokens = data.completion_tokens, ttft_ms = data.ttft_ms,
					duration_ms = data.duration_ms, attempts = data.attempts, lease_until = NULL, seq = data.seq, updated_at = now(),
					reasoning = CASE WHEN cur.old_seq = data.base_seq THEN candidates.reasoning || data.reasoning
						ELSE left(candidates.reasoning, data.base_reasoning) || data.reasoning END
				FROM data JOIN cur ON cur.id = data.id
				WHERE candidates.id = data.id
				RETURNING candidates.id, cur.message_id, cur.old_seq, data.content, data.base_seq, data.base_content),
			m AS (UPDATE messages SET content = CASE WHEN c.old_seq = c.base_seq THEN messages.content || c.content
					ELSE left(messages.content, c.base_content) || c.content END
				FROM c WHERE messages.id = c.message_id)
			SELECT id FROM c`, ids, contents, reasonings, statuses, reasons, errors, prompt, completion, ttft, duration, attempts,
		owners, seqs, baseSeqs, baseContent, baseReasoning, StatusStreaming)
	if err != nil {
		return nil, db.Error(err, "save %d candidates' final states", n)
	}
	out := make([]bool, n)
	for i, id := range ids {
		out[i] = slices.Contains(written, id)
	}
	return out, nil
}

// Sweep marks interrupted the streaming candidates whose lease ran out by the database's
// clock: their owner stopped (a crash, a kill) or lost the database for longer than its lease. Their
// partial content stays. Every replica runs it at start-up and then periodically; a live
// replica's streams are never touched, since it renews their leases every second.
func (s *Store) Sweep(ctx context.Context) (int64, error) {
	// seq + 1: the interruption is the candidate's last event, after what was saved.
	tag, err := s.pool.Exec(ctx, `UPDATE candidates SET status = $1, error = 'the server streaming it stopped', lease_until = NULL,
		seq = seq + 1, updated_at = now() WHERE status = $2 AND lease_until < coalesce($3::timestamptz, now())`,
		StatusInterrupted, StatusStreaming, s.leaseNow())
	return tag.RowsAffected(), db.Error(err, "interrupt candidates whose lease ran out")
}

// Turn returns a turn with its candidates and their content.
func (s *Store) Turn(ctx context.Context, id int64) (Turn, error) {
	t := Turn{ID: id}
	err := s.pool.QueryRow(ctx, `SELECT conversation_id, user_message_id, created_by FROM turns WHERE id = $1`, id).
		Scan(&t.ConversationID, &t.UserMessageID, &t.CreatedBy)
	if err != nil {
		return t, db.Error(err, "turn %d", id)
	}
	rows, _ := s.pool.Query(ctx, `SELECT c.id, c.turn_id, c.message_id, c.position, c.plan_index, c.model, c.endpoint, c.baseline, c.prompt_version_id,
			c.temperature, c.top_p, c.max_tokens, c.seed, c.system_prompt_hash, c.passage_ids, m.content, c.reasoning, c.status,
			c.finish_reason, c.error, c.prompt_tokens, c.completion_tokens, c.ttft_ms, c.duration_ms, c.attempts, coalesce(c.owner, '') AS owner, c.seq
		FROM candidates c JOIN messages m ON m.id = c.message_id WHERE c.turn_id = $1 ORDER BY c.position`, id)
	t.Candidates, err = pgx.CollectRows(rows, pgx.RowToStructByName[Candidate])
	return t, db.Error(err, "candidates of turn %d", id)
}

// Candidates returns the candidates of every turn in turnIDs, with their content, ordered by
// turn and position: a replica following many turns that stream elsewhere reads them all in
// one query per save tick, not one per turn.
func (s *Store) Candidates(ctx context.Context, turnIDs []int64) ([]Candidate, error) {
	rows, _ := s.pool.Query(ctx, `SELECT c.id, c.turn_id, c.message_id, c.position, c.plan_index, c.model, c.endpoint, c.baseline, c.prompt_version_id,
			c.temperature, c.top_p, c.max_tokens, c.seed, c.system_prompt_hash, c.passage_ids, m.content, c.reasoning, c.status,
			c.finish_reason, c.error, c.prompt_tokens, c.completion_tokens, c.ttft_ms, c.duration_ms, c.attempts, coalesce(c.owner, '') AS owner, c.seq
		FROM candidates c JOIN messages m ON m.id = c.message_id WHERE c.turn_id = ANY($1) ORDER BY c.turn_id, c.position`, turnIDs)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[Candidate])
	return out, db.Error(err, "candidates of %d turns", len(turnIDs))
}

// TreeMessage is a message with what the trainer's screen shows of it.
type TreeMessage struct {
	Message
	CandidatePosition *int    `json:"candidate_position" db:"candidate_position"` // for model replies: 1 = A, …
	Status            *Status `json:"status" db:"status"`                         // for model replies
}

// Conversation returns every message of a conversation, oldest first, and its persona.
func (s *Store) Conversation(ctx context.Context, id int64) (personaID int64, msgs []TreeMessage, err error) {
	if err := s.pool.QueryRow(ctx, `SELECT persona_id FROM conversations WHERE id = $1`, id).Scan(&personaID); err != nil {
		return 0, nil, db.Error(err, "conversation %d", id)
	}
	rows, _ := s.pool.Query(ctx, `SELECT m.id, m.conversation_id, m.parent_id, m.role, m.author, m.author_id, m.content, m.created_at,
			c.position AS candidate_position, c.status
		FROM messages m LEFT JOIN candidates c ON c.message_id = m.id WHERE m.conversation_id = $1 ORDER BY m.id`, id)
	msgs, err = pgx.CollectRows(rows, pgx.RowToStructByName[TreeMessage])
	return personaID, msgs, db.Error(err, "messages of conversation %d", id)
}

// TurnContext is what regenerating a candidate of a turn needs to know about the turn.
type TurnContext struct {
	ProjectID, PersonaID, ConversationID, UserMessageID, CreatedBy int64
	Locale                                                         string
	// CampaignItem says the turn holds a campaign item's candidates: it changes only through
	// the item's claim and its generation jobs, never from the live session.
	CampaignItem bool
}

// TurnContext returns a turn's project, persona, conversation, question and author.
func (s *Store) TurnContext(ctx context.Context, turnID int64) (TurnContext, error) {
	var tc TurnContext
	err := s.pool.QueryRow(ctx, `SELECT c.project_id, c.persona_id, c.id, t.user_message_id, t.created_by, c.locale,
			EXISTS (SELECT 1 FROM campaign_items ci WHERE ci.turn_id = t.id)
		FROM turns t JOIN conversations c ON c.id = t.conversation_id WHERE t.id = $1`, turnID).
		Scan(&tc.ProjectID, &tc.PersonaID, &tc.ConversationID, &tc.UserMessageID, &tc.CreatedBy, &tc.Locale, &tc.CampaignItem)
	return tc, db.Error(err, "turn %d", turnID)
}

// ErrNotRegenerable is Restart's answer for a candidate that has a reply worth judging, or
// is streaming already.
var ErrNotRegenerable = errs.E(errs.Unprocessable, "only a failed or empty candidate can be regenerated")

// ErrTurnJudged is Restart's answer once the turn has a judgment: a regenerated reply would
// change what that judgment was made of.
var ErrTurnJudged = errs.E(errs.Unprocessable, "this turn is judged already: ask again to get new candidates")

// Restart sets a failed or empty candidate streaming again from spec, with no content, under
// lease, in one statement (candidates before messages, the order Flush and Finish lock them
// in). Two restarts of one candidate cannot both win: the second finds it streaming.
func (s *Store) Restart(ctx context.Context, candidateID int64, spec CandidateSpec, lease Lease) error {
	if err := lease.check(); err != nil {
		return err
	}
	if spec.PassageIDs == nil {
		spec.PassageIDs = []int64{}
	}
	tag, err := s.pool.Exec(ctx, `WITH c AS (
			UPDATE candidates SET status = $8, error = '', finish_reason = '', reasoning = '', prompt_tokens = 0,
				completion_tokens = 0, ttft_ms = NULL, duration_ms = NULL, attempts = 0, seed = $2, system_prompt_hash = $3,
				passage_ids = $4, temperature = $5, top_p = $6, max_tokens = $7, owner = $9,
				lease_until = coalesce($11::timestamptz, now()) + $10::bigint * interval '1 microsecond', updated_at = now()
			FROM messages m
			WHERE candidates.id = $1 AND m.id = candidates.message_id AND candidates.status <> $8
				AND NOT `+UsableSQL("candidates.status", "m.content")+`
				AND NOT EXISTS (SELECT 1 FROM judgments j WHERE j.turn_id = candidates.turn_id)
			RETURNING candidates.message_id)
		UPDATE messages SET content = '' FROM c WHERE messages.id = c.message_id`,
		candidateID, spec.Seed, spec.SystemPromptHash, spec.PassageIDs, spec.Temperature, spec.TopP, spec.MaxTokens,
		StatusStreaming, lease.Owner, lease.micros(), s.leaseNow())
	if err != nil {
		return db.Error(err, "restart candidate %d", candidateID)
	}
	if tag.RowsAffected() == 0 {
		var judged bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM judgments j JOIN candidates c ON c.turn_id = j.turn_id WHERE c.id = $1)`,
			candidateID).Scan(&judged); err != nil {
			return db.Error(err, "restart candidate %d", candidateID)
		}
		if judged {
			return ErrTurnJudged
		}
		return ErrNotRegenerable
	}
	return nil
}

// Judged reports whether anyone has judged the turn.
func (s *Store) Judged(ctx context.Context, turnID int64) (bool, error) {
	var judged bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM judgments WHERE turn_id = $1)`, turnID).Scan(&judged)
	return judged, db.Error(err, "judgments of turn %d", turnID)
}

// ConversationPersona returns the persona a conversation is with, and whether one of its
// turns is a campaign item's (such a conversation is not continued from the live session).
func (s *Store) ConversationPersona(ctx context.Context, id int64) (persona int64, campaignItem bool, err error) {
	err = s.pool.QueryRow(ctx, `SELECT cv.persona_id,
			EXISTS (SELECT 1 FROM turns t JOIN campaign_items ci ON ci.turn_id = t.id WHERE t.conversation_id = cv.id)
		FROM conversations cv WHERE cv.id = $1`, id).Scan(&persona, &campaignItem)
	return persona, campaignItem, db.Error(err, "conversation %d", id)
}

// ConversationProject returns the project a conversation belongs to, for access checks.
func (s *Store) ConversationProject(ctx context.Context, id int64) (int64, error) {
	b := &pgx.Batch{}
	p := s.QueueConversationProject(b, id)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, db.Error(err, "conversation %d", id)
	}
	return p.Result()
}

// QueueConversationProject queues ConversationProject's lookup on b, for a caller that asks
// other stores in the same round trip (the access check).
func (s *Store) QueueConversationProject(b *pgx.Batch, id int64) *db.Pending[int64] {
	return db.Queue(b, pgx.RowTo[int64], errs.P("conversation %d", id), `SELECT project_id FROM conversations WHERE id = $1`, id)
}

package rlhf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/sergi/go-diff/diffmatchpatch"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/webhook"
)

// Flags a trainer can put on a candidate.
var Flags = []string{"hallucination", "unsafe", "off_persona", "refusal"}

// Scale is a rubric dimension's range, as the judgment is checked against it.
type Scale struct {
	Key      string
	Min, Max int
}

// Submission is one judgment as the trainer's screen sends it.
type Submission struct {
	IdempotencyKey  string                    `json:"idempotency_key"`
	Ranking         [][]int64                 `json:"ranking"`
	Ratings         map[string]map[string]int `json:"ratings"` // candidate id -> dimension -> value
	Flags           map[string][]string       `json:"flags"`   // candidate id -> flags
	Comment         string                    `json:"comment"`
	Edit            *EditInput                `json:"edit"`
	Gold            *GoldInput                `json:"gold"`
	ContinueFrom    ContinueFrom              `json:"continue_from"`
	TimeSpentMillis int                       `json:"time_spent_ms"`

	// InTx, when set, runs inside the judgment's transaction right after a new judgment is
	// stored (never for a replayed one): campaigns complete the trainer's claim there, so a
	// judgment and its claim are written together or not at all. Its error undoes both.
	InTx func(ctx context.Context, tx pgx.Tx, judgmentID int64) error `json:"-"`
}

// EditInput is a candidate as the trainer corrected it.
type EditInput struct {
	CandidateID int64  `json:"candidate_id"`
	Content     string `json:"content"`
}

// GoldInput is a reply written from scratch.
type GoldInput struct {
	Content string `json:"content"`
}

// ContinueFrom names the reply the conversation goes on from: one candidate, the edit, or
// the gold reply.
type ContinueFrom struct {
	CandidateID int64 `json:"candidate_id,omitempty"`
	Edit        bool  `json:"edit,omitempty"`
	Gold        bool  `json:"gold,omitempty"`
}

// Submitted is what a submission stored.
type Submitted struct {
	JudgmentID            int64  `json:"judgment_id"`
	Revision              int    `json:"revision"`
	Pairs                 int    `json:"pairs"`
	ContinuationMessageID int64  `json:"continuation_message_id"`
	EditedMessageID       *int64 `json:"edited_message_id"`
	GoldMessageID         *int64 `json:"gold_message_id"`
	Replayed              bool   `json:"replayed"` // true when this was a retry of a stored submission
}

const maxReplyRunes = 20000

// Usable reports whether a finished candidate can be judged: it said something, and did not
// fail. A reply cut short by a cancel or a restart still can (trainers rank what they read);
// a failed one cannot, whatever arrived before the failure. UsableSQL says the same in SQL.
func Usable(status Status, content string) bool {
	return status != StatusFailed && status != StatusStreaming && strings.TrimFunc(content, blank) != ""
}

// blank is what does not count as saying something: Unicode white space (the ideographic
// space and the no-break space among it) and the invisible zero-width characters.
func blank(r rune) bool { return unicode.IsSpace(r) || r == '\u200b' || r == '\ufeff' }

// blankClass is blank as a regular-expression class for PostgreSQL: unicode.IsSpace's
// characters (ASCII white space, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028, U+2029,
// U+202F, U+205F, U+3000) and the two zero-width ones.
const blankClass = `[:space:]\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u200b\ufeff`

// UsableSQL is Usable as an SQL condition on a status and a content column, so that what a
// judgment may rank and what an export may hold cannot drift apart.
func UsableSQL(status, content string) string {
	return fmt.Sprintf(`(%s NOT IN ('%s', '%s') AND %s ~ '[^%s]')`, status, StatusFailed, StatusStreaming, content, blankClass)
}

// DataSQL is the SQL condition, on judgments aliased j, for a judgment to be data rather
// than a check: not the answer to a side-swap repeat (package campaign, swap.go), which is
// stored as a new revision of the trainer's judgment of the turn but only measures the
// trainer. Readers that take "a trainer's latest revision" as what they think of a turn
// (exports, agreement) skip repeats with it, so the one spelling cannot drift apart. A
// constant, so that other constants' SQL can be built from it.
const DataSQL = `NOT EXISTS (SELECT 1 FROM claims swap_claim WHERE swap_claim.judgment_id = j.id AND swap_claim.swap_of IS NOT NULL)`

// Submit stores a judgment of a turn and its preference pairs in one transaction. A retry
// with the same idempotency key and the same content returns the stored result; the same key
// with other content is a Conflict. Judging a turn again adds a revision. The scales ratings
// are checked against are the turn's persona's rubric as stored.
//
// It costs two round trips (issue 17): one pipelined batch of lookups, then the writes as one
// batch that PostgreSQL runs as one implicit transaction, committed durably when the batch
// ends. A caller with a batch of its own to send first (the server's access check) queues
// the lookups on it instead (QueueSubmitLookup, then SubmitLooked), and the submission costs
// one round trip of its own. A retry costs one more (the stored judgment's read, once the
// write has found its key taken), and a project with a webhook for judgments, or a
// campaign's claim (Submission.InTx), two more: the event or the claim, and an explicit
// COMMIT (a retry's ROLLBACK). TestSubmitRoundTrips counts them.
func (s *Store) Submit(ctx context.Context, turnID, trainerID int64, sub Submission) (Submitted, error) {
	b := &pgx.Batch{}
	db.QueueGenericPlans(b)
	l := s.QueueSubmitLookup(b, turnID)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return Submitted{}, db.Error(err, "judge turn %d", turnID)
	}
	return s.SubmitLooked(ctx, l, trainerID, sub)
}

// SubmitLooked is Submit with its lookups already read: l was queued by QueueSubmitLookup on
// a batch that has been sent.
func (s *Store) SubmitLooked(ctx context.Context, l *SubmitLookup, trainerID int64, sub Submission) (Submitted, error) {
	out, err := s.submit(ctx, l, trainerID, sub)
	return out, db.Error(err, "judge turn %d", l.turn.id)
}

// SubmitLookup is what a submission's checks read about its turn: the turn, whether a
// webhook wants the judgment and whether it is a campaign item's, its persona's rubric and
// its candidates. Nothing read here can change in a way that matters before the write: a
// usable candidate of a judged turn cannot be regenerated (Restart refuses judged turns),
// and the write rechecks the key under the lock.
type SubmitLookup struct {
	turn          turnRow
	userMessageID *int64
	campaignItem  bool
	rubric        []Scale
	cands         map[int64]candidateRow
	ids           []int64
}

// Found reports whether the turn exists, once the batch it was queued on has been sent.
func (l *SubmitLookup) Found() bool { return l.userMessageID != nil }

// ProjectID is the turn's project (0 when it was not found).
func (l *SubmitLookup) ProjectID() int64 { return l.turn.projectID }

// PersonaID is the turn's persona (0 when it was not found).
func (l *SubmitLookup) PersonaID() int64 { return l.turn.personaID }

// QueueSubmitLookup queues a submission's lookups of turnID on b, after db.QueueGenericPlans
// (both find rows by their keys): its turn, its persona's rubric and the webhooks in one
// statement, and its candidates in another (each statement of a batch costs PostgreSQL a
// bind, a portal and a snapshot of its own).
func (s *Store) QueueSubmitLookup(b *pgx.Batch, turnID int64) *SubmitLookup {
	l := &SubmitLookup{turn: turnRow{id: turnID}, cands: map[int64]candidateRow{}}
	b.Queue(lookupSQL, turnID, string(webhook.JudgmentSubmitted)).QueryRow(func(row pgx.Row) error {
		var keys []string
		var mins, maxs []int
		if err := row.Scan(&l.userMessageID, &l.turn.projectID, &l.turn.personaID, &l.turn.conversationID, &l.turn.hooked,
			&l.campaignItem, &keys, &mins, &maxs); err != nil {
			return err
		}
		for i, key := range keys {
			l.rubric = append(l.rubric, Scale{Key: key, Min: mins[i], Max: maxs[i]})
		}
		return nil
	})
	b.Queue(`SELECT c.id, c.message_id, c.status, m.content, c.passage_ids FROM candidates c JOIN messages m ON m.id = c.message_id
		WHERE c.turn_id = $1 ORDER BY c.position`, turnID).Query(func(rows pgx.Rows) error {
		var id int64
		var c candidateRow
		_, err := pgx.ForEachRow(rows, []any{&id, &c.messageID, &c.status, &c.content, &c.passages}, func() error {
			l.cands[id] = c
			l.ids = append(l.ids, id)
			return nil
		})
		return err
	})
	return l
}

// ErrCampaignTurn refuses a judgment, regeneration or continuation of a campaign item's turn
// that does not come through the item's claim: the claim is what counts it towards k and
// checks the lease.
var ErrCampaignTurn = errs.E(errs.Conflict, "this turn is a campaign item: judge it from My work")

// candidateRow is a turn's candidate as a submission is checked against it.
type candidateRow struct {
	messageID int64
	status    Status
	content   string
	passages  []int64
}

// storedJudgment is a judgment already stored under an idempotency key.
type storedJudgment struct {
	turnID int64
	hash   []byte
	result Submitted
}

const storedJudgmentSQL = `SELECT k.turn_id, k.request_hash, k.id, k.revision, k.continuation_message_id, k.edited_message_id, k.gold_message_id,
		(SELECT count(*) FROM preference_pairs p WHERE p.judgment_id = k.id)::int
	FROM judgments k WHERE k.trainer_id = $1 AND k.idempotency_key = $2`

// lookupSQL is what a submission's checks need besides the candidates, in one row whether
// or not the turn ($1) exists: the turn, its conversation, whether a webhook wants the
// judgment ($2) and whether it is a campaign item's; and its persona's rubric, in order, as
// three arrays. The judgment stored under the submission's key is not read here: the key
// is the trainer's, whom the server's access check, in whose batch this runs, is still
// finding out; the write finds the key taken, and only then is the stored judgment read.
const lookupSQL = `SELECT t.user_message_id, coalesce(c.project_id, 0), coalesce(c.persona_id, 0), coalesce(c.id, 0),
		coalesce(EXISTS (SELECT 1 FROM webhooks w WHERE w.project_id = c.project_id AND $2 = ANY (w.events) AND w.paused_at IS NULL), false),
		coalesce(EXISTS (SELECT 1 FROM campaign_items ci WHERE ci.turn_id = t.id), false),
		coalesce(r.keys, '{}'), coalesce(r.mins, '{}'), coalesce(r.maxs, '{}')
	FROM (SELECT 1) one
	LEFT JOIN (turns t JOIN conversations c ON c.id = t.conversation_id) ON t.id = $1
	LEFT JOIN LATERAL (SELECT array_agg(d.key ORDER BY d.position) AS keys, array_agg(d.scale_min ORDER BY d.position) AS mins,
			array_agg(d.scale_max ORDER BY d.position) AS maxs
		FROM rubric_dimensions d WHERE d.persona_id = c.persona_id) r ON true`

func scanStored(row pgx.Row) (*storedJudgment, error) {
	var k storedJudgment
	r := &k.result
	err := row.Scan(&k.turnID, &k.hash, &r.JudgmentID, &r.Revision, &r.ContinuationMessageID, &r.EditedMessageID, &r.GoldMessageID, &r.Pairs)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &k, nil
}

// replay answers a retry from what its key stored, or refuses a key reused for other content.
func (k *storedJudgment) replay(turnID int64, key string, hash []byte) (Submitted, error) {
	// A key names one submission of one turn: the same body sent to another turn is
	// another judgment, and replaying the first turn's result would hide that.
	if k.turnID != turnID {
		return Submitted{}, errs.E(errs.Conflict, "idempotency key %q was already used to judge another turn: send a new key with each judgment", key)
	}
	if !bytes.Equal(k.hash, hash) {
		return Submitted{}, errs.E(errs.Conflict, "idempotency key %q was already used for a different submission", key)
	}
	out := k.result
	out.Replayed = true
	return out, nil
}

func (s *Store) submit(ctx context.Context, l *SubmitLookup, trainerID int64, sub Submission) (Submitted, error) {
	var out Submitted
	if n := len(sub.IdempotencyKey); n < 8 || n > 128 {
		return out, errs.Field("idempotency_key", "must be 8 to 128 characters (a UUID, say), got %d", n)
	}
	sub = sub.canonical()
	canon, err := json.Marshal(sub) // maps are encoded with sorted keys: the same submission, the same bytes
	if err != nil {
		return out, err
	}
	hash := sha256.Sum256(canon)
	turnID, turn, cands, ids, rubric := l.turn.id, l.turn, l.cands, l.ids, l.rubric
	// refuse answers a submission the checks below refuse, unless it is the retry of one
	// stored under its key: that gets the stored answer (or the key's Conflict), as when the
	// stored judgment was read before the checks. A candidate regenerated since, or a rubric
	// changed since, does not turn a retry of an acknowledged judgment into an error.
	refuse := func(err error) (Submitted, error) {
		stored, serr := scanStored(s.pool.QueryRow(ctx, storedJudgmentSQL, trainerID, sub.IdempotencyKey))
		if serr != nil {
			return Submitted{}, serr
		}
		if stored != nil {
			return stored.replay(turnID, sub.IdempotencyKey, hash[:])
		}
		return Submitted{}, err
	}
	if !l.Found() {
		return refuse(db.Error(pgx.ErrNoRows, "turn %d", turnID))
	}
	userMessageID := l.userMessageID
	// A campaign item's turn is judged only through its claim (InTx completes the claim):
	// judged any other way it would be uncounted, so the item could end with more than k
	// judgments, or by someone never dealt it, past any lease. A retry stores nothing, so it
	// still gets its answer (refuse).
	if l.campaignItem && sub.InTx == nil {
		return refuse(ErrCampaignTurn)
	}

	// Only replies a trainer could read are judged: a failed or empty candidate is left out
	// of the ranking, ratings, edit and continuation, so it can never become one side of a
	// preference pair or an SFT row.
	var usable []int64
	for _, id := range ids {
		switch c := cands[id]; {
		case c.status == StatusStreaming:
			return refuse(errs.E(errs.Unprocessable, "candidate %d is still streaming: wait for it to finish or cancel it", id))
		case Usable(c.status, c.content):
			usable = append(usable, id)
		}
	}
	for _, group := range sub.Ranking {
		for _, id := range group {
			if c, ok := cands[id]; ok && !Usable(c.status, c.content) {
				return refuse(errs.Field("ranking", "candidate %d failed or is empty: leave it out of the ranking, or regenerate it", id))
			}
		}
	}
	for key := range sub.Ratings {
		if id, err := strconv.ParseInt(key, 10, 64); err == nil {
			if c, ok := cands[id]; ok && !Usable(c.status, c.content) {
				return refuse(errs.Field("ratings", "candidate %d failed or is empty: it cannot be rated", id))
			}
		}
	}
	if sub.Edit != nil {
		if c, ok := cands[sub.Edit.CandidateID]; ok && !Usable(c.status, c.content) {
			return refuse(errs.Field("edit.candidate_id", "candidate %d failed or is empty: write a gold reply instead", sub.Edit.CandidateID))
		}
	}
	if id := sub.ContinueFrom.CandidateID; id != 0 {
		if c, ok := cands[id]; ok && !Usable(c.status, c.content) {
			return refuse(errs.Field("continue_from.candidate_id", "candidate %d failed or is empty: continue from another reply", id))
		}
	}

	j := Judgment{Ranking: sub.Ranking, Ratings: map[int64]map[string]float64{}}
	if err := j.Validate(usable); err != nil {
		return refuse(err)
	}
	ratings, err := checkRatings(sub.Ratings, usable, rubric, j.Ratings)
	if err != nil {
		return refuse(err)
	}
	if err := checkFlags(sub.Flags, ids); err != nil {
		return refuse(err)
	}
	if utf8.RuneCountInString(sub.Comment) > 4000 {
		return refuse(errs.Field("comment", "must be at most 4000 characters"))
	}
	if sub.TimeSpentMillis < 0 || sub.TimeSpentMillis > 24*3600*1000 {
		return refuse(errs.Field("time_spent_ms", "must be between 0 and a day, got %d", sub.TimeSpentMillis))
	}

	// The human replies get their ids in the write itself, so until then the pairs and the
	// continuation name them by these stand-ins, which no message id can be (ids start at 1).
	const editMessage, goldMessage = -1, -2
	var editContent, goldContent *string
	var editDiff []byte
	var editedCandidate *int64
	if sub.Edit != nil {
		orig, ok := cands[sub.Edit.CandidateID]
		switch {
		case !ok:
			return refuse(errs.Field("edit.candidate_id", "candidate %d is not in this turn", sub.Edit.CandidateID))
		case strings.TrimSpace(sub.Edit.Content) == "":
			return refuse(errs.Field("edit.content", "must not be empty"))
		case utf8.RuneCountInString(sub.Edit.Content) > maxReplyRunes:
			return refuse(errs.Field("edit.content", "must be at most %d characters", maxReplyRunes))
		case sub.Edit.Content == orig.content:
			return refuse(errs.Field("edit.content", "is the same as the candidate: nothing was corrected"))
		}
		editContent, editedCandidate = &sub.Edit.Content, &sub.Edit.CandidateID
		j.Edited = &Edit{Original: sub.Edit.CandidateID, Reply: Reply{MessageID: editMessage}}
		if editDiff, err = json.Marshal(diffOps(orig.content, sub.Edit.Content)); err != nil {
			return refuse(err)
		}
	}
	if sub.Gold != nil {
		switch {
		case strings.TrimSpace(sub.Gold.Content) == "":
			return refuse(errs.Field("gold.content", "must not be empty"))
		case utf8.RuneCountInString(sub.Gold.Content) > maxReplyRunes:
			return refuse(errs.Field("gold.content", "must be at most %d characters", maxReplyRunes))
		}
		goldContent = &sub.Gold.Content
		j.Gold = &Reply{MessageID: goldMessage}
	}
	var continuation int64
	switch cf := sub.ContinueFrom; {
	case (cf.CandidateID != 0) && !cf.Edit && !cf.Gold:
		c, ok := cands[cf.CandidateID]
		if !ok {
			return refuse(errs.Field("continue_from.candidate_id", "candidate %d is not in this turn", cf.CandidateID))
		}
		continuation = c.messageID
	case cf.Edit && cf.CandidateID == 0 && !cf.Gold:
		if editContent == nil {
			return refuse(errs.Field("continue_from.edit", "there is no edit to continue from"))
		}
		continuation = editMessage
	case cf.Gold && cf.CandidateID == 0 && !cf.Edit:
		if goldContent == nil {
			return refuse(errs.Field("continue_from.gold", "there is no gold reply to continue from"))
		}
		continuation = goldMessage
	default:
		return refuse(errs.Field("continue_from", "name exactly one of candidate_id, edit or gold"))
	}
	var citeNs []int32
	var citeChunks []int64
	if sub.Gold != nil {
		lists := make([][]int64, 0, len(ids))
		for _, id := range ids {
			lists = append(lists, cands[id].passages)
		}
		if citeNs, citeChunks, err = citations(sub.Gold.Content, PassageOrder(lists...)); err != nil {
			return refuse(err)
		}
	}

	message := func(s Side) int64 {
		if s.CandidateID != 0 {
			return cands[s.CandidateID].messageID
		}
		return s.MessageID
	}
	pairs := Derive(j)
	chosen, rejected := make([]int64, len(pairs)), make([]int64, len(pairs))
	rules, margins := make([]string, len(pairs)), make([]float32, len(pairs))
	for i, p := range pairs {
		chosen[i], rejected[i], rules[i], margins[i] = message(p.Chosen), message(p.Rejected), string(p.Rule), float32(p.Margin)
	}
	ranking, err := json.Marshal(sub.Ranking)
	if err != nil {
		return refuse(err)
	}
	flags, err := json.Marshal(sub.Flags)
	if err != nil {
		return refuse(err)
	}

	// Round trip 2: the writes. A batch outside a transaction block runs as one implicit
	// transaction that ends, durably (synchronous_commit stays on), with the batch: an error
	// in any statement rolls back all of them. Work that must run in Go inside this
	// transaction (webhook.Emit) starts it with b.BeginTx instead, runs on the batch's Tx
	// after Close, and commits. The advisory lock makes one submission per
	// trainer and turn at a time, so the revision number and the key check cannot race; a
	// retry that arrives while its first attempt is writing finds the key taken and writes
	// nothing.
	b := &pgx.Batch{}
	if turn.hooked || sub.InTx != nil {
		// The project's webhooks are told in the same transaction (webhook.Emit), which must
		// then be an explicit one: two round trips more, only for projects with a webhook for
		// judgments. (One registered after the lookup above misses this judgment, as one
		// registered a moment after the write would.)
		b.BeginTx(pgx.TxOptions{})
	}
	// The write's plan is the same whatever its values, and planning it anew (PostgreSQL's
	// first five executions on each connection, and whenever it judges a custom plan
	// cheaper) doubled its CPU: 3.0 against 1.5 ms a submit (issue 17). set_config rather
	// than SET LOCAL, which warns outside an explicit transaction block; in the lock's
	// statement, since each statement of a batch costs PostgreSQL a bind, a portal and a
	// snapshot of its own. It holds for the statements after it, which are planned later.
	b.Queue(`SELECT `+db.GenericPlansSettings+`, pg_advisory_xact_lock(hashtextextended($1, 0))`,
		fmt.Sprintf("judgment:%d:%d", turnID, trainerID))
	written := false
	parts := writeParts{edit: editContent != nil, gold: goldContent != nil, pairs: len(pairs) > 0, cites: len(citeNs) > 0}
	b.Queue(writeStatements[parts.index()], writeArgs(parts, []any{turnID, trainerID, sub.IdempotencyKey, hash[:], ranking, ratings, flags,
		sub.Comment, editedCandidate, editDiff, sub.TimeSpentMillis, continuation}, *userMessageID,
		editContent, goldContent, [4]any{chosen, rejected, rules, margins}, [2]any{citeNs, citeChunks})...).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&out.JudgmentID, &out.Revision, &out.EditedMessageID, &out.GoldMessageID, &out.ContinuationMessageID)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		written = err == nil
		return err
	})
	br := s.pool.SendBatch(ctx, b)
	tx := br.Tx()
	if tx != nil {
		defer tx.Rollback(ctx) //nolint:errcheck // after Commit it does nothing
	}
	if err := br.Close(); err != nil {
		return out, err
	}
	out.Pairs = len(pairs)
	if written && tx != nil {
		if turn.hooked {
			if err := emitJudged(ctx, tx, turn, trainerID, out); err != nil {
				return out, err
			}
		}
		// A campaign's claim is completed in the same transaction (Submission.InTx).
		if sub.InTx != nil {
			if err := sub.InTx(ctx, tx, out.JudgmentID); err != nil {
				return out, err
			}
		}
		if err := tx.Commit(ctx); err != nil {
			return out, err
		}
	}
	if !written {
		out.Pairs = 0
		if tx != nil {
			if err := tx.Rollback(ctx); err != nil {
				return out, err
			}
		}
		// The key is taken: this is a retry (the lookups do not read the key), or another
		// submission of the trainer's under the same key, for this turn or another, got in
		// first. Answer from what the key stored.
		stored, err := scanStored(s.pool.QueryRow(ctx, storedJudgmentSQL, trainerID, sub.IdempotencyKey))
		if err != nil {
			return out, err
		}
		if stored == nil {
			return out, fmt.Errorf("judgment under key %q was neither written nor found", sub.IdempotencyKey)
		}
		return stored.replay(turnID, sub.IdempotencyKey, hash[:])
	}
	return out, nil
}

// turnRow is what a submission looks up about its turn, for the write and the webhooks.
type turnRow struct {
	id, projectID, personaID, conversationID int64
	hooked                                   bool // a webhook of the project wants judgment.submitted
}

// writeParts is what a submission's write holds besides the judgment: each is a part of the
// statement only when there is something to write.
type writeParts struct{ edit, gold, pairs, cites bool }

// writeStatements is writeJudgmentSQL for each combination of writeParts (edit 1, gold 2,
// pairs 4, cites 8), built once: a statement holds only the inserts its submission needs.
var writeStatements = func() (out [16]string) {
	for i := range out {
		out[i] = writeJudgmentSQL(writeParts{edit: i&1 != 0, gold: i&2 != 0, pairs: i&4 != 0, cites: i&8 != 0})
	}
	return out
}()

func (p writeParts) index() int {
	i := 0
	for bit, on := range []bool{p.edit, p.gold, p.pairs, p.cites} {
		if on {
			i |= 1 << bit
		}
	}
	return i
}

// writeArgs are writeJudgmentSQL's parameters, in its order: $1 to $12 always, then the
// turn's user message (the human replies' parent), the edit's content, the gold reply's, the
// pairs' four arrays and the citations' two, each only when its part is in the statement (a
// parameter no part names has no type, and PostgreSQL refuses the statement).
func writeArgs(p writeParts, always []any, parent int64, edit, gold *string, pairs [4]any, cites [2]any) []any {
	args := append(make([]any, 0, len(always)+9), always...)
	if p.edit || p.gold {
		args = append(args, parent)
	}
	if p.edit {
		args = append(args, *edit)
	}
	if p.gold {
		args = append(args, *gold)
	}
	if p.pairs {
		args = append(args, pairs[:]...)
	}
	if p.cites {
		args = append(args, cites[:]...)
	}
	return args
}

// writeJudgmentSQL writes a judgment in one statement: its human replies, the judgment, its
// preference pairs and its citations, or nothing when its key is already taken. The pairs
// and the continuation name the edit and the gold reply by the stand-ins -1 and -2.
//
// Data-modifying CTEs all run, and see one snapshot, so each insert names the rows it
// depends on through the others' RETURNING, and fresh gates every one of them. An insert
// with nothing to write is left out rather than given no rows: PostgreSQL sets up every
// part of a statement each time it runs it (its tables, indexes, constraints and
// triggers), and executor start-up was about a fifth of the backends' CPU under
// BenchmarkJudgmentSubmit, as much as running the statements (perf, issue 17).
func writeJudgmentSQL(p writeParts) string {
	n := 12 // $1 to $12 are the judgment's own: see the insert into judgments below
	next := func() string { n++; return fmt.Sprintf("$%d", n) }
	var sql strings.Builder
	sql.WriteString(`WITH fresh AS (
		SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM judgments WHERE trainer_id = $2::bigint AND idempotency_key = $3::text)
	)`)
	editID, goldID := "NULL::bigint", "NULL::bigint"
	if p.edit || p.gold {
		sql.WriteString(`, parent AS (
		SELECT m.conversation_id, m.id FROM messages m, fresh WHERE m.id = ` + next() + `::bigint
	)`)
		for _, r := range []struct {
			on   bool
			name string
			id   *string
		}{{p.edit, "edit", &editID}, {p.gold, "gold", &goldID}} {
			if r.on {
				fmt.Fprintf(&sql, `, %s AS (
		INSERT INTO messages (conversation_id, parent_id, role, author, author_id, content)
		SELECT conversation_id, id, 'assistant', 'human', $2, %s::text FROM parent RETURNING id
	)`, r.name, next())
				*r.id = "(SELECT id FROM " + r.name + ")"
			}
		}
		fmt.Fprintf(&sql, `, human AS (
		SELECT %s AS edit_id, %s AS gold_id
	)`, editID, goldID)
		editID, goldID = "h.edit_id", "h.gold_id"
	}
	// A stand-in for a human reply, or the message id itself.
	message := func(expr string) string {
		if !p.edit && !p.gold {
			return expr
		}
		return fmt.Sprintf("CASE %s WHEN -1 THEN h.edit_id WHEN -2 THEN h.gold_id ELSE %s END", expr, expr)
	}
	human := ""
	if p.edit || p.gold {
		human = ", human h"
	}
	fmt.Fprintf(&sql, `, j AS (
		INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags,
			comment, edited_candidate_id, edited_message_id, edit_diff, gold_message_id, continuation_message_id, time_spent_ms)
		SELECT $1::bigint, $2::bigint, (SELECT coalesce(max(revision), 0) + 1 FROM judgments WHERE turn_id = $1 AND trainer_id = $2),
			$3::text, $4::bytea, $5::jsonb, $6::jsonb, $7::jsonb, $8::text, $9::bigint, %s, $10::jsonb, %s, %s, $11::int
		FROM fresh%s
		RETURNING id, revision, edited_message_id, gold_message_id, continuation_message_id
	)`, editID, goldID, message("$12::bigint"), human)
	if p.pairs {
		chosen, rejected, rule, margin := next(), next(), next(), next()
		fmt.Fprintf(&sql, `, pairs AS (
		INSERT INTO preference_pairs (judgment_id, chosen_message_id, rejected_message_id, rule, margin)
		SELECT j.id, %s, %s, p.rule, p.margin
		FROM j%s, unnest(%s::bigint[], %s::bigint[], %s::text[], %s::real[]) AS p (chosen, rejected, rule, margin)
	)`, message("p.chosen"), message("p.rejected"), human, chosen, rejected, rule, margin)
	}
	if p.cites {
		fmt.Fprintf(&sql, `, cites AS (
		INSERT INTO judgment_citations (judgment_id, n, chunk_id)
		SELECT j.id, c.n, c.chunk_id FROM j, unnest(%s::int[], %s::bigint[]) AS c (n, chunk_id)
	)`, next(), next())
	}
	sql.WriteString(`
	SELECT id, revision, edited_message_id, gold_message_id, continuation_message_id FROM j`)
	return sql.String()
}

// emitJudged tells the project's webhooks about a new judgment, in the transaction that
// stores it. A replayed submission is not new, and emits nothing.
func emitJudged(ctx context.Context, tx pgx.Tx, t turnRow, trainerID int64, out Submitted) error {
	_, err := webhook.Emit(ctx, tx, t.projectID, webhook.JudgmentSubmitted, map[string]any{
		"judgment_id": out.JudgmentID, "turn_id": t.id, "conversation_id": t.conversationID, "persona_id": t.personaID,
		"trainer_id": trainerID, "revision": out.Revision, "pairs": out.Pairs,
		"edited": out.EditedMessageID != nil, "gold": out.GoldMessageID != nil,
	})
	return err
}

// canonical returns the submission as it is hashed and stored: absent and empty ratings
// and flags are the same thing, so "flags": {} or a candidate with an empty list of flags
// is the same submission as no flags at all, and a retry that spells it differently is
// still a retry.
func (sub Submission) canonical() Submission {
	ratings := make(map[string]map[string]int, len(sub.Ratings))
	for id, dims := range sub.Ratings {
		if len(dims) > 0 {
			ratings[id] = dims
		}
	}
	flags := make(map[string][]string, len(sub.Flags))
	for id, fs := range sub.Flags {
		if len(fs) > 0 {
			flags[id] = fs
		}
	}
	sub.Ratings, sub.Flags = ratings, flags
	return sub
}

// checkRatings validates the ratings against the turn and the rubric, fills normalized with
// 0..1 scores for the derivation, and returns what to store: each value with its scale, so
// a later rubric change cannot change what a rating meant.
func checkRatings(in map[string]map[string]int, ids []int64, rubric []Scale, normalized map[int64]map[string]float64) ([]byte, error) {
	type stored struct {
		Value int `json:"value"`
		Min   int `json:"min"`
		Max   int `json:"max"`
	}
	out := map[string]map[string]stored{}
	for key, dims := range in {
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil || !slices.Contains(ids, id) {
			return nil, errs.E(errs.Unprocessable, "ratings name candidate %q, which is not in this turn", key)
		}
		normalized[id] = map[string]float64{}
		out[key] = map[string]stored{}
		for dim, v := range dims {
			i := slices.IndexFunc(rubric, func(s Scale) bool { return s.Key == dim })
			if i < 0 {
				return nil, errs.E(errs.Unprocessable, "ratings[%s]: %q is not a dimension of this persona's rubric", key, dim)
			}
			n, err := Normalize(dim, v, rubric[i].Min, rubric[i].Max)
			if err != nil {
				return nil, errs.E(errs.Unprocessable, "ratings[%s]: %s", key, err)
			}
			normalized[id][dim] = n
			out[key][dim] = stored{Value: v, Min: rubric[i].Min, Max: rubric[i].Max}
		}
	}
	return json.Marshal(out)
}

func checkFlags(in map[string][]string, ids []int64) error {
	for key, flags := range in {
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil || !slices.Contains(ids, id) {
			return errs.E(errs.Unprocessable, "flags name candidate %q, which is not in this turn", key)
		}
		for _, f := range flags {
			if !slices.Contains(Flags, f) {
				return errs.E(errs.Unprocessable, "flags[%s]: %q is not one of %s", key, f, strings.Join(Flags, ", "))
			}
		}
	}
	return nil
}

// Diff is diffOps for callers outside the package: the trainer's screen shows it live.
func Diff(from, to string) [][2]any { return diffOps(from, to) }

// diffOps is the edit as a character-level diff, cleaned up to whole words and phrases so it
// reads well in Chinese and English alike.
func diffOps(from, to string) [][2]any {
	dmp := diffmatchpatch.New()
	diffs := dmp.DiffCleanupSemantic(dmp.DiffMain(from, to, false))
	out := make([][2]any, len(diffs))
	for i, d := range diffs {
		out[i] = [2]any{int(d.Type), d.Text}
	}
	return out
}

// TurnOwner returns the project and persona a turn belongs to, for access checks and rubrics.
func (s *Store) TurnOwner(ctx context.Context, turnID int64) (projectID, personaID int64, err error) {
	b := &pgx.Batch{}
	p := s.QueueTurnOwner(b, turnID)
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return 0, 0, db.Error(err, "turn %d", turnID)
	}
	o, err := p.Result()
	return o.ProjectID, o.PersonaID, err
}

// Owner is the project and persona a turn belongs to.
type Owner struct{ ProjectID, PersonaID int64 }

// QueueTurnOwner queues TurnOwner's lookup on b, for a caller that asks other stores in the
// same round trip (the access check).
func (s *Store) QueueTurnOwner(b *pgx.Batch, turnID int64) *db.Pending[Owner] {
	return db.Queue(b, pgx.RowToStructByPos[Owner], errs.P("turn %d", turnID),
		`SELECT c.project_id, c.persona_id FROM turns t JOIN conversations c ON c.id = t.conversation_id WHERE t.id = $1`, turnID)
}

// JudgmentView is a stored judgment, for the trainer's screen.
type JudgmentView struct {
	ID                    int64           `json:"id" db:"id"`
	Revision              int             `json:"revision" db:"revision"`
	Ranking               json.RawMessage `json:"ranking" db:"ranking"`
	Ratings               json.RawMessage `json:"ratings" db:"ratings"`
	Flags                 json.RawMessage `json:"flags" db:"flags"`
	Comment               string          `json:"comment" db:"comment"`
	EditedCandidateID     *int64          `json:"edited_candidate_id" db:"edited_candidate_id"`
	EditedMessageID       *int64          `json:"edited_message_id" db:"edited_message_id"`
	EditDiff              json.RawMessage `json:"edit_diff" db:"edit_diff"`
	GoldMessageID         *int64          `json:"gold_message_id" db:"gold_message_id"`
	ContinuationMessageID int64           `json:"continuation_message_id" db:"continuation_message_id"`
	TimeSpentMillis       int             `json:"time_spent_ms" db:"time_spent_ms"`
	Citations             []int64         `json:"citations" db:"citations"` // chunk ids the gold reply cites, by number
	// GoldStale is true once a document the gold reply cites has a newer version.
	GoldStale bool `json:"gold_stale" db:"gold_stale"`
}

// Judgments returns a trainer's judgments of a turn, newest revision first.
func (s *Store) Judgments(ctx context.Context, turnID, trainerID int64) ([]JudgmentView, error) {
	rows, _ := s.pool.Query(ctx, `SELECT id, revision, ranking, ratings, flags, comment, edited_candidate_id, edited_message_id,
			edit_diff, gold_message_id, continuation_message_id, time_spent_ms,
			coalesce((SELECT array_agg(jc.chunk_id ORDER BY jc.n) FROM judgment_citations jc WHERE jc.judgment_id = j.id), '{}') AS citations,
			EXISTS (SELECT 1 FROM judgment_citations jc JOIN chunks c ON c.id = jc.chunk_id
				WHERE jc.judgment_id = j.id AND NOT c.current) AS gold_stale
		FROM judgments j WHERE turn_id = $1 AND trainer_id = $2 ORDER BY revision DESC`, turnID, trainerID)
	out, err := pgx.CollectRows(rows, pgx.RowToStructByName[JudgmentView])
	return out, db.Error(err, "judgments of turn %d", turnID)
}

// citation matches a passage number in a reply: [2], or the full-width 【2】 Chinese input
// methods produce.
var citation = regexp.MustCompile(`[\[【](\d{1,3})[\]】]`)

// Citations returns the passage numbers text cites, in order, without repeats.
func Citations(text string) []int {
	var out []int
	for _, m := range citation.FindAllStringSubmatch(text, -1) {
		n, _ := strconv.Atoi(m[1])
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

// PassageOrder numbers a turn's passages as the trainer's screen shows them: every chunk
// its candidates were given, in candidate order, each once. Candidates of one prompt
// version share their passages, so the numbers match the candidates' own citations.
func PassageOrder(passageLists ...[]int64) []int64 {
	var out []int64
	for _, ids := range passageLists {
		for _, id := range ids {
			if !slices.Contains(out, id) {
				out = append(out, id)
			}
		}
	}
	return out
}

// citations maps the passage numbers a gold reply cites to the turn's passages, so that a
// later version of their document can mark the gold reply stale.
func citations(gold string, passages []int64) ([]int32, []int64, error) {
	ns := Citations(gold)
	if len(ns) == 0 || len(passages) == 0 {
		return nil, nil, nil // bracketed numbers in a turn without passages are not citations
	}
	out, chunks := make([]int32, len(ns)), make([]int64, len(ns))
	for i, n := range ns {
		if n < 1 || n > len(passages) {
			return nil, nil, errs.Field("gold.content", "cites [%d], but the turn has %d passages", n, len(passages))
		}
		out[i], chunks[i] = int32(n), passages[n-1]
	}
	return out, chunks, nil
}

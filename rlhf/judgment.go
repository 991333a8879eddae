package rlhf

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
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

// Submit stores a judgment of a turn and its preference pairs in one transaction. A retry
// with the same idempotency key and the same content returns the stored result; the same key
// with other content is a Conflict. Judging a turn again adds a revision.
func (s *Store) Submit(ctx context.Context, turnID, trainerID int64, rubric []Scale, sub Submission) (Submitted, error) {
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

	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One submission per trainer and turn at a time: the idempotency check and the
		// revision number below cannot race.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, fmt.Sprintf("judgment:%d:%d", turnID, trainerID)); err != nil {
			return err
		}
		// One round trip for what the rest depends on: a stored submission under this key,
		// the turn's user message, and the next revision number.
		var stored []byte
		var storedID, storedTurn *int64
		var userMessageID *int64
		var nextRevision int
		err := tx.QueryRow(ctx, `SELECT k.id, k.turn_id, k.request_hash,
				(SELECT user_message_id FROM turns WHERE id = $1),
				(SELECT coalesce(max(revision), 0) + 1 FROM judgments WHERE turn_id = $1 AND trainer_id = $2)
			FROM (SELECT 1) one LEFT JOIN judgments k ON k.trainer_id = $2 AND k.idempotency_key = $3`,
			turnID, trainerID, sub.IdempotencyKey).Scan(&storedID, &storedTurn, &stored, &userMessageID, &nextRevision)
		if err != nil {
			return err
		}
		if storedID != nil {
			// A key names one submission of one turn: the same body sent to another turn is
			// another judgment, and replaying the first turn's result would hide that.
			if *storedTurn != turnID {
				return errs.E(errs.Conflict, "idempotency key %q was already used to judge another turn: send a new key with each judgment", sub.IdempotencyKey)
			}
			if !bytes.Equal(stored, hash[:]) {
				return errs.E(errs.Conflict, "idempotency key %q was already used for a different submission", sub.IdempotencyKey)
			}
			out.Replayed = true
			return tx.QueryRow(ctx, `SELECT j.id, j.revision, j.continuation_message_id, j.edited_message_id, j.gold_message_id,
					(SELECT count(*) FROM preference_pairs p WHERE p.judgment_id = j.id)::int FROM judgments j WHERE j.id = $1`, *storedID).
				Scan(&out.JudgmentID, &out.Revision, &out.ContinuationMessageID, &out.EditedMessageID, &out.GoldMessageID, &out.Pairs)
		}
		if userMessageID == nil {
			return db.Error(pgx.ErrNoRows, "turn %d", turnID)
		}
		out.Revision = nextRevision

		type cand struct {
			messageID int64
			status    Status
			content   string
		}
		cands := map[int64]cand{}
		var ids []int64
		rows, err := tx.Query(ctx, `SELECT c.id, c.message_id, c.status, m.content FROM candidates c JOIN messages m ON m.id = c.message_id
			WHERE c.turn_id = $1 ORDER BY c.position`, turnID)
		if err != nil {
			return err
		}
		for rows.Next() {
			var id int64
			var c cand
			if err := rows.Scan(&id, &c.messageID, &c.status, &c.content); err != nil {
				return err
			}
			cands[id] = c
			ids = append(ids, id)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		// Only replies a trainer could read are judged: a failed or empty candidate is left out
		// of the ranking, ratings, edit and continuation, so it can never become one side of a
		// preference pair or an SFT row.
		var usable []int64
		for _, id := range ids {
			switch c := cands[id]; {
			case c.status == StatusStreaming:
				return errs.E(errs.Unprocessable, "candidate %d is still streaming: wait for it to finish or cancel it", id)
			case Usable(c.status, c.content):
				usable = append(usable, id)
			}
		}
		for _, group := range sub.Ranking {
			for _, id := range group {
				if c, ok := cands[id]; ok && !Usable(c.status, c.content) {
					return errs.Field("ranking", "candidate %d failed or is empty: leave it out of the ranking, or regenerate it", id)
				}
			}
		}
		for key := range sub.Ratings {
			if id, err := strconv.ParseInt(key, 10, 64); err == nil {
				if c, ok := cands[id]; ok && !Usable(c.status, c.content) {
					return errs.Field("ratings", "candidate %d failed or is empty: it cannot be rated", id)
				}
			}
		}
		if sub.Edit != nil {
			if c, ok := cands[sub.Edit.CandidateID]; ok && !Usable(c.status, c.content) {
				return errs.Field("edit.candidate_id", "candidate %d failed or is empty: write a gold reply instead", sub.Edit.CandidateID)
			}
		}
		if id := sub.ContinueFrom.CandidateID; id != 0 {
			if c, ok := cands[id]; ok && !Usable(c.status, c.content) {
				return errs.Field("continue_from.candidate_id", "candidate %d failed or is empty: continue from another reply", id)
			}
		}

		j := Judgment{Ranking: sub.Ranking, Ratings: map[int64]map[string]float64{}}
		if err := j.Validate(usable); err != nil {
			return err
		}
		ratings, err := checkRatings(sub.Ratings, usable, rubric, j.Ratings)
		if err != nil {
			return err
		}
		if err := checkFlags(sub.Flags, ids); err != nil {
			return err
		}
		if utf8.RuneCountInString(sub.Comment) > 4000 {
			return errs.Field("comment", "must be at most 4000 characters")
		}
		if sub.TimeSpentMillis < 0 || sub.TimeSpentMillis > 24*3600*1000 {
			return errs.Field("time_spent_ms", "must be between 0 and a day, got %d", sub.TimeSpentMillis)
		}

		human := func(content string) (int64, error) {
			var id int64
			err := tx.QueryRow(ctx, `INSERT INTO messages (conversation_id, parent_id, role, author, author_id, content)
				SELECT conversation_id, id, 'assistant', 'human', $2, $3 FROM messages WHERE id = $1 RETURNING id`,
				*userMessageID, trainerID, content).Scan(&id)
			return id, err
		}
		var editDiff any
		var editedCandidate *int64
		if sub.Edit != nil {
			orig, ok := cands[sub.Edit.CandidateID]
			switch {
			case !ok:
				return errs.Field("edit.candidate_id", "candidate %d is not in this turn", sub.Edit.CandidateID)
			case strings.TrimSpace(sub.Edit.Content) == "":
				return errs.Field("edit.content", "must not be empty")
			case utf8.RuneCountInString(sub.Edit.Content) > maxReplyRunes:
				return errs.Field("edit.content", "must be at most %d characters", maxReplyRunes)
			case sub.Edit.Content == orig.content:
				return errs.Field("edit.content", "is the same as the candidate: nothing was corrected")
			}
			id, err := human(sub.Edit.Content)
			if err != nil {
				return err
			}
			out.EditedMessageID, editedCandidate = &id, &sub.Edit.CandidateID
			j.Edited = &Edit{Original: sub.Edit.CandidateID, Reply: Reply{MessageID: id}}
			editDiff = diffOps(orig.content, sub.Edit.Content)
		}
		if sub.Gold != nil {
			switch {
			case strings.TrimSpace(sub.Gold.Content) == "":
				return errs.Field("gold.content", "must not be empty")
			case utf8.RuneCountInString(sub.Gold.Content) > maxReplyRunes:
				return errs.Field("gold.content", "must be at most %d characters", maxReplyRunes)
			}
			id, err := human(sub.Gold.Content)
			if err != nil {
				return err
			}
			out.GoldMessageID = &id
			j.Gold = &Reply{MessageID: id}
		}
		switch cf := sub.ContinueFrom; {
		case (cf.CandidateID != 0) && !cf.Edit && !cf.Gold:
			c, ok := cands[cf.CandidateID]
			if !ok {
				return errs.Field("continue_from.candidate_id", "candidate %d is not in this turn", cf.CandidateID)
			}
			out.ContinuationMessageID = c.messageID
		case cf.Edit && cf.CandidateID == 0 && !cf.Gold:
			if out.EditedMessageID == nil {
				return errs.Field("continue_from.edit", "there is no edit to continue from")
			}
			out.ContinuationMessageID = *out.EditedMessageID
		case cf.Gold && cf.CandidateID == 0 && !cf.Edit:
			if out.GoldMessageID == nil {
				return errs.Field("continue_from.gold", "there is no gold reply to continue from")
			}
			out.ContinuationMessageID = *out.GoldMessageID
		default:
			return errs.Field("continue_from", "name exactly one of candidate_id, edit or gold")
		}

		ranking, _ := json.Marshal(sub.Ranking)
		flags, _ := json.Marshal(sub.Flags)
		var diffJSON []byte
		if editDiff != nil {
			diffJSON, _ = json.Marshal(editDiff)
		}
		if err := tx.QueryRow(ctx, `INSERT INTO judgments (turn_id, trainer_id, revision, idempotency_key, request_hash, ranking, ratings, flags,
				comment, edited_candidate_id, edited_message_id, edit_diff, gold_message_id, continuation_message_id, time_spent_ms)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id`,
			turnID, trainerID, out.Revision, sub.IdempotencyKey, hash[:], ranking, ratings, flags, sub.Comment,
			editedCandidate, out.EditedMessageID, diffJSON, out.GoldMessageID, out.ContinuationMessageID, sub.TimeSpentMillis).Scan(&out.JudgmentID); err != nil {
			return err
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
		// One statement rather than COPY: a handful of rows, and COPY costs extra round trips.
		if _, err := tx.Exec(ctx, `INSERT INTO preference_pairs (judgment_id, chosen_message_id, rejected_message_id, rule, margin)
			SELECT $1, * FROM unnest($2::bigint[], $3::bigint[], $4::text[], $5::real[])`,
			out.JudgmentID, chosen, rejected, rules, margins); err != nil {
			return err
		}
		out.Pairs = len(pairs)
		if sub.InTx != nil {
			if err := sub.InTx(ctx, tx, out.JudgmentID); err != nil {
				return err
			}
		}
		if sub.Gold != nil {
			if err := storeCitations(ctx, tx, turnID, out.JudgmentID, sub.Gold.Content); err != nil {
				return err
			}
		}
		return emitJudged(ctx, tx, turnID, trainerID, out)
	})
	return out, db.Error(err, "judge turn %d", turnID)
}

// emitJudged tells the project's webhooks about a new judgment, in the transaction that
// stores it. A replayed submission is not new, and emits nothing.
func emitJudged(ctx context.Context, tx pgx.Tx, turnID, trainerID int64, out Submitted) error {
	var projectID, personaID, conversationID int64
	if err := tx.QueryRow(ctx, `SELECT c.project_id, c.persona_id, c.id FROM turns t JOIN conversations c ON c.id = t.conversation_id
		WHERE t.id = $1`, turnID).Scan(&projectID, &personaID, &conversationID); err != nil {
		return err
	}
	_, err := webhook.Emit(ctx, tx, projectID, webhook.JudgmentSubmitted, map[string]any{
		"judgment_id": out.JudgmentID, "turn_id": turnID, "conversation_id": conversationID, "persona_id": personaID,
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
	err = s.pool.QueryRow(ctx, `SELECT c.project_id, c.persona_id FROM turns t JOIN conversations c ON c.id = t.conversation_id WHERE t.id = $1`,
		turnID).Scan(&projectID, &personaID)
	return projectID, personaID, db.Error(err, "turn %d", turnID)
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

// storeCitations records which of the turn's passages a gold reply cites by number, so
// that a later version of their document can mark the gold reply stale.
func storeCitations(ctx context.Context, tx pgx.Tx, turnID, judgmentID int64, gold string) error {
	ns := Citations(gold)
	if len(ns) == 0 {
		return nil
	}
	rows, _ := tx.Query(ctx, `SELECT passage_ids FROM candidates WHERE turn_id = $1 ORDER BY position`, turnID)
	lists, err := pgx.CollectRows(rows, pgx.RowTo[[]int64])
	if err != nil {
		return err
	}
	passages := PassageOrder(lists...)
	if len(passages) == 0 {
		return nil // bracketed numbers in a turn without passages are not citations
	}
	chunks := make([]int64, len(ns))
	for i, n := range ns {
		if n < 1 || n > len(passages) {
			return errs.Field("gold.content", "cites [%d], but the turn has %d passages", n, len(passages))
		}
		chunks[i] = passages[n-1]
	}
	_, err = tx.Exec(ctx, `INSERT INTO judgment_citations (judgment_id, n, chunk_id) SELECT $1, * FROM unnest($2::int[], $3::bigint[])`,
		judgmentID, ns, chunks)
	return err
}

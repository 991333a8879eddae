package export

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/rlhf"
)

// Query is a filter resolved against the database: ids instead of names, and the moment the
// export reads as of. Sources build their SQL from it.
type Query struct {
	ProjectID int64
	AsOf      time.Time
	Filter    Filter
	// consensus collects consensus mode's votes for the manifest; nil when it is off.
	consensus *Consensus
}

// args are the positional parameters every source's SQL may use, in the order judgmentsSQL
// numbers them. A nil list means "no restriction".
func (q Query) args() []any {
	list := func(s []string) any {
		if len(s) == 0 {
			return nil
		}
		return s
	}
	var versions any
	if len(q.Filter.PromptVersions) > 0 {
		versions = q.Filter.PromptVersions
	}
	var flags any
	if len(q.Filter.ExcludeFlags) > 0 {
		flags = q.Filter.ExcludeFlags
	}
	return []any{q.ProjectID, q.AsOf, list(q.Filter.Personas), versions, list(q.Filter.Models), list(q.Filter.Statuses),
		q.Filter.From, q.Filter.To, list(q.Filter.Annotators), q.Filter.IncludeBaseline, flags, q.Filter.MinMargin,
		// Quality control (issue 14): $13 accepted only, $14 exclude held, $15 exclude speed-flagged.
		q.Filter.AcceptedOnly, q.Filter.ExcludeHeld, q.Filter.ExcludeSpeedFlagged,
		// Quality control, part C: $16 minimum item agreement, $17 consensus mode.
		q.Filter.MinAgreement, q.Filter.Consensus}
}

// judgmentsSQL selects the latest revision, as of $2, of each trainer's judgment of each turn
// in project $1 that passes the filter (jd). Parameters: see args.
const judgmentsSQL = `WITH latest AS (
	SELECT DISTINCT ON (j.turn_id, j.trainer_id) j.id, j.turn_id, j.trainer_id, j.ranking, j.ratings, j.flags, j.comment,
		j.edited_candidate_id, j.edited_message_id, j.gold_message_id, j.created_at
	FROM judgments j
	JOIN turns t ON t.id = j.turn_id
	JOIN conversations cv ON cv.id = t.conversation_id
	WHERE cv.project_id = $1 AND j.created_at <= $2
		-- A side-swap repeat's answer is a check of the trainer, not what they think of the turn.
		AND ` + rlhf.DataSQL + `
	ORDER BY j.turn_id, j.trainer_id, j.revision DESC
), jd AS MATERIALIZED (
	SELECT l.*, t.conversation_id, t.user_message_id, p.slug AS persona, u.login AS annotator
	FROM latest l
	JOIN turns t ON t.id = l.turn_id
	JOIN conversations cv ON cv.id = t.conversation_id
	JOIN personas p ON p.id = cv.persona_id
	JOIN users u ON u.id = l.trainer_id
	WHERE ($3::text[] IS NULL OR p.slug = ANY ($3))
		AND ($7::timestamptz IS NULL OR l.created_at >= $7)
		AND ($8::timestamptz IS NULL OR l.created_at < $8)
		AND ($9::text[] IS NULL OR u.login = ANY ($9))
		-- Every source passes the same arguments, so each must be typed even where unused.
		AND $11::text[] IS NOT DISTINCT FROM $11::text[] AND $12::float8 >= 0
		-- Quality control (issue 14): judgment_checks only; no row is unreviewed, unflagged, not held.
		AND ($13::bool IS NOT TRUE OR EXISTS (SELECT 1 FROM judgment_checks qc WHERE qc.judgment_id = l.id AND qc.review_state = 'accepted'))
		AND ($14::bool IS NOT TRUE OR NOT EXISTS (SELECT 1 FROM judgment_checks qc WHERE qc.judgment_id = l.id AND qc.held))
		AND ($15::bool IS NOT TRUE OR NOT EXISTS (SELECT 1 FROM judgment_checks qc WHERE qc.judgment_id = l.id AND qc.speed_flagged))
		-- Minimum item agreement: only campaign items have one (item_agreement, refreshed by agreement).
		AND ($16::float8 = 0 OR EXISTS (SELECT 1 FROM campaign_items ci JOIN item_agreement ia ON ia.item_id = ci.id
			WHERE ci.turn_id = l.turn_id AND ia.agreement >= $16))
		AND $17::bool IS NOT NULL -- consensus mode: read by the pairs' votes (turnsSQL)
)
`

// contextSQL is a lateral join giving a judgment's context (ctx.roles, ctx.contents): the path
// from the conversation's first message to the turn's user message, oldest first.
const contextSQL = `CROSS JOIN LATERAL (
	WITH RECURSIVE up AS (
		SELECT m.parent_id, m.role, m.content, 0 AS depth FROM messages m WHERE m.id = jd.user_message_id
		UNION ALL
		SELECT m.parent_id, m.role, m.content, up.depth + 1 FROM messages m JOIN up ON m.id = up.parent_id
	)
	SELECT array_agg(up.role) AS roles, array_agg(up.content) AS contents FROM (SELECT * FROM up ORDER BY up.depth DESC) up
) ctx
`

// eligible is the SQL condition for a candidate c (with prompt version pv) to take part: not
// the baseline unless asked for, and of the filter's prompt versions, models and statuses.
func eligible(c, pv string) string {
	return fmt.Sprintf(`(($10 OR NOT %[1]s.baseline) AND ($4::int[] IS NULL OR %[2]s.version = ANY ($4))
		AND ($5::text[] IS NULL OR %[1]s.model = ANY ($5)) AND ($6::text[] IS NULL OR %[1]s.status = ANY ($6)))`, c, pv)
}

// message is one message of a conversation, as every conversational format writes it.
type message struct {
	Role    string `json:"role" parquet:"role"`
	Content string `json:"content" parquet:"content"`
}

func context2(roles, contents []string) []message {
	out := make([]message, len(roles))
	for i := range roles {
		out[i] = message{Role: roles[i], Content: contents[i]}
	}
	return out
}

// turnRecord is one judgment (its latest revision) of one turn, with the turn's context and
// candidates: what SFT, KTO and ranking rows are made from.
type turnRecord struct {
	JudgmentID     int64
	TurnID         int64
	ConversationID int64
	Persona        string
	Annotator      string
	Context        []message // ends with the turn's user message
	Ranking        [][]int64
	Ratings        map[string]map[string]rating
	Flags          map[string][]string
	Comment        string
	Edit           *humanReply // the correction, when its original candidate is eligible
	Gold           *humanReply // the gold reply, when the turn has an eligible candidate
	Candidates     []turnCandidate
	CreatedAt      time.Time
	EditMessageID  *int64
	GoldMessageID  *int64
	Pairs          []storedPair // only for the preference source
	Voters         []voter      // only for the preference source in consensus mode
	ContextHash    uint64       // contextHash(Context), for dedupe keys
}

// storedPair is a pair as derived and stored: message ids, the rule and the margin.
type storedPair struct {
	ID, Chosen, Rejected int64
	Rule                 string
	Margin               float64
}

type humanReply struct {
	CandidateID int64 // the corrected candidate, for an edit
	Content     string
}

type rating struct {
	Value int `json:"value"`
	Min   int `json:"min"`
	Max   int `json:"max"`
}

// turnCandidate is one eligible candidate of a turn.
type turnCandidate struct {
	ID            int64
	MessageID     int64
	Hash          uint64 // textHash(Content)
	Content       string
	Model         string
	PromptVersion int
	Baseline      bool
	Status        string
}

const sourceTurns = "judged turns"

// judgedTurns yields one record per latest judgment, in judgment id order.
var judgedTurns = Source[turnRecord]{Name: sourceTurns, Stream: streamTurns}

func streamTurns(ctx context.Context, tx pgx.Tx, q Query, yield func(turnRecord) error) error {
	return scanTurns(ctx, tx, q, false, yield)
}

// turnsSQL selects each judgment with its context and eligible candidates. With pairs, it
// also gathers the judgment's stored pairs as arrays: one row per judgment, not per pair,
// so a pair costs no lookups of its own (each of its sides is a candidate of the same turn,
// or the judgment's correction or gold reply).
func turnsSQL(pairs bool) string {
	pairCols, pairJoin := `, NULL::bigint[], NULL::bigint[], NULL::bigint[], NULL::text[], NULL::real[], NULL::jsonb`, ""
	if pairs {
		pairCols = `, ps.ids, ps.chosen, ps.rejected, ps.rules, ps.margins, vt.voters`
		// The arrays are built from rows already in order: one sort (or none) instead of one
		// per array_agg(… ORDER BY …).
		pairJoin = `CROSS JOIN LATERAL (
			SELECT coalesce(array_agg(pp.id), '{}') AS ids, coalesce(array_agg(pp.chosen_message_id), '{}') AS chosen,
				coalesce(array_agg(pp.rejected_message_id), '{}') AS rejected, coalesce(array_agg(pp.rule), '{}') AS rules,
				coalesce(array_agg(pp.margin), '{}') AS margins
			FROM (SELECT * FROM preference_pairs pp WHERE pp.judgment_id = jd.id ORDER BY pp.id) pp
		) ps
		` + votersSQL
	}
	return judgmentsSQL + `SELECT jd.id, jd.turn_id, jd.conversation_id, jd.persona, jd.annotator, ctx.roles, ctx.contents,
			jd.ranking, jd.ratings, jd.flags, jd.comment, jd.edited_candidate_id, jd.edited_message_id, em.content,
			jd.gold_message_id, gm.content, jd.created_at,
			coalesce(cs.ids, '{}'), coalesce(cs.message_ids, '{}'), coalesce(cs.contents, '{}'), coalesce(cs.models, '{}'),
			coalesce(cs.versions, '{}'), coalesce(cs.baselines, '{}'), coalesce(cs.statuses, '{}')` + pairCols + `
		FROM (SELECT * FROM jd ORDER BY jd.id) jd
		` + contextSQL + `
		LEFT JOIN messages em ON em.id = jd.edited_message_id
		LEFT JOIN messages gm ON gm.id = jd.gold_message_id
		CROSS JOIN LATERAL (
			SELECT array_agg(c.id) AS ids, array_agg(c.message_id) AS message_ids, array_agg(m.content) AS contents,
				array_agg(c.model) AS models, array_agg(pv.version) AS versions, array_agg(c.baseline) AS baselines,
				array_agg(c.status) AS statuses
			FROM (SELECT * FROM candidates c WHERE c.turn_id = jd.turn_id ORDER BY c.position) c
			JOIN messages m ON m.id = c.message_id
			JOIN prompt_versions pv ON pv.id = c.prompt_version_id
			WHERE ` + eligible("c", "pv") + `
				-- A failed or empty candidate is never a side of a row, whatever an older
				-- judgment made of it (rlhf.Usable keeps new ones out of judgments).
				AND ` + rlhf.UsableSQL("c.status", "m.content") + `

		) cs
		` + pairJoin + `
		ORDER BY jd.id`
}

func scanTurns(ctx context.Context, tx pgx.Tx, q Query, pairs bool, yield func(turnRecord) error) error {
	rows, err := tx.Query(ctx, turnsSQL(pairs), q.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	var (
		r                              turnRecord
		roles, contents                []string
		ranking, ratings, flags        []byte
		editedCandidate                *int64
		editContent, goldContent       *string
		ids, messageIDs                []int64
		candContents, models, statuses []string
		versions                       []int32
		baselines                      []bool
		pairIDs, chosen, rejected      []int64
		rules                          []string
		margins                        []float32
		voters                         []byte
	)
	for rows.Next() {
		if err := rows.Scan(&r.JudgmentID, &r.TurnID, &r.ConversationID, &r.Persona, &r.Annotator, &roles, &contents,
			&ranking, &ratings, &flags, &r.Comment, &editedCandidate, &r.EditMessageID, &editContent, &r.GoldMessageID, &goldContent,
			&r.CreatedAt, &ids, &messageIDs, &candContents, &models, &versions, &baselines, &statuses,
			&pairIDs, &chosen, &rejected, &rules, &margins, &voters); err != nil {
			return err
		}
		r.Context = context2(roles, contents)
		r.ContextHash = contextHash(r.Context)
		r.Ranking, r.Ratings, r.Flags = nil, nil, nil
		// Pairs need none of the judgment's JSON but the flags, and those only to exclude
		// some: decoding it for every judgment was a tenth of a pair export's time.
		if !pairs {
			if err := json.Unmarshal(ranking, &r.Ranking); err != nil {
				return fmt.Errorf("judgment %d: ranking: %w", r.JudgmentID, err)
			}
			if err := json.Unmarshal(ratings, &r.Ratings); err != nil {
				return fmt.Errorf("judgment %d: ratings: %w", r.JudgmentID, err)
			}
		}
		if !pairs || len(q.Filter.ExcludeFlags) > 0 {
			if err := json.Unmarshal(flags, &r.Flags); err != nil {
				return fmt.Errorf("judgment %d: flags: %w", r.JudgmentID, err)
			}
		}
		r.Candidates = make([]turnCandidate, len(ids))
		for i := range ids {
			r.Candidates[i] = turnCandidate{ID: ids[i], MessageID: messageIDs[i], Content: candContents[i], Model: models[i],
				PromptVersion: int(versions[i]), Baseline: baselines[i], Status: statuses[i], Hash: textHash(candContents[i])}
		}
		r.Voters = r.Voters[:0]
		if len(voters) > 0 {
			if err := json.Unmarshal(voters, &r.Voters); err != nil {
				return fmt.Errorf("judgment %d: votes: %w", r.JudgmentID, err)
			}
		}
		r.Pairs = r.Pairs[:0]
		for i := range pairIDs {
			// Margins are stored as real; rounding to the derivation's three decimals gives
			// 0.875, not 0.875000011920929.
			r.Pairs = append(r.Pairs, storedPair{ID: pairIDs[i], Chosen: chosen[i], Rejected: rejected[i], Rule: rules[i],
				Margin: roundMargin(float64(margins[i]))})
		}
		// A human reply takes part only beside what it is compared with: an edit when its
		// original is eligible, a gold reply when some candidate of the turn is.
		r.Edit, r.Gold = nil, nil
		if editedCandidate != nil && editContent != nil && r.candidate(*editedCandidate) != nil {
			r.Edit = &humanReply{CandidateID: *editedCandidate, Content: *editContent}
		}
		if goldContent != nil && len(r.Candidates) > 0 {
			r.Gold = &humanReply{Content: *goldContent}
		}
		if err := yield(r); err != nil {
			return err
		}
	}
	return rows.Err()
}

// candidate returns the eligible candidate with this id, or nil.
func (r *turnRecord) candidate(id int64) *turnCandidate {
	for i := range r.Candidates {
		if r.Candidates[i].ID == id {
			return &r.Candidates[i]
		}
	}
	return nil
}

// pairRecord is one stored preference pair with its context.
type pairRecord struct {
	PairID         int64
	JudgmentID     int64
	ConversationID int64
	Persona        string
	Annotator      string
	Rule           string
	Margin         float64
	Context        []message
	Chosen         string
	Rejected       string
	Dedupe         uint64 // dedupeKey(Context, Chosen, Rejected), from hashes made once per judgment
}

const sourcePairs = "preference pairs"

// preferencePairs yields the pairs of the latest judgments, by judgment and then pair id.
// A pair takes part when its rejected candidate is eligible and so is its chosen one (a
// human reply has no candidate and always is), its margin is at least the minimum, and its
// chosen candidate carries none of the excluded flags.
var preferencePairs = Source[pairRecord]{Name: sourcePairs, Stream: streamPairs}

func streamPairs(ctx context.Context, tx pgx.Tx, q Query, yield func(pairRecord) error) error {
	return scanTurns(ctx, tx, q, true, func(t turnRecord) error {
		for _, sp := range t.Pairs {
			if sp.Margin < q.Filter.MinMargin {
				continue
			}
			rejected := t.byMessage(sp.Rejected)
			if rejected == nil {
				continue
			}
			var chosen string
			var chosenHash uint64
			var chosenID int64 // 0: a human reply
			switch c := t.byMessage(sp.Chosen); {
			case c != nil:
				if flagged(t.Flags[strconv.FormatInt(c.ID, 10)], q.Filter.ExcludeFlags) {
					continue
				}
				chosen, chosenHash, chosenID = c.Content, c.Hash, c.ID
			case t.EditMessageID != nil && sp.Chosen == *t.EditMessageID && t.Edit != nil:
				chosen, chosenHash = t.Edit.Content, textHash(t.Edit.Content)
			case t.GoldMessageID != nil && sp.Chosen == *t.GoldMessageID && t.Gold != nil:
				chosen, chosenHash = t.Gold.Content, textHash(t.Gold.Content)
			default:
				continue // an ineligible candidate
			}
			if q.consensus != nil && !q.consensus.keep(t, sp.ID, chosenID, rejected.ID) {
				continue
			}
			p := pairRecord{PairID: sp.ID, JudgmentID: t.JudgmentID, ConversationID: t.ConversationID, Persona: t.Persona,
				Annotator: t.Annotator, Rule: sp.Rule, Margin: sp.Margin, Context: t.Context, Chosen: chosen, Rejected: rejected.Content,
				Dedupe: combine(t.ContextHash, chosenHash, rejected.Hash)}
			if err := yield(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// byMessage returns the eligible candidate whose message this is, or nil.
func (r *turnRecord) byMessage(messageID int64) *turnCandidate {
	for i := range r.Candidates {
		if r.Candidates[i].MessageID == messageID {
			return &r.Candidates[i]
		}
	}
	return nil
}

func flagged(flags, excluded []string) bool {
	for _, f := range flags {
		if slices.Contains(excluded, f) {
			return true
		}
	}
	return false
}

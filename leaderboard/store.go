package leaderboard

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/rlhf"
)

// Store reads votes from the database, fits boards over them and caches the boards.
type Store struct {
	pool   *pgxpool.Pool
	queue  jobs.Inserter
	now    func() time.Time
	inline int
}

// StoreOptions tune a store; the zero value is the default.
type StoreOptions struct {
	Now func() time.Time // time.Now
	// InlineJudgments is the most judgments a project may have for a stale board to be
	// refitted inside the request (InlineJudgments when 0; negative: never, always queue).
	InlineJudgments int
}

// NewStore returns a store on pool that queues big refreshes through queue.
func NewStore(pool *pgxpool.Pool, queue jobs.Inserter, o StoreOptions) *Store {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.InlineJudgments == 0 {
		o.InlineJudgments = InlineJudgments
	}
	return &Store{pool: pool, queue: queue, now: o.Now, inline: o.InlineJudgments}
}

// Dimension is one rubric dimension a board can be fitted on.
type Dimension struct {
	Key     string `json:"key"`
	Label   string `json:"label"`
	LabelEn string `json:"label_en"`
}

// candidateRow is one judged candidate with what it can be counted as.
type candidateRow struct {
	ID          int64
	TurnID      int64
	Model       string
	Position    int
	VersionID   int64
	Version     int
	PersonaID   int64
	Persona     string
	PublishedAt time.Time
	Features    Features // zero unless the board has style control
}

// judgmentRow is the latest revision of one trainer's judgment of one turn.
type judgmentRow struct {
	ID      int64
	TurnID  int64
	Trainer int64
	Login   string
	Ranking json.RawMessage
	Ratings json.RawMessage
	Blind   bool
	Checked bool
}

// loaded is what one read of the database gives a board, a comparison or the voter check.
type loaded struct {
	entries   []EntryInfo
	votes     []Vote
	judgments int
	positions []Position
	logins    map[int64]string
	versions  map[string]candidateRow // entry key → a candidate of it, for campaign drafts
	// judged and entryOf let a comparison take the votes of every dimension from one read.
	judged  []Judged
	entryOf map[int64]string
}

// votesOn is the votes of the loaded judgments on dimension ("" for the ranking).
func (l loaded) votesOn(dimension string) []Vote {
	var out []Vote
	for _, j := range l.judged {
		out = append(out, VotesOf(j, l.entryOf, dimension)...)
	}
	return out
}

func (o Options) validate() error {
	if !slices.Contains([]string{ByModel, ByVersion, ByModelVersion}, o.By) {
		return errs.Field("by", "must be one of %s, got %q", "model, version, model_version", o.By)
	}
	if !slices.Contains([]string{CountChecked, CountSubmitted}, o.Counted) {
		return errs.Field("counted", "must be one of %s, got %q", "checked, submitted", o.Counted)
	}
	if !slices.Contains([]string{SourceBlind, SourceAll}, o.Source) {
		return errs.Field("source", "must be one of %s, got %q", "blind, all", o.Source)
	}
	if !slices.Contains([]string{StyleNone, StyleControl}, o.Style) {
		return errs.Field("style", "must be one of %s, got %q", "none, control", o.Style)
	}
	if o.Rounds < 10 || o.Rounds > 10000 {
		return errs.Field("rounds", "must be between %d and %d, got %d", 10, 10000, o.Rounds)
	}
	return nil
}

// Dimensions lists the rubric dimensions of a persona (slug), or of every persona of the
// project when persona is "".
func (s *Store) Dimensions(ctx context.Context, projectID int64, persona string) ([]Dimension, error) {
	rows, _ := s.pool.Query(ctx, `SELECT DISTINCT ON (r.key) r.key, r.label, r.label_en
		FROM rubric_dimensions r JOIN personas p ON p.id = r.persona_id
		WHERE p.project_id = $1 AND ($2 = '' OR p.slug = $2)
		ORDER BY r.key, r.position`, projectID, persona)
	dims, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Dimension])
	if err != nil {
		return nil, fmt.Errorf("rubric dimensions of project %d: %w", projectID, err)
	}
	return dims, nil
}

// check validates o against the project: the persona exists, the dimension is in its
// rubric (a 422 that lists the valid ones).
func (s *Store) check(ctx context.Context, projectID int64, o Options) ([]Dimension, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Persona != "" {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM personas WHERE project_id = $1 AND slug = $2)`,
			projectID, o.Persona).Scan(&exists); err != nil {
			return nil, fmt.Errorf("persona %q: %w", o.Persona, err)
		}
		if !exists {
			return nil, errs.E(errs.NotFound, "%s: not found", errs.P("persona %q", o.Persona))
		}
	}
	dims, err := s.Dimensions(ctx, projectID, o.Persona)
	if err != nil {
		return nil, err
	}
	if o.Dimension != "" && !slices.ContainsFunc(dims, func(d Dimension) bool { return d.Key == o.Dimension }) {
		keys := make([]string, len(dims))
		for i, d := range dims {
			keys[i] = d.Key
		}
		e := errs.Field("dimension", "%q is not a dimension of the rubric; valid ones: %s", o.Dimension, strings.Join(keys, ", "))
		e.Kind = errs.Unprocessable
		return nil, e
	}
	return dims, nil
}

// load reads the project's judgments and their candidates in one snapshot and turns them
// into votes between the entries of o.By. Only the latest revision of each trainer's
// judgment of a turn counts; under CountChecked only judgments quality control passed
// (judgment_checks: accepted, not speed-flagged, not held; no row means unreviewed).
//
// keepAll keeps every judgment with its scores on every dimension, for votesOn.
func (s *Store) load(ctx context.Context, projectID int64, o Options, keepAll bool) (loaded, error) {
	var out loaded
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return out, fmt.Errorf("leaderboard: begin: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	const judged = `
		WITH latest AS (
			SELECT DISTINCT ON (j.turn_id, j.trainer_id) j.id, j.turn_id, j.trainer_id, j.ranking, j.ratings
			FROM judgments j
			JOIN turns t ON t.id = j.turn_id
			JOIN conversations c ON c.id = t.conversation_id
			JOIN personas p ON p.id = c.persona_id
			WHERE c.project_id = $1 AND ($2 = '' OR p.slug = $2)
				AND ` + rlhf.DataSQL + ` -- a side-swap repeat measures its trainer; it is no vote
			ORDER BY j.turn_id, j.trainer_id, j.revision DESC
		)
		SELECT l.id, l.turn_id, l.trainer_id, u.login, l.ranking, l.ratings,
			coalesce(camp.task_kind = 'blind_pairwise', false) AS blind,
			coalesce(jc.review_state = 'accepted' AND NOT jc.speed_flagged AND NOT jc.held, false) AS checked
		FROM latest l
		JOIN users u ON u.id = l.trainer_id
		LEFT JOIN campaign_items ci ON ci.turn_id = l.turn_id
		LEFT JOIN campaigns camp ON camp.id = ci.campaign_id
		LEFT JOIN judgment_checks jc ON jc.judgment_id = l.id
		WHERE ($3 OR coalesce(camp.task_kind = 'blind_pairwise', false))
		  AND ($4 OR coalesce(jc.review_state = 'accepted' AND NOT jc.speed_flagged AND NOT jc.held, false))
		ORDER BY l.id`
	rows, _ := tx.Query(ctx, judged, projectID, o.Persona, o.Source == SourceAll, o.Counted == CountSubmitted)
	js, err := pgx.CollectRows(rows, pgx.RowToStructByPos[judgmentRow])
	if err != nil {
		return out, fmt.Errorf("leaderboard: judgments of project %d: %w", projectID, err)
	}
	turns := make([]int64, 0, len(js))
	for _, j := range js {
		turns = append(turns, j.TurnID)
	}
	// The style features are counted here, next to the text, so a million replies never
	// cross the wire; without style control they are not computed at all. The patterns
	// are Features' definitions: 'n' makes ^ match at every line start.
	rows, _ = tx.Query(ctx, `SELECT cand.id, cand.turn_id, cand.model, cand.position, pv.id, pv.version, p.id, p.slug, pv.created_at,
			CASE WHEN $2 THEN char_length(m.content) ELSE 0 END,
			CASE WHEN $2 THEN regexp_count(m.content, '^#{1,6}[ \t]', 1, 'n') ELSE 0 END,
			CASE WHEN $2 THEN regexp_count(m.content, '^[ \t]*([-*+]|[0-9]+[.)])[ \t]', 1, 'n') ELSE 0 END,
			CASE WHEN $2 THEN regexp_count(m.content, '\*\*[^*]+\*\*', 1, 'n') ELSE 0 END
		FROM candidates cand
		JOIN messages m ON m.id = cand.message_id
		JOIN prompt_versions pv ON pv.id = cand.prompt_version_id
		JOIN personas p ON p.id = pv.persona_id
		WHERE cand.turn_id = ANY($1)`, turns, o.Style == StyleControl)
	cands, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (candidateRow, error) {
		var c candidateRow
		err := row.Scan(&c.ID, &c.TurnID, &c.Model, &c.Position, &c.VersionID, &c.Version, &c.PersonaID, &c.Persona,
			&c.PublishedAt, &c.Features.Length, &c.Features.Headers, &c.Features.Lists, &c.Features.Bold)
		return c, err
	})
	if err != nil {
		return out, fmt.Errorf("leaderboard: candidates of project %d: %w", projectID, err)
	}
	entryOf := make(map[int64]string, len(cands))
	out.entryOf = entryOf
	byTurn := map[int64][]candidateRow{}
	infos := map[string]EntryInfo{}
	out.versions = map[string]candidateRow{}
	var features map[int64]Features
	if o.Style == StyleControl {
		features = make(map[int64]Features, len(cands))
		for _, c := range cands {
			features[c.ID] = c.Features
		}
	}
	for _, c := range cands {
		info := entryFor(o.By, c)
		entryOf[c.ID] = info.Key
		infos[info.Key] = info
		out.versions[info.Key] = c
		byTurn[c.TurnID] = append(byTurn[c.TurnID], c)
	}
	out.logins = map[int64]string{}
	for _, j := range js {
		var jd Judged
		jd.ID, jd.Trainer, jd.Features = j.ID, j.Trainer, features
		if err := json.Unmarshal(j.Ranking, &jd.Ranking); err != nil {
			return out, fmt.Errorf("leaderboard: judgment %d: ranking: %w", j.ID, err)
		}
		if o.Dimension != "" || keepAll {
			scores, err := decodeRatings(j.Ratings)
			if err != nil {
				return out, fmt.Errorf("leaderboard: judgment %d: %w", j.ID, err)
			}
			jd.Scores = scores
		}
		out.votes = append(out.votes, VotesOf(jd, entryOf, o.Dimension)...)
		if keepAll {
			out.judged = append(out.judged, jd)
		}
		out.judgments++
		out.logins[j.Trainer] = j.Login
		if j.Blind && len(jd.Ranking) > 0 && len(jd.Ranking[0]) == 1 {
			shown := byTurn[j.TurnID]
			first := false
			for _, c := range shown {
				if c.ID == jd.Ranking[0][0] {
					first = c.Position == minPosition(shown)
				}
			}
			out.positions = append(out.positions, Position{Trainer: j.Trainer, Candidates: len(shown), First: first})
		}
	}
	for _, info := range infos {
		out.entries = append(out.entries, info)
	}
	return out, nil
}

func minPosition(cs []candidateRow) int {
	m := 0
	for i, c := range cs {
		if i == 0 || c.Position < m {
			m = c.Position
		}
	}
	return m
}

// entryFor is what candidate c counts as on a board by by.
func entryFor(by string, c candidateRow) EntryInfo {
	published := c.PublishedAt
	switch by {
	case ByModel:
		return EntryInfo{Key: c.Model, Label: c.Model, Model: c.Model}
	case ByModelVersion:
		return EntryInfo{Key: fmt.Sprintf("%s/v%d/%s", c.Persona, c.Version, c.Model),
			Label: fmt.Sprintf("%s v%d · %s", c.Persona, c.Version, c.Model), Model: c.Model, Persona: c.Persona, Version: c.Version,
			PublishedAt: &published}
	default:
		return EntryInfo{Key: fmt.Sprintf("%s/v%d", c.Persona, c.Version), Label: fmt.Sprintf("%s v%d", c.Persona, c.Version),
			Persona: c.Persona, Version: c.Version, PublishedAt: &published}
	}
}

// decodeRatings reads a judgment's stored ratings ({candidate: {dimension: {value, min,
// max}}}) as scores on 0..1, so dimensions on different scales compare alike.
func decodeRatings(raw json.RawMessage) (map[int64]map[string]float64, error) {
	var stored map[string]map[string]struct{ Value, Min, Max float64 }
	if err := json.Unmarshal(raw, &stored); err != nil {
		return nil, fmt.Errorf("ratings: %w", err)
	}
	out := make(map[int64]map[string]float64, len(stored))
	for key, dims := range stored {
		id, err := strconv.ParseInt(key, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("ratings: candidate %q: %w", key, err)
		}
		out[id] = map[string]float64{}
		for d, v := range dims {
			if v.Max > v.Min {
				out[id][d] = (v.Value - v.Min) / (v.Max - v.Min)
			}
		}
	}
	return out, nil
}

// Board answers the project's board chosen by o: the cached one when the votes have not
// changed since it was fitted; else it is refitted, inside the request for a project of up
// to InlineJudgments judgments, or by the refresh job for a bigger one, meanwhile answering
// the last fitted board marked stale (or, before the first, the notice refreshing).
func (s *Store) Board(ctx context.Context, projectID int64, o Options) (Board, error) {
	o.defaults()
	if _, err := s.check(ctx, projectID, o); err != nil {
		return Board{}, err
	}
	var b Board
	state, err := s.answer(ctx, RefreshArgs{ProjectID: projectID, Options: o}, &b)
	if err != nil {
		return Board{}, err
	}
	switch state {
	case stale:
		b.Stale = true
	case refreshing:
		b = emptyBoard(o, 0)
		b.Notices = append(b.Notices, NoticeRefreshing)
	}
	return b, nil
}

// VoterCheck is the voter check of one board: each trainer's votes screened against the
// board's fit.
type VoterCheck struct {
	Alpha  float64 `json:"alpha"` // the test's false-alarm rate
	Voters []Voter `json:"voters"`
	// Notices is empty, or refreshing: the check is being fitted in the background.
	Notices []string `json:"notices"`
	// RefreshedAt is when the check was fitted; Stale says votes came in since and a
	// refresh is queued.
	RefreshedAt *time.Time `json:"refreshed_at"`
	Stale       bool       `json:"stale"`
}

// Voters answers the voter check of the board chosen by o, cached and refreshed as boards
// are (Board). It needs the board's scores, not their intervals, so it fits without the
// bootstrap; its answer does not depend on rounds or seed.
func (s *Store) Voters(ctx context.Context, projectID int64, o Options) (VoterCheck, error) {
	o.defaults()
	if _, err := s.check(ctx, projectID, o); err != nil {
		return VoterCheck{}, err
	}
	o.Rounds, o.Seed = DefaultRounds, 1 // one cached check whatever the board's rounds
	var v VoterCheck
	state, err := s.answer(ctx, RefreshArgs{ProjectID: projectID, Options: o, What: WhatVoters}, &v)
	if err != nil {
		return VoterCheck{}, err
	}
	switch state {
	case stale:
		v.Stale = true
	case refreshing:
		v = VoterCheck{Alpha: Alpha, Voters: []Voter{}, Notices: []string{NoticeRefreshing}}
	}
	return v, nil
}

// fitVoters fits the board of o without its bootstrap and screens its voters.
func (s *Store) fitVoters(ctx context.Context, projectID int64, o Options) (VoterCheck, error) {
	l, err := s.load(ctx, projectID, o, false)
	if err != nil {
		return VoterCheck{}, err
	}
	o.Rounds = 0 // scores only (compute skips the bootstrap)
	_, f, err := compute(l.entries, l.votes, l.judgments, o)
	if err != nil {
		return VoterCheck{}, err
	}
	return VoterCheck{Alpha: Alpha, Voters: Screen(f, l.votes, l.positions, l.logins), Notices: []string{}}, nil
}

// Comparison is version B of one persona against version A: overall and per dimension.
type Comparison struct {
	Persona string `json:"persona"`
	A       int    `json:"a"` // version numbers
	B       int    `json:"b"`
	Counted string `json:"counted"`
	Source  string `json:"source"`
	// StyleControl says whether the scores behind the differences adjusted for length and
	// markdown (Options.Style control); the win rates are raw counts either way.
	StyleControl bool         `json:"style_control"`
	Overall      Difference   `json:"overall"`
	Dimensions   []Difference `json:"dimensions"`
	VerdictEn    string       `json:"verdict_en"`
	VerdictZh    string       `json:"verdict_zh"`
	// Campaign is a blind pairwise campaign over the two versions, ready to POST to
	// /projects/{project}/campaigns, when they were never compared or too little; null
	// otherwise. It still needs items before it can open.
	Campaign *campaign.Input `json:"campaign"`
	// Notices is empty, or refreshing: the comparison is being fitted in the background
	// and has no numbers yet.
	Notices []string `json:"notices"`
	// RefreshedAt is when the comparison was fitted; Stale says votes came in since and a
	// refresh is queued.
	RefreshedAt *time.Time `json:"refreshed_at"`
	Stale       bool       `json:"stale"`
}

// version is what a comparison needs of one of its two prompt versions.
type version struct {
	id, persona int64
	model       string
}

// compareInputs checks a comparison's input and returns the persona's rubric and the two
// versions.
func (s *Store) compareInputs(ctx context.Context, projectID int64, persona string, a, b int, o Options) ([]Dimension, map[int]version, error) {
	if persona == "" {
		return nil, nil, errs.Field("persona", "must not be empty")
	}
	if a <= 0 || b <= 0 || a == b {
		return nil, nil, errs.Field("b", "must be two different version numbers, got %d and %d", a, b)
	}
	dims, err := s.check(ctx, projectID, o)
	if err != nil {
		return nil, nil, err
	}
	ids := map[int]version{}
	rows, _ := s.pool.Query(ctx, `SELECT pv.version, pv.id, pv.model, p.id FROM prompt_versions pv JOIN personas p ON p.id = pv.persona_id
		WHERE p.project_id = $1 AND p.slug = $2 AND pv.version = ANY($3)`, projectID, persona, []int{a, b})
	var (
		n int
		v version
	)
	if _, err := pgx.ForEachRow(rows, []any{&n, &v.id, &v.model, &v.persona}, func() error {
		ids[n] = v
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("versions of %s: %w", persona, err)
	}
	for _, want := range []int{a, b} {
		if _, ok := ids[want]; !ok {
			return nil, nil, errs.E(errs.NotFound, "%s: not found", errs.P("version %d of persona %s", want, persona))
		}
	}
	return dims, ids, nil
}

// compareOptions are the options of a comparison's boards: versions of the persona.
func compareOptions(persona string, o Options) Options {
	o.By, o.Persona, o.Dimension = ByVersion, persona, ""
	o.defaults()
	return o
}

// Compare sets version b of persona against version a, on the ranking and on every
// dimension of the persona's rubric: cached and refreshed as boards are (Board), since it
// fits a board with its bootstrap per dimension.
func (s *Store) Compare(ctx context.Context, projectID int64, persona string, a, b int, o Options) (Comparison, error) {
	o = compareOptions(persona, o)
	if _, _, err := s.compareInputs(ctx, projectID, persona, a, b, o); err != nil {
		return Comparison{}, err
	}
	var c Comparison
	state, err := s.answer(ctx, RefreshArgs{ProjectID: projectID, Options: o, What: WhatCompare, A: a, B: b}, &c)
	if err != nil {
		return Comparison{}, err
	}
	switch state {
	case stale:
		c.Stale = true
	case refreshing:
		c = Comparison{Persona: persona, A: a, B: b, Counted: o.Counted, Source: o.Source, StyleControl: o.Style == StyleControl,
			Overall: Difference{Verdict: VerdictRefreshing}, Dimensions: []Difference{}, Notices: []string{NoticeRefreshing}}
	}
	return c, nil
}

// fitCompare fits the comparison: one board per dimension from one read of the votes.
func (s *Store) fitCompare(ctx context.Context, projectID int64, o Options, a, b int) (Comparison, error) {
	persona := o.Persona
	o = compareOptions(persona, o)
	dims, ids, err := s.compareInputs(ctx, projectID, persona, a, b, o)
	if err != nil {
		return Comparison{}, err
	}
	keyA, keyB := fmt.Sprintf("%s/v%d", persona, a), fmt.Sprintf("%s/v%d", persona, b)
	out := Comparison{Persona: persona, A: a, B: b, Counted: o.Counted, Source: o.Source, StyleControl: o.Style == StyleControl,
		Dimensions: []Difference{}, Notices: []string{}}
	// One read of the votes serves the ranking and every dimension.
	l, err := s.load(ctx, projectID, o, true)
	if err != nil {
		return out, err
	}
	diff := func(dim Dimension) (Difference, error) {
		o.Dimension = dim.Key
		_, f, err := compute(slices.Clone(l.entries), l.votesOn(dim.Key), l.judgments, o)
		if err != nil {
			return Difference{}, err
		}
		d := difference(f, keyA, keyB)
		d.Dimension, d.Label, d.LabelEn = dim.Key, dim.Label, dim.LabelEn
		return d, nil
	}
	if out.Overall, err = diff(Dimension{}); err != nil {
		return out, err
	}
	all := []Difference{out.Overall}
	for _, dim := range dims {
		d, err := diff(dim)
		if err != nil {
			return out, err
		}
		out.Dimensions = append(out.Dimensions, d)
		all = append(all, d)
	}
	la, lb := fmt.Sprintf("v%d", a), fmt.Sprintf("v%d", b)
	out.VerdictEn, out.VerdictZh = Sentences(la, lb, all)
	if out.Overall.Verdict == VerdictNeverCompared || out.Overall.Verdict == VerdictNotEnough {
		va, vb := ids[a], ids[b]
		out.Campaign = &campaign.Input{PersonaID: va.persona, Name: fmt.Sprintf("%s %s ↔ %s 盲评 / blind comparison", persona, la, lb),
			TaskKind: campaign.BlindPairwise, K: 3,
			Plan:  []campaign.PlanEntry{{PromptVersionID: va.id, Model: va.model}, {PromptVersionID: vb.id, Model: vb.model}},
			Bases: []campaign.BaseQuota{}}
	}
	return out, nil
}

// Pool is the store's pool, for Seed.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

package agreement

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/rlhf"
)

// The measures a refresh writes to agreement_figures (and, for a campaign, to
// agreement_history).
const (
	AlphaRanking = "alpha_ranking" // ordinal α over each candidate's place in the rankings
	AlphaFlags   = "alpha_flags"   // nominal α over each flag on each candidate, set or not
	AlphaRatings = "alpha_ratings" // ordinal α over each rubric score of each candidate
	LOO          = "loo"           // mean Spearman ρ of a trainer's ranking with the others' mean ranking
	MeanW        = "mean_w"        // the mean of the items' Kendall's W
)

// Refresher recomputes a campaign's agreement from its judgments and writes it: W per item
// into item_agreement, α per campaign and base and leave-one-out agreement per trainer into
// agreement_figures, α over time into agreement_history, the median time per item into the
// campaign (the speed floor reads it), and adaptive overlap's extra judgments.
type Refresher struct {
	pool   *pgxpool.Pool
	now    func() time.Time
	logger *slog.Logger
}

// NewRefresher returns a Refresher; now is the clock refreshed_at is stamped with.
func NewRefresher(pool *pgxpool.Pool, now func() time.Time, logger *slog.Logger) *Refresher {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Refresher{pool: pool, now: now, logger: logger}
}

// judgment is one trainer's latest revision of one item, as the refresh reads it.
type judgment struct {
	item, trainer, base int64
	ranking             [][]int64
	flags               []candidateFlag
	ratings             []candidateScore
}

// candidateFlag is one flag a judgment set on a candidate.
type candidateFlag struct {
	candidate int64
	flag      string
}

// candidateScore is one rubric score a judgment gave a candidate.
type candidateScore struct {
	candidate int64
	dimension string
	value     float64
}

// Summary is what one refresh found.
type Summary struct {
	Judgments   int
	Items       int // items with a W
	Extra       int // items given more judgments
	Adjudicate  int // items sent to a reviewer
	AlphaRanked *float64
}

// RefreshAll refreshes every open or paused campaign with judgments newer than its last
// refresh; it is what the periodic job runs.
func (r *Refresher) RefreshAll(ctx context.Context) error {
	rows, _ := r.pool.Query(ctx, `SELECT c.id FROM campaigns c WHERE c.state IN ('open', 'paused')
		AND EXISTS (SELECT 1 FROM claims cl WHERE cl.campaign_id = c.id AND cl.state = 'submitted'
			AND cl.closed_at > coalesce((SELECT max(refreshed_at) FROM agreement_figures f WHERE f.campaign_id = c.id), '-infinity'))
		ORDER BY c.id`)
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return db.Error(err, "campaigns to refresh")
	}
	for _, id := range ids {
		if _, err := r.Refresh(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// Refresh recomputes one campaign's agreement. Gold items are left out: their answers are
// known, and agreement is about what is not.
func (r *Refresher) Refresh(ctx context.Context, campaignID int64) (Summary, error) {
	now := r.now()
	var sum Summary
	err := pgx.BeginFunc(ctx, r.pool, func(tx pgx.Tx) error {
		// One refresh of a campaign at a time; a second waits rather than double-counting
		// adaptive overlap's budget.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, fmt.Sprintf("agreement:%d", campaignID)); err != nil {
			return err
		}
		js, err := load(ctx, tx, campaignID)
		if err != nil {
			return err
		}
		sum.Judgments = len(js)
		figs := compute(js)
		sum.Items = len(figs.items)
		sum.AlphaRanked = figs.campaign[AlphaRanking].value
		if err := write(ctx, tx, campaignID, figs, len(js), now); err != nil {
			return err
		}
		sum.Extra, sum.Adjudicate, err = overlap(ctx, tx, campaignID)
		return err
	})
	if err != nil {
		return Summary{}, db.Error(err, "refresh the agreement of campaign %d", campaignID)
	}
	r.logger.Debug("agreement refreshed", "campaign", campaignID, "judgments", sum.Judgments, "items", sum.Items, "extra", sum.Extra)
	return sum, nil
}

// loadSQL is each trainer's latest revision of each ordinary item of campaign $1: the item,
// trainer, base, and the ranking, flags and ratings as jsonb text.
const loadSQL = `SELECT DISTINCT ON (j.turn_id, j.trainer_id) i.id, j.trainer_id, coalesce(bm.base_id, 0), j.ranking::text, j.flags::text, j.ratings::text
	FROM campaign_items i JOIN judgments j ON j.turn_id = i.turn_id LEFT JOIN base_members bm ON bm.user_id = j.trainer_id
	WHERE i.campaign_id = $1 AND NOT i.gold AND ` + rlhf.DataSQL + ` -- side-swap repeats are checks, not votes
	ORDER BY j.turn_id, j.trainer_id, j.revision DESC`

// load reads each trainer's latest revision of each ordinary item of the campaign. Campaign
// items' turns are judged only through claims, so the turn's judgments are the claims'. One
// row per judgment is far less to send than one per candidate, flag and score. The JSON is
// read without reflection (parseRanking, and jsontext's tokens for flags and ratings):
// encoding/json spent most of a refresh of 100,000 judgments decoding them. Flattening
// them in SQL (jsonb_each) instead made the query twice as slow.
func load(ctx context.Context, tx pgx.Tx, campaignID int64) ([]judgment, error) {
	// The DISTINCT ON sorts every judgment of the campaign; at the default 4 MB it spilled
	// to disk from about 30,000 judgments.
	if _, err := tx.Exec(ctx, `SET LOCAL work_mem = '64MB'`); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, loadSQL, campaignID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []judgment
	var ranking, flags, ratings []byte // pgx's buffers, valid until the next row
	r := newJSONReader()
	for rows.Next() {
		var j judgment
		if err := rows.Scan(&j.item, &j.trainer, &j.base, &ranking, &flags, &ratings); err != nil {
			return nil, err
		}
		if j.ranking, err = parseRanking(string(ranking)); err != nil {
			return nil, fmt.Errorf("ranking of item %d by %d: %w", j.item, j.trainer, err)
		}
		if j.flags, err = r.flags(flags); err != nil {
			return nil, fmt.Errorf("flags of item %d by %d: %w", j.item, j.trainer, err)
		}
		if j.ratings, err = r.ratings(ratings); err != nil {
			return nil, fmt.Errorf("ratings of item %d by %d: %w", j.item, j.trainer, err)
		}
		out = append(out, j)
	}
	// Rows come by turn; compute wants each item's judgments together, which they are.
	return out, rows.Err()
}

// jsonReader reads stored flags ({"candidate id": ["flag", …]}) and ratings ({"candidate
// id": {"dimension": {"value": n, …}}}) token by token, interning the few distinct flag and
// dimension names so that a hundred thousand judgments do not hold a string each.
type jsonReader struct {
	in    *bytes.Reader
	dec   *jsontext.Decoder
	names map[string]string
	buf   []byte
}

func newJSONReader() *jsonReader {
	in := bytes.NewReader(nil)
	return &jsonReader{in: in, dec: jsontext.NewDecoder(in), names: map[string]string{}}
}

func (r *jsonReader) reset(b []byte) {
	r.in.Reset(b)
	r.dec.Reset(r.in)
}

// str reads a string, valid until the next read.
func (r *jsonReader) str() ([]byte, error) {
	v, err := r.dec.ReadValue()
	if err != nil {
		return nil, err
	}
	if v.Kind() != '"' {
		return nil, fmt.Errorf("%s where a string belongs", v)
	}
	r.buf, err = jsontext.AppendUnquote(r.buf[:0], v)
	return r.buf, err
}

func (r *jsonReader) name() (string, error) {
	b, err := r.str()
	if err != nil {
		return "", err
	}
	if s, ok := r.names[string(b)]; ok {
		return s, nil
	}
	s := string(b)
	r.names[s] = s
	return s, nil
}

func (r *jsonReader) candidate() (int64, error) {
	b, err := r.str()
	if err != nil {
		return 0, err
	}
	c, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("candidate %q: %w", b, err)
	}
	return c, nil
}

// open reads the token that opens an object ('{') or an array ('[').
func (r *jsonReader) open(kind jsontext.Kind) error {
	t, err := r.dec.ReadToken()
	if err != nil {
		return err
	}
	if t.Kind() != kind {
		return fmt.Errorf("%v where %v belongs", t.Kind(), kind)
	}
	return nil
}

// each reads the members of the object or array just opened, up to its end, with one.
func (r *jsonReader) each(one func() error) error {
	for {
		if k := r.dec.PeekKind(); k == '}' || k == ']' {
			_, err := r.dec.ReadToken()
			return err
		}
		if err := one(); err != nil {
			return err
		}
	}
}

// byCandidate reads an object of candidate ids, each holding an object or array (inner)
// whose members member reads, up to its end.
func (r *jsonReader) byCandidate(b []byte, inner jsontext.Kind, member func(candidate int64) error) error {
	if string(b) == "{}" {
		return nil
	}
	r.reset(b)
	if err := r.open('{'); err != nil {
		return err
	}
	return r.each(func() error {
		c, err := r.candidate()
		if err != nil {
			return err
		}
		if err := r.open(inner); err != nil {
			return err
		}
		return r.each(func() error { return member(c) })
	})
}

func (r *jsonReader) flags(b []byte) ([]candidateFlag, error) {
	var out []candidateFlag
	err := r.byCandidate(b, '[', func(c int64) error {
		f, err := r.name()
		out = append(out, candidateFlag{candidate: c, flag: f})
		return err
	})
	return out, err
}

func (r *jsonReader) ratings(b []byte) ([]candidateScore, error) {
	var out []candidateScore
	err := r.byCandidate(b, '{', func(c int64) error {
		dim, err := r.name()
		if err != nil {
			return err
		}
		if err := r.open('{'); err != nil {
			return err
		}
		found := false
		if err := r.each(func() error {
			key, err := r.str()
			if err != nil {
				return err
			}
			if string(key) != "value" {
				return r.dec.SkipValue()
			}
			t, err := r.dec.ReadToken()
			if err != nil {
				return err
			}
			if t.Kind() != '0' {
				return fmt.Errorf("ratings[%d][%s].value is %v, not a number", c, dim, t.Kind())
			}
			out = append(out, candidateScore{candidate: c, dimension: dim, value: t.Float()})
			found = true
			return nil
		}); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("ratings[%d][%s] has no value", c, dim)
		}
		return nil
	})
	return out, err
}

// parseRanking reads a stored ranking, [[id, …], …], as PostgreSQL prints jsonb.
func parseRanking(s string) ([][]int64, error) {
	var out [][]int64
	var group []int64
	depth := 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; {
		case ch == '[':
			depth++
			if depth == 2 {
				group = nil
			} else if depth > 2 {
				return nil, fmt.Errorf("nested too deep at %d", i)
			}
		case ch == ']':
			if depth == 2 {
				out = append(out, group)
			}
			depth--
		case ch >= '0' && ch <= '9':
			j := i
			for j < len(s) && s[j] >= '0' && s[j] <= '9' {
				j++
			}
			id, err := strconv.ParseInt(s[i:j], 10, 64)
			if err != nil || depth != 2 {
				return nil, fmt.Errorf("unexpected %q at %d", s[i:j], i)
			}
			group = append(group, id)
			i = j - 1
		case ch == ',' || ch == ' ':
		default:
			return nil, fmt.Errorf("unexpected %q at %d", ch, i)
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced brackets")
	}
	return out, nil
}

// figure is one measure's value (nil when undefined) and how many units it rests on.
type figure struct {
	value *float64
	units int
}

type itemW struct {
	item      int64
	w         float64
	judgments int
}

type figures struct {
	campaign map[string]figure
	bases    map[int64]map[string]figure
	trainers map[int64]map[string]figure
	items    []itemW
}

// compute turns the judgments (sorted by item) into every figure a refresh writes.
func compute(js []judgment) figures {
	out := figures{bases: map[int64]map[string]figure{}, trainers: map[int64]map[string]figure{}}
	var ranked, flagged, rated Coincidences
	baseRanked := map[int64]*Coincidences{}
	loo := map[int64]*[2]float64{} // trainer: Σρ, items
	var sumW float64
	var vals, set []float64 // scratch: the units are counted, not kept
	for start := 0; start < len(js); {
		end := start
		for end < len(js) && js[end].item == js[start].item {
			end++
		}
		group := js[start:end]
		start = end
		cands := commonCandidates(group)
		places := make([][]float64, len(group))
		for t, j := range group {
			places[t] = make([]float64, len(cands))
			for i, c := range cands {
				places[t][i] = placeOf(j.ranking, c)
			}
		}
		// α units: each candidate's place, each flag on each candidate, each score.
		for i, c := range cands {
			vals = slices.Grow(vals[:0], len(group))[:len(group)]
			for t := range group {
				vals[t] = places[t][i]
			}
			ranked.Add(vals)
			var byBase []baseValues // an item's judgments come from a base or two
			for t, j := range group {
				if j.base == 0 {
					continue
				}
				at := slices.IndexFunc(byBase, func(b baseValues) bool { return b.base == j.base })
				if at < 0 {
					at = len(byBase)
					byBase = append(byBase, baseValues{base: j.base})
				}
				byBase[at].values = append(byBase[at].values, vals[t])
			}
			for _, b := range byBase {
				if baseRanked[b.base] == nil {
					baseRanked[b.base] = &Coincidences{}
				}
				baseRanked[b.base].Add(b.values)
			}
			for _, f := range rlhf.Flags {
				set = slices.Grow(set[:0], len(group))[:len(group)]
				for t, j := range group {
					set[t] = 0
					if slices.Contains(j.flags, candidateFlag{candidate: c, flag: f}) {
						set[t] = 1
					}
				}
				flagged.Add(set)
			}
			var dims []dimensionValues
			for _, j := range group {
				for _, s := range j.ratings {
					if s.candidate != c {
						continue
					}
					at := slices.IndexFunc(dims, func(d dimensionValues) bool { return d.dimension == s.dimension })
					if at < 0 {
						at = len(dims)
						dims = append(dims, dimensionValues{dimension: s.dimension})
					}
					dims[at].values = append(dims[at].values, s.value)
				}
			}
			for _, d := range dims {
				rated.Add(d.values)
			}
		}
		if w, ok := KendallW(places); ok {
			out.items = append(out.items, itemW{item: group[0].item, w: w, judgments: len(group)})
			sumW += w
		}
		// Leave-one-out: each trainer against the others' mean place.
		if len(group) >= 2 && len(cands) >= 2 {
			for t, j := range group {
				others := make([]float64, len(cands))
				for u := range group {
					if u != t {
						for i := range cands {
							others[i] += places[u][i]
						}
					}
				}
				if rho, ok := Spearman(places[t], others); ok {
					if loo[j.trainer] == nil {
						loo[j.trainer] = &[2]float64{}
					}
					loo[j.trainer][0] += rho
					loo[j.trainer][1]++
				}
			}
		}
	}
	out.campaign = map[string]figure{
		AlphaRanking: alphaFigure(&ranked, Ordinal),
		AlphaFlags:   alphaFigure(&flagged, Nominal),
		AlphaRatings: alphaFigure(&rated, Ordinal),
	}
	if len(out.items) > 0 {
		m := sumW / float64(len(out.items))
		out.campaign[MeanW] = figure{value: &m, units: len(out.items)}
	} else {
		out.campaign[MeanW] = figure{}
	}
	for b, u := range baseRanked {
		out.bases[b] = map[string]figure{AlphaRanking: alphaFigure(u, Ordinal)}
	}
	for t, s := range loo {
		v := s[0] / s[1]
		out.trainers[t] = map[string]figure{LOO: {value: &v, units: int(s[1])}}
	}
	return out
}

// alphaFigure is α at level over c's units, as a figure.
func alphaFigure(c *Coincidences, l Level) figure {
	a, n, ok := c.Alpha(l)
	if !ok {
		return figure{units: n}
	}
	return figure{value: &a, units: n}
}

// commonCandidates are the candidates every judgment of an item ranked, in id order: W and α
// compare like with like.
func commonCandidates(group []judgment) []int64 {
	var out []int64
	for _, g := range group[0].ranking {
		out = append(out, g...)
	}
	slices.Sort(out)
	return slices.DeleteFunc(slices.Compact(out), func(c int64) bool {
		for _, j := range group[1:] {
			if placeOf(j.ranking, c) == 0 {
				return true
			}
		}
		return false
	})
}

// placeOf gives a candidate its place in a ranking, 1 for the best, 0 when it is not
// ranked; tied candidates share one. Rankings hold at most 8 candidates, so a scan beats a map.
func placeOf(ranking [][]int64, candidate int64) float64 {
	for i, g := range ranking {
		if slices.Contains(g, candidate) {
			return float64(i + 1)
		}
	}
	return 0
}

// baseValues and dimensionValues gather one candidate's α values by base or by dimension.
type baseValues struct {
	base   int64
	values []float64
}

type dimensionValues struct {
	dimension string
	values    []float64
}

// write replaces the campaign's figures, upserts item_agreement, adds to the history when
// the judgments changed, and stores the median time per item.
func write(ctx context.Context, tx pgx.Tx, campaignID int64, f figures, judgments int, now time.Time) error {
	items := make([]int64, len(f.items))
	ws := make([]float64, len(f.items))
	ns := make([]int32, len(f.items))
	for i, it := range f.items {
		items[i], ws[i], ns[i] = it.item, it.w, int32(it.judgments)
	}
	b := &pgx.Batch{}
	// An item whose W is as it was keeps its row (and refreshed_at, when W last changed):
	// rewriting, or even conflict-checking, every row of a big campaign each minute was a
	// third of the refresh; the join leaves only new and changed items to the upsert.
	b.Queue(`INSERT INTO item_agreement (item_id, agreement, judgments, refreshed_at)
		SELECT u.item, u.w, u.n, $4 FROM unnest($1::bigint[], $2::float8[], $3::int[]) u(item, w, n)
		LEFT JOIN item_agreement a ON a.item_id = u.item
		WHERE a.item_id IS NULL OR (a.agreement, a.judgments) IS DISTINCT FROM (u.w, u.n)
		ON CONFLICT (item_id) DO UPDATE SET agreement = EXCLUDED.agreement, judgments = EXCLUDED.judgments, refreshed_at = EXCLUDED.refreshed_at`,
		items, ws, ns, now)
	b.Queue(`DELETE FROM agreement_figures WHERE campaign_id = $1`, campaignID)
	var scope []string
	var scopeID []int64
	var measure []string
	var value []*float64
	var units []int32
	addFig := func(s string, id int64, m map[string]figure) {
		for k, v := range m {
			scope, scopeID, measure, value, units = append(scope, s), append(scopeID, id), append(measure, k), append(value, v.value), append(units, int32(v.units))
		}
	}
	addFig("campaign", 0, f.campaign)
	for id, m := range f.bases {
		addFig("base", id, m)
	}
	for id, m := range f.trainers {
		addFig("trainer", id, m)
	}
	b.Queue(`INSERT INTO agreement_figures (campaign_id, scope, scope_id, measure, value, units, refreshed_at)
		SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::float8[], $6::int[]), (SELECT $7::timestamptz) t`,
		campaignID, scope, scopeID, measure, value, units, now)
	// History only when there is something new: a refresh every 30 s of a quiet campaign
	// would otherwise fill the chart with the same point.
	b.Queue(`INSERT INTO agreement_history (campaign_id, at, measure, value, judgments)
		SELECT $1, $2, f.measure, f.value, $3 FROM agreement_figures f
		WHERE f.campaign_id = $1 AND f.scope = 'campaign' AND f.measure IN ('alpha_ranking', 'alpha_flags', 'alpha_ratings')
			AND $3 <> coalesce((SELECT judgments FROM agreement_history h WHERE h.campaign_id = $1 ORDER BY at DESC LIMIT 1), -1)
		ON CONFLICT DO NOTHING`, campaignID, now, judgments)
	b.Queue(`UPDATE campaigns SET median_ms = (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY j.time_spent_ms)
		FROM claims cl JOIN judgments j ON j.id = cl.judgment_id WHERE cl.campaign_id = $1 AND cl.state = 'submitted') WHERE id = $1`, campaignID)
	return tx.SendBatch(ctx, b).Close()
}

// overlap is adaptive overlap: a completed item whose W is below the campaign's floor is
// asked for one more judgment (up to 2 beyond k) while the campaign's extra budget lasts;
// one past both goes to a reviewer for adjudication. It runs in SQL, under the campaign's
// row lock, so the budget is never overspent.
func overlap(ctx context.Context, tx pgx.Tx, campaignID int64) (extra, adjudicate int, err error) {
	err = tx.QueryRow(ctx, `WITH c AS (SELECT id, k, agreement_floor, extra_budget - extra_used AS budget FROM campaigns WHERE id = $1 FOR UPDATE),
		low AS (SELECT i.id, i.extra_k, row_number() OVER (PARTITION BY i.extra_k < 2 ORDER BY a.agreement, i.id) AS n
			FROM campaign_items i JOIN item_agreement a ON a.item_id = i.id, c
			WHERE i.campaign_id = c.id AND NOT i.gold AND NOT i.adjudicate AND i.completed_at IS NOT NULL
				AND a.agreement < c.agreement_floor AND a.judgments >= c.k + i.extra_k),
		more AS (UPDATE campaign_items i SET extra_k = i.extra_k + 1, completed_at = NULL FROM low, c
			WHERE i.id = low.id AND low.extra_k < 2 AND low.n <= c.budget RETURNING i.id),
		adj AS (UPDATE campaign_items i SET adjudicate = true FROM low, c
			WHERE i.id = low.id AND (low.extra_k >= 2 OR low.n > c.budget) RETURNING i.id),
		spent AS (UPDATE campaigns SET extra_used = extra_used + (SELECT count(*) FROM more) WHERE id = $1)
		SELECT (SELECT count(*) FROM more)::int, (SELECT count(*) FROM adj)::int`, campaignID).Scan(&extra, &adjudicate)
	return extra, adjudicate, err
}

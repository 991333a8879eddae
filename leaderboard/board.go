package leaderboard

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"
)

// MinVotes is how many votes an entry needs before its score is more than preliminary.
const MinVotes = 400

// What a board compares (Options.By).
const (
	ByModel        = "model"
	ByVersion      = "version"
	ByModelVersion = "model_version"
)

// Which votes count (Options.Counted).
const (
	// CountChecked takes only votes that quality control passed: accepted in review, not
	// speed-flagged, not held because the trainer was paused (judgment_checks).
	CountChecked = "checked"
	// CountSubmitted takes every submitted judgment, checked or not.
	CountSubmitted = "submitted"
)

// Where votes come from (Options.Source).
const (
	SourceBlind = "blind" // blind pairwise campaigns only
	SourceAll   = "all"   // also open judgments: live sessions and other campaign kinds
)

// Notices a board can carry instead of (or beside) numbers; the UI words them in the
// reader's language.
const (
	NoticeTooFewEntries = "too_few_entries" // fewer than 2 entries have votes: nothing to rank
	NoticeDisconnected  = "disconnected"    // some entries were never compared with the rest
	NoticeRefreshing    = "refreshing"      // the board is being fitted in the background; ask again
)

// Options choose a board. The zero value of each field means its default.
type Options struct {
	By        string // model, version or model_version (default version)
	Dimension string // a rubric dimension: votes are score differences on it; "" is the ranking
	Persona   string // a persona's slug: only its turns; "" is the whole project
	Counted   string // checked (default) or submitted
	Source    string // blind (default) or all
	Style     string // none (default) or control: length and markdown as covariates
	Rounds    int    // bootstrap rounds (DefaultRounds)
	Seed      uint64 // the bootstrap's seed (1)
}

func (o *Options) defaults() {
	if o.By == "" {
		o.By = ByVersion
	}
	if o.Counted == "" {
		o.Counted = CountChecked
	}
	if o.Source == "" {
		o.Source = SourceBlind
	}
	if o.Style == "" {
		o.Style = StyleNone
	}
	if o.Rounds == 0 {
		o.Rounds = DefaultRounds
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
}

// EntryInfo describes one thing being ranked: a model, a prompt version, or a model and
// version together.
type EntryInfo struct {
	Key         string     `json:"key"`                    // stable identifier, e.g. "customs-helper/v7"
	Label       string     `json:"label"`                  // what the board shows
	Model       string     `json:"model,omitempty"`        // the model, when the board is by model or model × version
	Persona     string     `json:"persona,omitempty"`      // the persona's slug, for versions
	Version     int        `json:"version,omitempty"`      // the prompt version number
	PublishedAt *time.Time `json:"published_at,omitempty"` // when the version was published
}

// Entry is one row of a board.
type Entry struct {
	EntryInfo
	Score       float64 `json:"score"`       // Elo-like: 1000 + 400·log10(strength ratio to the reference)
	Lower       float64 `json:"lower"`       // the 95% bootstrap interval's lower end
	Upper       float64 `json:"upper"`       // and its upper end
	Rank        int     `json:"rank"`        // 1 + the entries whose lower end is above this upper end
	Votes       int     `json:"votes"`       // votes this entry took part in
	WinRate     float64 `json:"win_rate"`    // share of its votes won, ties as halves
	Preliminary bool    `json:"preliminary"` // fewer than MinVotes votes
	Reference   bool    `json:"reference"`   // the entry fixed at 1000
}

// Part is one connected part of the comparison graph: its entries were compared with each
// other, directly or through others, and never with another part's.
type Part struct {
	Entries []Entry `json:"entries"`
	Votes   int     `json:"votes"`
	// Smoothed: some entry won or lost every comparison, so the maximum-likelihood scores
	// do not exist; the scores shown add one fictitious win and loss per entry (Fit).
	Smoothed bool `json:"smoothed"`
	// Style is the style covariates' coefficients, fitted with this part's scores, when
	// the board has style control; empty otherwise.
	Style []Coefficient `json:"style"`
}

// Cell is one square of the win-rate matrix: how often Row beat Col, ties as halves.
type Cell struct {
	Row     string  `json:"row"`
	Col     string  `json:"col"`
	WinRate float64 `json:"win_rate"`
	Votes   int     `json:"votes"`
}

// Board is a fitted leaderboard and everything needed to read it honestly.
type Board struct {
	By        string `json:"by"`
	Dimension string `json:"dimension,omitempty"`
	Persona   string `json:"persona,omitempty"`
	Counted   string `json:"counted"` // which votes count: checked or submitted
	Source    string `json:"source"`  // blind, or all (open judgments included)
	// StyleControl says whether length and markdown differences were adjusted for
	// (Options.Style control): the scores are then what is left once the covariates, whose
	// coefficients each part lists, have taken their share (see docs/leaderboards.md).
	StyleControl bool     `json:"style_control"`
	Rounds       int      `json:"rounds"`
	Seed         uint64   `json:"seed"`
	Tolerance    float64  `json:"tolerance"`
	MinVotes     int      `json:"min_votes"`
	Judgments    int      `json:"judgments"` // judgments the votes came from
	Votes        int      `json:"votes"`
	Parts        []Part   `json:"parts"`
	Matrix       []Cell   `json:"matrix"`
	Notices      []string `json:"notices"`
	// Unranked are entries with candidates but no vote that counted (they were only ever
	// tied with themselves, or their judgments were not checked).
	Unranked []EntryInfo `json:"unranked"`
	// RefreshedAt is when the board was fitted; Stale says the votes have changed since and
	// a refresh is queued.
	RefreshedAt *time.Time `json:"refreshed_at"`
	Stale       bool       `json:"stale"`
}

func emptyBoard(o Options, judgments int) Board {
	return Board{By: o.By, Dimension: o.Dimension, Persona: o.Persona, Counted: o.Counted, Source: o.Source,
		StyleControl: o.Style == StyleControl, Rounds: o.Rounds, Seed: o.Seed, Tolerance: Tolerance, MinVotes: MinVotes, Judgments: judgments,
		Parts: []Part{}, Matrix: []Cell{}, Notices: []string{}, Unranked: []EntryInfo{}}
}

// fitted is a board's numbers before they are dressed as entries, kept for comparisons.
type fitted struct {
	matrix  Matrix
	keys    []string
	parts   [][]int
	theta   map[int]float64   // per entry
	samples map[int][]float64 // per entry, one per bootstrap round
	partOf  map[int]int
}

// Compute fits a board over entries from votes. It is pure: the store reads the votes.
func Compute(entries []EntryInfo, votes []Vote, judgments int, o Options) (Board, error) {
	o.defaults()
	b, _, err := compute(entries, votes, judgments, o)
	return b, err
}

func compute(entries []EntryInfo, votes []Vote, judgments int, o Options) (Board, *fitted, error) {
	index, keys := sortEntries(entries)
	m, n := tally(votes, index, len(entries))
	var sm *StyleMatrix
	if o.Style == StyleControl {
		s := tallyStyle(votes, index, len(entries))
		sm = &s
	}
	return computeFrom(entries, keys, m, sm, n, judgments, o)
}

// sortEntries puts entries in the board's order (persona, version, model) and indexes them.
func sortEntries(entries []EntryInfo) (map[string]int, []string) {
	slices.SortFunc(entries, func(a, b EntryInfo) int {
		return cmp.Or(cmp.Compare(a.Persona, b.Persona), cmp.Compare(a.Version, b.Version), cmp.Compare(a.Model, b.Model), cmp.Compare(a.Key, b.Key))
	})
	index := make(map[string]int, len(entries))
	keys := make([]string, len(entries))
	for i, e := range entries {
		index[e.Key], keys[i] = i, e.Key
	}
	return index, keys
}

// computeFrom fits a board over sorted entries (keys in their order) from their win
// matrix m of n votes and, with style control, their style matrix sm. o.Rounds 0 fits the
// scores without the bootstrap (the voter check's need).
func computeFrom(entries []EntryInfo, keys []string, m Matrix, sm *StyleMatrix, n, judgments int, o Options) (Board, *fitted, error) {
	b := emptyBoard(o, judgments)
	b.Votes = n
	f := &fitted{matrix: m, keys: keys, parts: Components(m), theta: map[int]float64{}, samples: map[int][]float64{}, partOf: map[int]int{}}
	inPart := map[int]bool{}
	for pi, members := range f.parts {
		for _, g := range members {
			inPart[g], f.partOf[g] = true, pi
		}
	}
	for i, e := range entries {
		if !inPart[i] {
			b.Unranked = append(b.Unranked, e)
		}
	}
	if len(inPart) < 2 {
		b.Notices = append(b.Notices, NoticeTooFewEntries)
		return b, f, nil
	}
	if len(f.parts) > 1 {
		b.Notices = append(b.Notices, NoticeDisconnected)
	}
	for _, members := range f.parts {
		part, err := fitPart(m, sm, members, entries, o, f)
		if err != nil {
			return b, f, err
		}
		b.Parts = append(b.Parts, part)
	}
	slices.SortStableFunc(b.Parts, func(x, y Part) int { return cmp.Compare(y.Votes, x.Votes) })
	for _, t := range m.Tallies {
		n := t.N()
		if n == 0 {
			continue
		}
		ri := (float64(t.WinsI) + float64(t.Ties)/2) / float64(n)
		b.Matrix = append(b.Matrix, Cell{Row: keys[t.I], Col: keys[t.J], WinRate: round(ri, 4), Votes: n},
			Cell{Row: keys[t.J], Col: keys[t.I], WinRate: round(1-ri, 4), Votes: n})
	}
	return b, f, nil
}

// fitPart fits one connected part; with sm (style control) the scores come from FitStyle
// on the style cells, the counts shown from m either way.
func fitPart(m Matrix, sm *StyleMatrix, members []int, entries []EntryInfo, o Options, f *fitted) (Part, error) {
	votes := make([]int, len(members))
	ref := 0
	for li, g := range members {
		votes[li] = m.Votes(g)
		if votes[li] > votes[ref] {
			ref = li // the best-measured entry anchors the part: its score moves least
		}
	}
	prior := !StronglyConnected(m, members)
	theta, _, err := Fit(m, members, ref, prior, nil)
	if err != nil {
		return Part{}, fmt.Errorf("fit %d entries: %w", len(members), err)
	}
	part := Part{Smoothed: prior, Style: []Coefficient{}}
	var samples [][]float64
	if sm == nil {
		if samples, err = Bootstrap(m, members, ref, o.Rounds, o.Seed, theta); err != nil {
			return Part{}, fmt.Errorf("bootstrap %d entries: %w", len(members), err)
		}
	} else {
		// The plain fit is the style fit's warm start: with β = 0 it is already close.
		var beta [Covariates]float64
		if theta, beta, _, err = FitStyle(*sm, members, ref, prior, theta); err != nil {
			return Part{}, fmt.Errorf("style fit %d entries: %w", len(members), err)
		}
		start := append(slices.Clone(theta), beta[:]...)
		var betas [][Covariates]float64
		if samples, betas, err = BootstrapStyle(*sm, members, ref, o.Rounds, o.Seed, start); err != nil {
			return Part{}, fmt.Errorf("style bootstrap %d entries: %w", len(members), err)
		}
		var differing [Covariates]int
		inPart := map[int]bool{}
		for _, g := range members {
			inPart[g] = true
		}
		for c, t := range sm.Tallies {
			for d := range differing {
				if inPart[t.I] && inPart[t.J] && sm.X[c][d] != 0 {
					differing[d] += t.N()
				}
			}
		}
		for d, name := range covariateNames() {
			col := make([]float64, 0, len(betas))
			for r, s := range samples {
				if s != nil {
					col = append(col, betas[r][d])
				}
			}
			part.Style = append(part.Style, Coefficient{Name: name, Value: round(beta[d], 4),
				Lower: round(Quantile(col, 0.025), 4), Upper: round(Quantile(col, 0.975), 4), Differing: differing[d]})
		}
	}
	won := make([]float64, len(members))
	local := map[int]int{}
	for li, g := range members {
		local[g] = li
	}
	for _, t := range m.Tallies {
		if i, ok := local[t.I]; ok {
			won[i] += float64(t.WinsI) + float64(t.Ties)/2
			won[local[t.J]] += float64(t.WinsJ) + float64(t.Ties)/2
			part.Votes += t.N()
		}
	}
	for li, g := range members {
		col := make([]float64, 0, len(samples))
		for _, s := range samples {
			if s != nil {
				col = append(col, s[li])
			}
		}
		f.theta[g], f.samples[g] = theta[li], slices.Clone(col)
		e := Entry{EntryInfo: entries[g], Score: round(EloBase+EloScale*theta[li], 2), Votes: votes[li],
			Preliminary: votes[li] < MinVotes, Reference: li == ref}
		if votes[li] > 0 {
			e.WinRate = round(won[li]/float64(votes[li]), 4)
		}
		e.Lower = round(EloBase+EloScale*Quantile(col, 0.025), 2)
		e.Upper = round(EloBase+EloScale*Quantile(col, 0.975), 2)
		part.Entries = append(part.Entries, e)
	}
	for i := range part.Entries {
		part.Entries[i].Rank = 1
		for j := range part.Entries {
			if part.Entries[j].Lower > part.Entries[i].Upper {
				part.Entries[i].Rank++
			}
		}
	}
	slices.SortStableFunc(part.Entries, func(x, y Entry) int {
		return cmp.Or(cmp.Compare(x.Rank, y.Rank), cmp.Compare(y.Score, x.Score))
	})
	return part, nil
}

// tally aggregates votes into the win matrix; votes naming an unknown entry, or the same
// entry on both sides, say nothing about the ranking and are dropped.
func tally(votes []Vote, index map[string]int, n int) (Matrix, int) {
	cells := map[[2]int]*Tally{}
	counted := 0
	for _, v := range votes {
		a, ok1 := index[v.A]
		b, ok2 := index[v.B]
		if !ok1 || !ok2 || a == b {
			continue
		}
		outcome := v.Outcome
		if a > b {
			a, b, outcome = b, a, -outcome
		}
		t := cells[[2]int{a, b}]
		if t == nil {
			t = &Tally{I: a, J: b}
			cells[[2]int{a, b}] = t
		}
		switch {
		case outcome > 0:
			t.WinsI++
		case outcome < 0:
			t.WinsJ++
		default:
			t.Ties++
		}
		counted++
	}
	m := Matrix{N: n}
	for _, t := range cells {
		m.Tallies = append(m.Tallies, *t)
	}
	sortTallies(m.Tallies)
	return m, counted
}

func sortTallies(ts []Tally) {
	slices.SortFunc(ts, func(x, y Tally) int { return cmp.Or(cmp.Compare(x.I, y.I), cmp.Compare(x.J, y.J)) })
}

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

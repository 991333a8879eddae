package leaderboard

import (
	"fmt"
	"math"
	"strings"
)

// Verdicts of a version-against-version comparison, on one dimension or the ranking.
const (
	VerdictBetter        = "better"         // B's interval lies above A's score: B is better at 95%
	VerdictWorse         = "worse"          // B is worse at 95%
	VerdictSame          = "same"           // enough votes, and the interval holds 0
	VerdictNotEnough     = "not_enough"     // the interval holds 0 and fewer than MinVotes direct votes
	VerdictNeverCompared = "never_compared" // the two were never compared, not even through others
	VerdictRefreshing    = "refreshing"     // not fitted yet: the comparison is being fitted in the background
)

// Difference is how version B stands against version A on one dimension ("" for the
// ranking itself).
type Difference struct {
	Dimension string `json:"dimension"`
	Label     string `json:"label"`    // the dimension's name in the persona's language
	LabelEn   string `json:"label_en"` // and in English
	Votes     int    `json:"votes"`    // direct votes between A and B
	// WinRate is how often B beat A in those votes, ties as halves, with its 95% Wilson
	// interval; null when they never met.
	WinRate  *float64 `json:"win_rate"`
	WinLower *float64 `json:"win_lower"`
	WinUpper *float64 `json:"win_upper"`
	// Diff is B's Bradley–Terry score minus A's, in Elo-like points, with its 95% bootstrap
	// interval (direct and indirect comparisons both count); null when never compared.
	Diff      *float64 `json:"diff"`
	DiffLower *float64 `json:"diff_lower"`
	DiffUpper *float64 `json:"diff_upper"`
	Verdict   string   `json:"verdict"`
	Needed    int      `json:"needed"` // votes still needed before "no different" can be said
}

// difference compares entries a and b (keys) of one fitted board.
func difference(f *fitted, a, b string) Difference {
	d := Difference{Verdict: VerdictNeverCompared, Needed: MinVotes}
	ia, ib := indexOf(f.keys, a), indexOf(f.keys, b)
	if ia < 0 || ib < 0 {
		return d
	}
	for _, t := range f.matrix.Tallies {
		var bWins float64
		switch {
		case t.I == ia && t.J == ib:
			bWins = float64(t.WinsJ)
		case t.I == ib && t.J == ia:
			bWins = float64(t.WinsI)
		default:
			continue
		}
		d.Votes = t.N()
		p := (bWins + float64(t.Ties)/2) / float64(d.Votes)
		lo, hi := wilson(p, float64(d.Votes))
		d.WinRate, d.WinLower, d.WinUpper = ptr(round(p, 4)), ptr(round(lo, 4)), ptr(round(hi, 4))
	}
	pa, okA := f.partOf[ia]
	pb, okB := f.partOf[ib]
	if !okA || !okB || pa != pb {
		return d
	}
	sa, sb := f.samples[ia], f.samples[ib]
	diffs := make([]float64, 0, len(sa))
	for r := range min(len(sa), len(sb)) {
		diffs = append(diffs, EloScale*(sb[r]-sa[r]))
	}
	lo, hi := Quantile(diffs, 0.025), Quantile(diffs, 0.975)
	d.Diff = ptr(round(EloScale*(f.theta[ib]-f.theta[ia]), 2))
	d.DiffLower, d.DiffUpper = ptr(round(lo, 2)), ptr(round(hi, 2))
	d.Needed = 0
	switch {
	case lo > 0:
		d.Verdict = VerdictBetter
	case hi < 0:
		d.Verdict = VerdictWorse
	case d.Votes < MinVotes:
		d.Verdict, d.Needed = VerdictNotEnough, MinVotes-d.Votes
	default:
		d.Verdict = VerdictSame
	}
	return d
}

// wilson is the 95% Wilson score interval of a proportion p out of n.
func wilson(p, n float64) (float64, float64) {
	const z = 1.959963984540054
	den := 1 + z*z/n
	centre := (p + z*z/(2*n)) / den
	half := z * math.Sqrt(p*(1-p)/n+z*z/(4*n*n)) / den
	return math.Max(0, centre-half), math.Min(1, centre+half)
}

func ptr(x float64) *float64 { return &x }

func indexOf(keys []string, k string) int {
	for i, x := range keys {
		if x == k {
			return i
		}
	}
	return -1
}

// Sentences words a comparison's verdicts in English and Chinese: "v7 is better than v6 on
// accuracy, no different on warmth, at 95%".
func Sentences(a, b string, diffs []Difference) (en, zh string) {
	var partsEn, partsZh []string
	for _, d := range diffs {
		onEn, onZh := "overall", "总体"
		if d.Dimension != "" {
			onEn, onZh = "on "+d.LabelEn, "在“"+d.Label+"”上"
		}
		switch d.Verdict {
		case VerdictBetter:
			partsEn = append(partsEn, fmt.Sprintf("better %s", onEn))
			partsZh = append(partsZh, fmt.Sprintf("%s更好", onZh))
		case VerdictWorse:
			partsEn = append(partsEn, fmt.Sprintf("worse %s", onEn))
			partsZh = append(partsZh, fmt.Sprintf("%s更差", onZh))
		case VerdictSame:
			partsEn = append(partsEn, fmt.Sprintf("no different %s", onEn))
			partsZh = append(partsZh, fmt.Sprintf("%s没有差别", onZh))
		case VerdictNotEnough:
			partsEn = append(partsEn, fmt.Sprintf("not enough votes %s (%d more needed)", onEn, d.Needed))
			partsZh = append(partsZh, fmt.Sprintf("%s票数不足（还需 %d 票）", onZh, d.Needed))
		default:
			partsEn = append(partsEn, fmt.Sprintf("never compared %s", onEn))
			partsZh = append(partsZh, fmt.Sprintf("%s从未比较过", onZh))
		}
	}
	en = fmt.Sprintf("Against %s, %s is %s, at 95%%.", a, b, strings.Join(partsEn, ", "))
	zh = fmt.Sprintf("与 %s 相比，%s %s（95%% 置信度）。", a, b, strings.Join(partsZh, "，"))
	return en, zh
}

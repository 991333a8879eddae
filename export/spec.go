// Package export turns trainers' judgments into datasets that Hugging Face TRL,
// LLaMA-Factory and OpenAI fine-tuning load as they are (../shared/FORMATS.md has their
// rules; docs/exports.md has ours).
//
// An export reads one REPEATABLE READ, read-only transaction and streams each row from
// pgx straight to a json.Encoder or a Parquet writer: it never holds all rows, so memory
// stays flat however many rows there are. Rows are ordered by id and filtered by an as-of
// moment, so the same filter and moment give byte-identical files.
package export

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/rlhf"
)

// SchemaVersion is the version of the manifest and of the rows' metadata columns. Bump it
// when either changes in a way a consumer could notice.
const SchemaVersion = 1

// Encodings an export can be written in.
const (
	JSONL      = "jsonl"
	JSONLGzip  = "jsonl.gz"
	Parquet    = "parquet"
	allSplits  = ""
	TrainSplit = "train"
	TestSplit  = "test"
)

// Encodings lists the encodings, for help text and errors.
var Encodings = []string{JSONL, JSONLGzip, Parquet, XLSX}

// Statuses are the candidate statuses a filter may name.
var Statuses = []string{string(rlhf.StatusComplete), string(rlhf.StatusCancelled), string(rlhf.StatusFailed), string(rlhf.StatusInterrupted)}

// Filter says which judgments and replies go into an export. Empty lists mean "all".
type Filter struct {
	Project        string     `json:"project"`                   // slug or id; required
	Personas       []string   `json:"personas,omitempty"`        // persona slugs
	PromptVersions []int      `json:"prompt_versions,omitempty"` // version numbers of the candidates' prompt versions
	Models         []string   `json:"models,omitempty"`          // the candidates' models
	Statuses       []string   `json:"statuses,omitempty"`        // the candidates' statuses
	From           *time.Time `json:"from,omitempty"`            // judgments made at or after
	To             *time.Time `json:"to,omitempty"`              // judgments made before
	Annotators     []string   `json:"annotators,omitempty"`      // logins of the trainers who judged
	// ExcludeFlags drops rows whose preferred (or desirable) model reply carries one of these
	// flags. SFT rows and KTO "true" rows never use a flagged reply whatever this says.
	ExcludeFlags []string `json:"exclude_flags,omitempty"`
	// MinMargin keeps only preference pairs with at least this margin.
	MinMargin float64 `json:"min_margin,omitempty"`
	// IncludeBaseline keeps the offline baseline's candidates, which are off by default:
	// they are extracts, not model outputs anyone wants to train on.
	IncludeBaseline bool `json:"include_baseline"`

	// Quality control (issue 14). These read judgment_checks (migration 00014) and nothing
	// else, so each QC feature decides a judgment's state in one place and exports only
	// follow it. Part A: accepted only, exclude held work, exclude speed-flagged work. Part B
	// (agreement and consensus) adds its filters in this block, and its checks in check's.
	//
	// AcceptedOnly keeps judgments a reviewer or an accepted batch accepted.
	AcceptedOnly bool `json:"accepted_only,omitempty"`
	// ExcludeHeld drops the unchecked work of a trainer who was paused.
	ExcludeHeld bool `json:"exclude_held,omitempty"`
	// ExcludeSpeedFlagged drops judgments made faster than the campaign's speed floor.
	ExcludeSpeedFlagged bool `json:"exclude_speed_flagged,omitempty"`
	// MinAgreement keeps judgments of campaign items whose agreement (Kendall's W, from
	// item_agreement) is at least this; 0 is off. Judgments outside campaigns, and of items
	// not refreshed yet, have no agreement and are left out when it is on.
	MinAgreement float64 `json:"min_agreement,omitempty"`
	// Consensus keeps a preference pair only when the item's judgments, each weighted by its
	// trainer's reliability, mostly put the pair's chosen side above its rejected one
	// (consensus.go). Preference pairs only.
	Consensus bool `json:"consensus,omitempty"`
}

// Spec is one export: what to write, from which rows, split how.
type Spec struct {
	Format       string    `json:"format"`
	Kind         string    `json:"kind,omitempty"` // for formats with several kinds (sharegpt, alpaca)
	Encoding     string    `json:"encoding"`
	Filter       Filter    `json:"filter"`
	Seed         int64     `json:"seed"`
	TestFraction float64   `json:"test_fraction"` // the share of conversations in the test split
	AsOf         time.Time `json:"as_of"`         // judgments made after this are left out; zero means now
}

// check validates what can be checked without the database, and fills defaults.
func (s *Spec) check() (Format, error) {
	f, ok := formatByName(s.Format)
	if !ok {
		return Format{}, errs.Field("format", "%q is not a format; use one of %s", s.Format, strings.Join(FormatNames(), ", "))
	}
	if s.Kind == "" {
		s.Kind = f.Kinds[0].Name
	}
	kind, ok := f.kind(s.Kind)
	if !ok {
		return Format{}, errs.Field("kind", "%q is not a kind of %s; use one of %s", s.Kind, f.Name, strings.Join(f.kindNames(), ", "))
	}
	if s.Encoding == "" {
		s.Encoding = JSONL
	}
	if !slices.Contains(Encodings, s.Encoding) {
		return Format{}, errs.Field("encoding", "%q is not an encoding; use one of %s", s.Encoding, strings.Join(Encodings, ", "))
	}
	if math.IsNaN(s.TestFraction) || s.TestFraction < 0 || s.TestFraction >= 1 {
		return Format{}, errs.Field("test_fraction", "must be at least 0 and below 1, got %v", s.TestFraction)
	}
	flt := &s.Filter
	if strings.TrimSpace(flt.Project) == "" {
		return Format{}, errs.Field("project", "name the project (its slug or id)")
	}
	for _, st := range flt.Statuses {
		if !slices.Contains(Statuses, st) {
			return Format{}, errs.Field("status", "%q is not a candidate status; use one of %s", st, strings.Join(Statuses, ", "))
		}
	}
	for _, fl := range flt.ExcludeFlags {
		if !slices.Contains(rlhf.Flags, fl) {
			return Format{}, errs.Field("exclude_flags", "%q is not a flag; use one of %s", fl, strings.Join(rlhf.Flags, ", "))
		}
	}
	for _, v := range flt.PromptVersions {
		if v <= 0 {
			return Format{}, errs.Field("prompt_versions", "version numbers start at 1, got %d", v)
		}
	}
	if math.IsNaN(flt.MinMargin) || flt.MinMargin < 0 {
		return Format{}, errs.Field("min_margin", "must be 0 or more, got %v", flt.MinMargin)
	}
	if flt.MinMargin > 0 && kind.source != sourcePairs {
		return Format{}, errs.Field("min_margin", "applies to preference pairs only, and %s %s holds none", f.Name, kind.Name)
	}
	// Quality control (issue 14): the QC filters concern judgments, and retrieval triplets
	// are made of passage marks.
	if kind.source == sourceRelevance {
		switch {
		case flt.AcceptedOnly:
			return Format{}, errs.Field("accepted_only", "applies to judgments, and %s %s is made of passage marks", f.Name, kind.Name)
		case flt.ExcludeHeld:
			return Format{}, errs.Field("exclude_held", "applies to judgments, and %s %s is made of passage marks", f.Name, kind.Name)
		case flt.ExcludeSpeedFlagged:
			return Format{}, errs.Field("exclude_speed_flagged", "applies to judgments, and %s %s is made of passage marks", f.Name, kind.Name)
		case flt.MinAgreement != 0:
			return Format{}, errs.Field("min_agreement", "applies to judgments, and %s %s is made of passage marks", f.Name, kind.Name)
		}
	}
	if math.IsNaN(flt.MinAgreement) || flt.MinAgreement < 0 || flt.MinAgreement > 1 {
		return Format{}, errs.Field("min_agreement", "must be between 0 and 1, got %g", flt.MinAgreement)
	}
	if flt.Consensus && kind.source != sourcePairs {
		return Format{}, errs.Field("consensus", "applies to preference pairs only, and %s %s holds none", f.Name, kind.Name)
	}
	if flt.From != nil && flt.To != nil && !flt.From.Before(*flt.To) {
		return Format{}, errs.Field("to", "must be after from (%s), got %s", flt.From.Format(time.RFC3339), flt.To.Format(time.RFC3339))
	}
	return f, nil
}

// FileName is the name of one split's data file in an export directory.
func FileName(split, encoding string) string {
	return fmt.Sprintf("%s.%s", split, encoding)
}

package export

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Per-trainer statistics (issue 16): one row per trainer of the judgments the filter selects,
// as a lead tracks work and pays per item, usually opened as .xlsx.

const sourceTrainers = "trainer statistics"

type trainerStats struct {
	Annotator     string
	Name          string
	Judgments     int
	Conversations int
	Personas      int
	Edits         int
	Gold          int
	Flagged       int
	Pairs         int
	Revisions     int
	TimeSpentMS   int64
	First, Last   time.Time
}

// trainerStatsSQL counts, per trainer, the latest revisions (as of $2) that judgmentsSQL
// selects, and all the revisions behind them. Only the project, persona, time and annotator
// filters apply: the rest concern candidates, which statistics of work do not.
const trainerStatsSQL = judgmentsSQL + `SELECT jd.annotator, u.display_name, count(*)::int, count(DISTINCT jd.conversation_id)::int,
		count(DISTINCT jd.persona)::int, count(jd.edited_message_id)::int, count(jd.gold_message_id)::int,
		count(*) FILTER (WHERE jd.flags IS NOT NULL AND jd.flags <> '{}'::jsonb AND jd.flags <> 'null'::jsonb)::int,
		coalesce(sum((SELECT count(*) FROM preference_pairs pp WHERE pp.judgment_id = jd.id)), 0)::int,
		coalesce(sum((SELECT count(*) FROM judgments r WHERE r.turn_id = jd.turn_id AND r.trainer_id = jd.trainer_id AND r.created_at <= $2)), 0)::int,
		coalesce(sum(j.time_spent_ms), 0)::bigint, min(jd.created_at), max(jd.created_at)
	FROM jd JOIN judgments j ON j.id = jd.id JOIN users u ON u.id = jd.trainer_id
	WHERE $4::int[] IS NOT DISTINCT FROM $4::int[] AND $5::text[] IS NOT DISTINCT FROM $5::text[]
		AND $6::text[] IS NOT DISTINCT FROM $6::text[] AND $10::bool IS NOT NULL
	GROUP BY jd.annotator, u.display_name
	ORDER BY jd.annotator`

var trainerStatistics = Source[trainerStats]{Name: sourceTrainers, Stream: streamTrainerStats}

func streamTrainerStats(ctx context.Context, tx pgx.Tx, q Query, yield func(trainerStats) error) error {
	rows, err := tx.Query(ctx, trainerStatsSQL, q.args()...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var s trainerStats
		if err := rows.Scan(&s.Annotator, &s.Name, &s.Judgments, &s.Conversations, &s.Personas, &s.Edits, &s.Gold, &s.Flagged,
			&s.Pairs, &s.Revisions, &s.TimeSpentMS, &s.First, &s.Last); err != nil {
			return err
		}
		if err := yield(s); err != nil {
			return err
		}
	}
	return rows.Err()
}

type trainerStatsRow struct {
	Annotator       string  `json:"annotator" parquet:"annotator"`
	Name            string  `json:"name" parquet:"name"`
	Judgments       int     `json:"judgments" parquet:"judgments"`
	Conversations   int     `json:"conversations" parquet:"conversations"`
	Personas        int     `json:"personas" parquet:"personas"`
	Edits           int     `json:"edits" parquet:"edits"`
	GoldReplies     int     `json:"gold_replies" parquet:"gold_replies"`
	Flagged         int     `json:"flagged" parquet:"flagged"`
	PreferencePairs int     `json:"preference_pairs" parquet:"preference_pairs"`
	Revisions       int     `json:"revisions" parquet:"revisions"`
	TimeSpentHours  float64 `json:"time_spent_hours" parquet:"time_spent_hours"`
	MeanSeconds     float64 `json:"seconds_per_judgment" parquet:"seconds_per_judgment"`
	FirstJudgedAt   string  `json:"first_judged_at" parquet:"first_judged_at"`
	LastJudgedAt    string  `json:"last_judged_at" parquet:"last_judged_at"`
}

var trainerStatsColumns = []Column{
	{"annotator", "the trainer's login"},
	{"name", "the trainer's display name"},
	{"judgments", "turns judged (each trainer's latest revision of each turn, as the other formats count them)"},
	{"conversations", "conversations those turns belong to"},
	{"personas", "personas judged"},
	{"edits", "judgments with a correction of a candidate"},
	{"gold_replies", "judgments with a reply written from scratch"},
	{"flagged", "judgments that flagged at least one candidate"},
	{"preference_pairs", "preference pairs derived from those judgments"},
	{"revisions", "submissions in all, counting the revisions that were replaced"},
	{"time_spent_hours", "time on the judging screen, as the browser measured it, in hours"},
	{"seconds_per_judgment", "the mean of that time per judgment, in seconds"},
	{"first_judged_at", "the first of those judgments (RFC 3339, UTC)"},
	{"last_judged_at", "the last of them (RFC 3339, UTC)"},
}

func toTrainerStats(s trainerStats, emit func(trainerStatsRow, RowInfo) error) error {
	row := trainerStatsRow{Annotator: s.Annotator, Name: s.Name, Judgments: s.Judgments, Conversations: s.Conversations,
		Personas: s.Personas, Edits: s.Edits, GoldReplies: s.Gold, Flagged: s.Flagged, PreferencePairs: s.Pairs,
		Revisions: s.Revisions, TimeSpentHours: round2(float64(s.TimeSpentMS) / 3.6e6),
		FirstJudgedAt: s.First.UTC().Format(time.RFC3339), LastJudgedAt: s.Last.UTC().Format(time.RFC3339)}
	if s.Judgments > 0 {
		row.MeanSeconds = round2(float64(s.TimeSpentMS) / 1000 / float64(s.Judgments))
	}
	// No conversation: every trainer's row lands in the train split, which is all there is.
	return emit(row, RowInfo{})
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }

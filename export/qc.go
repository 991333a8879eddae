package export

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Quality control (issue 14): what the manifest and the dataset card say about the checks of
// the judgments an export's rows come from. Part B adds agreement (α) here.

// QCState is the review state of the judgments the filter selects, read in the export's
// snapshot from judgment_checks and the batches they were delivered in.
type QCState struct {
	Judgments  int `json:"judgments"`  // judgments the filter selects (each trainer's latest revision of a turn)
	Accepted   int `json:"accepted"`   // accepted by a reviewer or with an accepted batch
	Rejected   int `json:"rejected"`   // rejected (or superseded by a reviewer's fix)
	Unreviewed int `json:"unreviewed"` // not reviewed yet
	// AcceptedShare is Accepted / Judgments, 0 when there are none.
	AcceptedShare float64       `json:"accepted_share"`
	Batches       []BatchResult `json:"batches"`
}

// BatchResult is one batch some of the judgments were delivered in, and its inspection.
type BatchResult struct {
	BatchID      int64  `json:"batch_id"`
	CampaignID   int64  `json:"campaign_id"`
	Base         string `json:"base"`
	Seq          int    `json:"seq"`           // the base's n-th batch of the campaign
	BaseResult   string `json:"base_result"`   // the base's own check: pending, accepted or rejected
	CentreResult string `json:"centre_result"` // the centre's acceptance sampling
	Judgments    int    `json:"judgments"`     // of this export's judgments
}

const qcSQL = judgmentsSQL + `SELECT count(*)::int,
		count(*) FILTER (WHERE c.review_state = 'accepted')::int,
		count(*) FILTER (WHERE c.review_state = 'rejected')::int
	FROM jd LEFT JOIN judgment_checks c ON c.judgment_id = jd.id
	WHERE $4::int[] IS NOT DISTINCT FROM $4::int[] AND $5::text[] IS NOT DISTINCT FROM $5::text[]
		AND $6::text[] IS NOT DISTINCT FROM $6::text[] AND $10::bool IS NOT NULL`

const qcBatchesSQL = judgmentsSQL + `SELECT b.id, b.campaign_id, bs.name, b.seq, b.base_result, b.centre_result, count(*)::int
	FROM jd JOIN batch_judgments bj ON bj.judgment_id = jd.id JOIN batches b ON b.id = bj.batch_id JOIN bases bs ON bs.id = b.base_id
	WHERE $4::int[] IS NOT DISTINCT FROM $4::int[] AND $5::text[] IS NOT DISTINCT FROM $5::text[]
		AND $6::text[] IS NOT DISTINCT FROM $6::text[] AND $10::bool IS NOT NULL
	GROUP BY b.id, b.campaign_id, bs.name, b.seq, b.base_result, b.centre_result ORDER BY b.id`

func qcState(ctx context.Context, tx pgx.Tx, q Query) (*QCState, error) {
	var st QCState
	if err := tx.QueryRow(ctx, qcSQL, q.args()...).Scan(&st.Judgments, &st.Accepted, &st.Rejected); err != nil {
		return nil, fmt.Errorf("qc state: %w", err)
	}
	st.Unreviewed = st.Judgments - st.Accepted - st.Rejected
	if st.Judgments > 0 {
		st.AcceptedShare = roundMargin(float64(st.Accepted) / float64(st.Judgments))
	}
	rows, _ := tx.Query(ctx, qcBatchesSQL, q.args()...)
	var b BatchResult
	_, err := pgx.ForEachRow(rows, []any{&b.BatchID, &b.CampaignID, &b.Base, &b.Seq, &b.BaseResult, &b.CentreResult, &b.Judgments}, func() error {
		st.Batches = append(st.Batches, b)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("qc batches: %w", err)
	}
	if st.Batches == nil {
		st.Batches = []BatchResult{}
	}
	return &st, nil
}

// qcCard is the dataset card's quality-control section.
func qcCard(st *QCState) string {
	if st == nil {
		return ""
	}
	var b strings.Builder
	b.WriteString("## Quality control\n\n")
	fmt.Fprintf(&b, "Of the %d judgments the filter selects, %d were accepted (by a reviewer or with an accepted batch; share %v), %d rejected and %d not reviewed.\n",
		st.Judgments, st.Accepted, st.AcceptedShare, st.Rejected, st.Unreviewed)
	if len(st.Batches) > 0 {
		b.WriteString("\n| batch | base | base's own check | centre's acceptance (GB/T 2828.1) | judgments here |\n|---|---|---|---|---|\n")
		for _, r := range st.Batches {
			fmt.Fprintf(&b, "| %d (no. %d of campaign %d) | %s | %s | %s | %d |\n", r.BatchID, r.Seq, r.CampaignID, r.Base, r.BaseResult, r.CentreResult, r.Judgments)
		}
	}
	b.WriteString("\n")
	return b.String()
}

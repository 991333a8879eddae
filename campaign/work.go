package campaign

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mentor-ai/mentor/db"
)

// Work is one campaign open to a trainer, with the trainer's own counts.
type Work struct {
	CampaignID        int64      `json:"campaign_id"`
	ProjectID         int64      `json:"project_id"`
	PersonaID         int64      `json:"persona_id"`
	Name              string     `json:"name"`
	TaskKind          TaskKind   `json:"task_kind"`
	K                 int        `json:"k"`
	Guidelines        string     `json:"guidelines"`
	GuidelinesVersion int        `json:"guidelines_version"`
	Deadline          *time.Time `json:"deadline"`
	Priority          int        `json:"priority"`
	LeaseSeconds      int        `json:"lease_seconds"`
	Today             int        `json:"today"`     // items I judged today
	Week              int        `json:"week"`      // items I judged this week (from Monday)
	Skipped           int        `json:"skipped"`   // items I skipped, ever
	Open              int        `json:"open"`      // my open claims
	Available         int        `json:"available"` // items the next claim could deal me now
	// RemainingQuota is what is left of my base's quota, in judgments; null when there is no
	// quota.
	RemainingQuota *int `json:"remaining_quota"`
}

// dayStarts returns the start of today and of this week (Monday) in the store's location.
func (s *Store) dayStarts() (day, week time.Time) {
	now := s.now().In(s.loc)
	day = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, s.loc)
	back := (int(day.Weekday()) + 6) % 7
	return day, day.AddDate(0, 0, -back)
}

// MyWork lists the campaigns open to the trainer, highest priority and nearest deadline
// first: open campaigns of projects where the trainer may judge, given to no base in
// particular or to the trainer's base. admin is true for instance admins, who may judge in
// every project.
func (s *Store) MyWork(ctx context.Context, trainerID int64, admin bool) ([]Work, error) {
	day, week := s.dayStarts()
	rows, _ := s.pool.Query(ctx, `WITH mine AS (SELECT base_id FROM base_members WHERE user_id = $1)
		SELECT c.id, c.project_id, c.persona_id, c.name, c.task_kind, c.k, c.guidelines, c.guidelines_version, c.deadline, c.priority, c.lease_seconds,
			(SELECT count(*) FROM claims WHERE campaign_id = c.id AND trainer_id = $1 AND state = 'submitted' AND closed_at >= $3)::int,
			(SELECT count(*) FROM claims WHERE campaign_id = c.id AND trainer_id = $1 AND state = 'submitted' AND closed_at >= $4)::int,
			(SELECT count(*) FROM claims WHERE campaign_id = c.id AND trainer_id = $1 AND state = 'skipped')::int,
			(SELECT count(*) FROM claims WHERE campaign_id = c.id AND trainer_id = $1 AND state = 'open' AND lease_until > $5)::int,
			-- What Next would deal me now: ready, short of k, not a gold item (those are dealt
			-- apart, at a rate), and never claimed by me (judged, skipped, lapsed or open).
			(SELECT count(*) FROM campaign_items i WHERE i.campaign_id = c.id AND i.generation = 'ready' AND i.completed_at IS NULL
				AND NOT i.set_aside AND NOT i.gold AND i.taken < c.k + i.extra_k
				AND NOT EXISTS (SELECT 1 FROM claims cl WHERE cl.item_id = i.id AND cl.trainer_id = $1))::int,
			`+quotaLimitSQL+`, cb.used
		FROM campaigns c
		LEFT JOIN campaign_bases cb ON cb.campaign_id = c.id AND cb.base_id = (SELECT base_id FROM mine)
		WHERE c.state = 'open'
			AND ($2 OR EXISTS (SELECT 1 FROM project_members pm WHERE pm.project_id = c.project_id AND pm.user_id = $1
				AND pm.role IN ('admin', 'reviewer', 'expert', 'trainer')))
			AND (NOT EXISTS (SELECT 1 FROM campaign_bases x WHERE x.campaign_id = c.id) OR cb.base_id IS NOT NULL)
		ORDER BY c.priority DESC, c.deadline NULLS LAST, c.id`, trainerID, admin, day, week, s.now())
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Work, error) {
		var w Work
		var limit, used *int
		err := r.Scan(&w.CampaignID, &w.ProjectID, &w.PersonaID, &w.Name, &w.TaskKind, &w.K, &w.Guidelines, &w.GuidelinesVersion, &w.Deadline,
			&w.Priority, &w.LeaseSeconds, &w.Today, &w.Week, &w.Skipped, &w.Open, &w.Available, &limit, &used)
		if limit != nil && used != nil {
			left := max(*limit-*used, 0)
			w.RemainingQuota = &left
		}
		return w, err
	})
	if out == nil {
		out = []Work{}
	}
	return out, db.Error(err, "campaigns open to user %d", trainerID)
}

// Person is one member of a base as the base's lead sees them.
type Person struct {
	UserID      int64      `json:"user_id"`
	Login       string     `json:"login"`
	DisplayName string     `json:"display_name"`
	IsLead      bool       `json:"is_lead"`
	Working     bool       `json:"working"`    // holds an open claim now
	DoneToday   int        `json:"done_today"` // judgments submitted through claims today
	OpenClaims  int        `json:"open_claims"`
	Skips       int        `json:"skips"`       // items skipped today
	LastActive  *time.Time `json:"last_active"` // the last claim taken or closed
}

// BaseView is a lead's view of a base: who is working, what each did today, open claims and
// skips, across the projects the base works in.
func (s *Store) BaseView(ctx context.Context, baseID int64) ([]Person, error) {
	day, _ := s.dayStarts()
	now := s.now()
	rows, _ := s.pool.Query(ctx, `SELECT u.id, u.login, u.display_name, bm.is_lead,
			(SELECT count(*) FROM claims WHERE trainer_id = u.id AND state = 'submitted' AND closed_at >= $2)::int,
			(SELECT count(*) FROM claims WHERE trainer_id = u.id AND state = 'open' AND lease_until > $3)::int,
			(SELECT count(*) FROM claims WHERE trainer_id = u.id AND state = 'skipped' AND closed_at >= $2)::int,
			(SELECT max(greatest(claimed_at, closed_at)) FROM claims WHERE trainer_id = u.id)
		FROM base_members bm JOIN users u ON u.id = bm.user_id WHERE bm.base_id = $1 ORDER BY u.login`, baseID, day, now)
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Person, error) {
		var p Person
		err := r.Scan(&p.UserID, &p.Login, &p.DisplayName, &p.IsLead, &p.DoneToday, &p.OpenClaims, &p.Skips, &p.LastActive)
		p.Working = p.OpenClaims > 0
		return p, err
	})
	if out == nil {
		out = []Person{}
	}
	return out, db.Error(err, "people of base %d", baseID)
}

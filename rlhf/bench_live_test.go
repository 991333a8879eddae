package rlhf_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mentor-ai/mentor/internal/loadgen"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/rlhf"
)

// BenchmarkLiveWrites measures what a live turn writes, one phase at a time on one warm
// connection: its start (a new conversation, the trainer's message, the turn and four
// streaming candidates), one once-a-second save of 32 streams (each 50 new characters), and
// the final save of a turn's four candidates (measured with a start of its own). The relay benchmark's PostgreSQL CPU per 1,000
// tokens is these, with the sign-in checks, under load; here each repeats within a few percent,
// so a change to one statement shows in its own figure (issue 12).
func BenchmarkLiveWrites(b *testing.B) {
	ctx := context.Background()
	lease := rlhf.Lease{Owner: "bench", For: time.Hour}
	pool, rt := pgtest.CountingPool(b, 8)
	store := rlhf.NewStore(pool)
	seed := newLeasedTurn(b, pool, 4, lease)
	var projectID, personaID int64
	if err := pool.QueryRow(ctx, `SELECT project_id, persona_id FROM conversations WHERE id = $1`, seed.ConversationID).
		Scan(&projectID, &personaID); err != nil {
		b.Fatal(err)
	}
	specs := make([]rlhf.CandidateSpec, 4)
	for i := range specs {
		specs[i] = seed.Candidates[i].CandidateSpec
	}
	start := func() (rlhf.Turn, error) {
		return store.StartTurn(ctx, rlhf.NewTurn{ProjectID: projectID, PersonaID: personaID, Locale: "zh-CN",
			UserID: seed.CreatedBy, Message: "进口货物的申报期限是多久？", Candidates: specs, Lease: lease})
	}
	text := strings.Repeat("申报", 25) // 50 characters: a second of tokens
	b.Run("start", func(b *testing.B) {
		op := func() error { _, err := start(); return err }
		measureEach(b, pool, rt, op)
	})
	// Eight trainers starting turns on one persona at once, as a base's shift does: the
	// turns' foreign keys lock the same project, persona and prompt version rows.
	b.Run("start-concurrent-8", func(b *testing.B) {
		op := func() error { _, err := start(); return err }
		for range 10 {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		u, err := loadgen.Measure(ctx, pool, func() error {
			var wg sync.WaitGroup
			errc := make(chan error, 8)
			per := max(b.N/8, 1)
			for range 8 {
				wg.Go(func() {
					for range per {
						if err := op(); err != nil {
							errc <- err
							return
						}
					}
				})
			}
			wg.Wait()
			close(errc)
			return <-errc
		})
		if err != nil {
			b.Fatal(err)
		}
		g, p, _, _ := u.PerOp(int64(max(b.N/8, 1) * 8))
		b.ReportMetric(g, "go-cpu-ms/op")
		b.ReportMetric(p, "pg-cpu-ms/op")
	})
	// The save rotates over groups of 32 streams, each started fresh, so a stream's text stays
	// a few seconds long, as the relay's are: appending to one stream for ever would measure a
	// reply thousands of characters long.
	b.Run("save-32", func(b *testing.B) {
		const groups = 64
		snaps := make([][]rlhf.Snapshot, groups)
		for g := range snaps {
			for range 8 {
				t, err := start()
				if err != nil {
					b.Fatal(err)
				}
				for _, c := range t.Candidates {
					snaps[g] = append(snaps[g], rlhf.Snapshot{ID: c.ID})
				}
			}
		}
		n := 0
		op := func() error {
			group := snaps[n%groups]
			n++
			for i := range group {
				s := &group[i]
				s.Content, s.Seq, s.Dirty = text, s.Seq+25, true
			}
			if _, err := store.Flush(ctx, lease, group); err != nil {
				return err
			}
			for i := range group {
				s := &group[i]
				s.Base = rlhf.Saved{Seq: s.Seq, ContentChars: s.Base.ContentChars + 50}
			}
			return nil
		}
		measureEach(b, pool, rt, op)
	})
	// A final save needs a turn still streaming, so this one starts one too: its final save
	// is this figure less start's.
	b.Run("start+final-4", func(b *testing.B) {
		op := func() error {
			t, err := start()
			if err != nil {
				return err
			}
			fs := make([]rlhf.Final, len(t.Candidates))
			for i, c := range t.Candidates {
				c.Content, c.Status, c.FinishReason, c.Owner, c.Seq = text, rlhf.StatusComplete, "stop", lease.Owner, 30
				fs[i] = rlhf.Final{C: c}
			}
			_, err = store.FinishAll(ctx, fs)
			return err
		}
		measureEach(b, pool, rt, op)
	})
}

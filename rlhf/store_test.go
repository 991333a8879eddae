package rlhf_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/prompts"
	"github.com/mentor-ai/mentor/rlhf"
)

// testLease is a lease held by "replica-a" for an hour from now.
func testLease() rlhf.Lease { return rlhf.Lease{Owner: "replica-a", For: time.Hour} }

// newTurn stores a turn of n streaming candidates on a fresh database, under testLease.
func newTurn(t testing.TB, pool *pgxpool.Pool, n int) rlhf.Turn {
	return newLeasedTurn(t, pool, n, testLease())
}

// newLeasedTurn stores a turn of n streaming candidates under lease.
func newLeasedTurn(t testing.TB, pool *pgxpool.Pool, n int, lease rlhf.Lease, opts ...rlhf.Option) rlhf.Turn {
	store, ps := rlhf.NewStore(pool, opts...), prompts.NewStore(pool)
	t.Helper()
	ctx := context.Background()
	project, err := ps.CreateProject(ctx, prompts.Project{Name: "锁顺序"})
	require.NoError(t, err)
	persona, err := ps.CreatePersona(ctx, prompts.Persona{ProjectID: project.ID, Name: "助手", Kind: prompts.DomainAssistant})
	require.NoError(t, err)
	v, err := ps.PublishVersion(ctx, persona.ID, prompts.Version{Template: "你是{{.Persona.Name}}", Model: "baseline-extractive",
		Temperature: 0.3, TopP: 1, MaxTokens: 100, Author: "t", CorpusIDs: []int64{}})
	require.NoError(t, err)
	u, err := auth.NewStore(pool, nil).CreateUser(ctx, auth.NewUser{Login: fmt.Sprintf("t%d", persona.ID), DisplayName: "训练师", Password: "correct horse battery"})
	require.NoError(t, err)
	specs := make([]rlhf.CandidateSpec, n)
	for i := range specs {
		specs[i] = rlhf.CandidateSpec{Position: i + 1, Model: "m", PromptVersionID: v.ID, SystemPromptHash: "h"}
	}
	turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: project.ID, PersonaID: persona.ID, Locale: "zh-CN",
		UserID: u.ID, Message: "问题", Candidates: specs, Lease: lease})
	require.NoError(t, err)
	return turn
}

// TestFlushAndFinishNeverDeadlock runs the once-a-second save of every live candidate
// against the candidates' own final saves, as a busy replica does. They once locked
// candidates and messages in opposite orders, and PostgreSQL broke the cycles by failing
// saves with "deadlock detected".
func TestFlushAndFinishNeverDeadlock(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	const rounds, n = 30, 8
	for round := range rounds {
		turn := newTurn(t, pool, n)
		var wg sync.WaitGroup
		errc := make(chan error, 4*n)
		// One flusher, as each replica's hub has, saving every live candidate again and
		// again while their streams finish.
		wg.Go(func() {
			for k := range 4 {
				batch := make([]rlhf.Snapshot, n)
				for i, c := range turn.Candidates {
					batch[(i+k)%n] = rlhf.Snapshot{ID: c.ID, Content: fmt.Sprintf("部分 %d-%d", round, k), Dirty: true}
				}
				_, err := store.Flush(ctx, testLease(), batch)
				errc <- err
			}
		})
		for _, c := range turn.Candidates {
			wg.Go(func() {
				c.Content, c.Status, c.FinishReason = "完整的回复", rlhf.StatusComplete, "stop"
				errc <- store.Finish(ctx, c)
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			require.NoError(t, err, "round %d", round)
		}
		got, err := store.Turn(ctx, turn.ID)
		require.NoError(t, err)
		for _, c := range got.Candidates {
			assert.Equal(t, rlhf.StatusComplete, c.Status)
			assert.Equal(t, "完整的回复", c.Content, "a late flush never undoes a finish")
		}
	}
}

// TestUsableMeansTheSameInGoAndSQL: what a judgment may rank (Go) and what an export may
// hold (SQL) once disagreed on white space beyond ASCII.
func TestUsableMeansTheSameInGoAndSQL(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	for _, tt := range []struct {
		status  rlhf.Status
		content string
	}{
		{"complete", "回复"}, {"complete", ""}, {"complete", " \t\n"}, {"complete", "\u3000\u3000"},
		{"complete", "\u00a0\u200b\ufeff"}, {"complete", "\u2003x\u2003"}, {"cancelled", "半句"}, {"interrupted", "\n"},
		{"failed", "部分"}, {"streaming", "正在"},
	} {
		var sql bool
		require.NoError(t, pool.QueryRow(context.Background(), `SELECT `+rlhf.UsableSQL("$1::text", "$2::text"), tt.status, tt.content).Scan(&sql))
		assert.Equal(t, rlhf.Usable(tt.status, tt.content), sql, "%s %q", tt.status, tt.content)
	}
}

// TestFinishAllSavesOnlyWhatIsNew saves several candidates' final states in one statement,
// each sending only the text after its last save that went through (Base), as the live
// engine does: from no save at all, after a save, and after a save whose answer was lost
// (the row is further along than the base says). A candidate another replica owns is left
// alone, and the others of the batch are saved all the same.
func TestFinishAllSavesOnlyWhatIsNew(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	turn := newTurn(t, pool, 4)
	c := turn.Candidates
	// c[1] was saved once with 前半 at seq 5; c[2] too, and then again from the same base
	// with more (its answer lost): the row holds 前半多 at seq 6 while the engine's base is seq 5.
	kept, err := store.Flush(ctx, testLease(), []rlhf.Snapshot{
		{ID: c[1].ID, Content: "前半", Seq: 5, Dirty: true}, {ID: c[2].ID, Content: "前半", Seq: 5, Dirty: true}})
	require.NoError(t, err)
	require.Len(t, kept, 2)
	_, err = store.Flush(ctx, testLease(), []rlhf.Snapshot{{ID: c[2].ID, Content: "多", Seq: 6, Dirty: true,
		Base: rlhf.Saved{Seq: 5, ContentChars: 2}}})
	require.NoError(t, err)
	five := rlhf.Saved{Seq: 5, ContentChars: 2}
	final := func(i int, owner, tail string, base rlhf.Saved) rlhf.Final {
		f := c[i]
		f.Owner, f.Content, f.Status, f.FinishReason, f.Seq = owner, tail, rlhf.StatusComplete, "stop", 9
		return rlhf.Final{C: f, Base: base}
	}
	written, err := store.FinishAll(ctx, []rlhf.Final{
		final(0, "replica-a", "完整的回复", rlhf.Saved{}),
		final(1, "replica-a", "后半", five),
		final(2, "replica-a", "后半", five),
		final(3, "replica-b", "别人的", rlhf.Saved{}),
	})
	require.NoError(t, err)
	assert.Equal(t, []bool{true, true, true, false}, written)
	got, err := store.Turn(ctx, turn.ID)
	require.NoError(t, err)
	for i, want := range []struct {
		status  rlhf.Status
		content string
		seq     int64
	}{{rlhf.StatusComplete, "完整的回复", 9}, {rlhf.StatusComplete, "前半后半", 9}, {rlhf.StatusComplete, "前半后半", 9}, {rlhf.StatusStreaming, "", 0}} {
		assert.Equal(t, want.status, got.Candidates[i].Status, "candidate %d", i)
		assert.Equal(t, want.content, got.Candidates[i].Content, "candidate %d", i)
		assert.Equal(t, want.seq, got.Candidates[i].Seq, "candidate %d", i)
	}
	written, err = store.FinishAll(ctx, []rlhf.Final{final(0, "replica-a", "再来", rlhf.Saved{})})
	require.NoError(t, err)
	assert.Equal(t, []bool{false}, written, "a finished candidate is not finished twice")
}

// TestFlushAndFinishAllNeverDeadlock: batched final saves, in opposite orders, against the
// once-a-second save of the same candidates. Both lock rows in id order.
func TestFlushAndFinishAllNeverDeadlock(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	const rounds, n = 20, 8
	for round := range rounds {
		turn := newTurn(t, pool, n)
		var wg sync.WaitGroup
		errc := make(chan error, 8)
		wg.Go(func() {
			for k := range 4 {
				batch := make([]rlhf.Snapshot, n)
				for i, c := range turn.Candidates {
					batch[(i+k)%n] = rlhf.Snapshot{ID: c.ID, Content: "部分", Dirty: true}
				}
				_, err := store.Flush(ctx, testLease(), batch)
				errc <- err
			}
		})
		for half := range 2 {
			wg.Go(func() {
				var fs []rlhf.Final
				for i := range n {
					c := turn.Candidates[i]
					if half == 1 {
						c = turn.Candidates[n-1-i]
					}
					c.Content, c.Status, c.FinishReason = "完整的回复", rlhf.StatusComplete, "stop"
					fs = append(fs, rlhf.Final{C: c})
				}
				_, err := store.FinishAll(ctx, fs)
				errc <- err
			})
		}
		wg.Wait()
		close(errc)
		for err := range errc {
			require.NoError(t, err, "round %d", round)
		}
		got, err := store.Turn(ctx, turn.ID)
		require.NoError(t, err)
		for _, c := range got.Candidates {
			assert.Equal(t, rlhf.StatusComplete, c.Status)
		}
	}
}

// TestStartTurnInOneStatement stores a turn as one statement: a new conversation with
// candidates (their passages and plan places kept, each with a message of its own), then a
// turn continuing it, and refuses, naming the field, a continuation from a message that is not
// a reply of the conversation or with another persona, storing nothing.
func TestStartTurnInOneStatement(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	first := newTurn(t, pool, 2) // a project, persona, version and user to reuse
	var personaID, projectID, userID int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT c.persona_id, c.project_id, c.created_by FROM conversations c WHERE c.id = $1`,
		first.ConversationID).Scan(&personaID, &projectID, &userID))
	one, two := 0, 1
	specs := []rlhf.CandidateSpec{
		{Position: 1, PlanIndex: &two, Model: "m1", PromptVersionID: first.Candidates[0].PromptVersionID, SystemPromptHash: "h", PassageIDs: []int64{}},
		{Position: 2, PlanIndex: &one, Model: "m2", PromptVersionID: first.Candidates[0].PromptVersionID, SystemPromptHash: "h", PassageIDs: []int64{7, 3}},
	}
	seed := int64(42)
	turn, err := store.StartTurn(ctx, rlhf.NewTurn{ProjectID: projectID, PersonaID: personaID, Locale: "zh-CN", UserID: userID,
		Message: "新的问题", Candidates: specs, ShuffleSeed: &seed, Lease: testLease()})
	require.NoError(t, err)
	stored, err := store.Turn(ctx, turn.ID)
	require.NoError(t, err)
	assert.Equal(t, turn.ConversationID, stored.ConversationID)
	assert.Equal(t, turn.UserMessageID, stored.UserMessageID)
	require.Len(t, stored.Candidates, 2)
	for i, c := range stored.Candidates {
		assert.Equal(t, turn.Candidates[i].ID, c.ID)
		assert.Equal(t, turn.Candidates[i].MessageID, c.MessageID)
		assert.Equal(t, specs[i].Model, c.Model)
		assert.Equal(t, *specs[i].PlanIndex, *c.PlanIndex)
		assert.Equal(t, specs[i].PassageIDs, c.PassageIDs)
		assert.Equal(t, rlhf.StatusStreaming, c.Status)
		assert.Equal(t, "replica-a", c.Owner)
	}
	var parent *int64
	var storedSeed *int64
	require.NoError(t, pool.QueryRow(ctx, `SELECT m.parent_id, t.shuffle_seed FROM messages m JOIN turns t ON t.user_message_id = m.id
		WHERE m.id = $1`, turn.UserMessageID).Scan(&parent, &storedSeed))
	assert.Nil(t, parent)
	assert.Equal(t, seed, *storedSeed)

	reply := turn.Candidates[1].MessageID
	next, err := store.StartTurn(ctx, rlhf.NewTurn{ConversationID: turn.ConversationID, PersonaID: personaID, ParentID: &reply, UserID: userID,
		Message: "接着问", Candidates: specs[:1], Lease: testLease()})
	require.NoError(t, err)
	assert.Equal(t, turn.ConversationID, next.ConversationID)
	require.NoError(t, pool.QueryRow(ctx, `SELECT parent_id FROM messages WHERE id = $1`, next.UserMessageID).Scan(&parent))
	assert.Equal(t, reply, *parent)

	var before int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&before))
	question := turn.UserMessageID
	for _, tt := range []struct {
		name  string
		in    rlhf.NewTurn
		field string
	}{
		{"a parent that is the user's message", rlhf.NewTurn{ConversationID: turn.ConversationID, PersonaID: personaID, ParentID: &question}, "parent_message_id"},
		{"no parent", rlhf.NewTurn{ConversationID: turn.ConversationID, PersonaID: personaID}, "parent_message_id"},
		{"another persona", rlhf.NewTurn{ConversationID: turn.ConversationID, PersonaID: personaID + 1000, ParentID: &reply}, "conversation_id"},
		{"a parent for a new conversation", rlhf.NewTurn{ProjectID: projectID, PersonaID: personaID, ParentID: &reply}, "parent_message_id"},
	} {
		tt.in.UserID, tt.in.Message, tt.in.Candidates, tt.in.Lease, tt.in.Locale = userID, "问", specs, testLease(), "zh-CN"
		_, err := store.StartTurn(ctx, tt.in)
		var e *errs.Error
		if assert.ErrorAs(t, err, &e, tt.name) {
			assert.Equal(t, tt.field, e.Field, "%s: %v", tt.name, err)
		}
	}
	var after int
	require.NoError(t, pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&after))
	assert.Equal(t, before, after, "a refused turn stores nothing")
}

// TestCandidatesOfManyTurnsInOneRead: a follower's one read per tick returns every followed
// turn's candidates, by turn and position, with their text and seq, and nothing of others.
func TestCandidatesOfManyTurnsInOneRead(t *testing.T) {
	t.Parallel()
	pool := pgtest.Pool(t)
	store := rlhf.NewStore(pool)
	ctx := context.Background()
	one, two, other := newTurn(t, pool, 2), newTurn(t, pool, 3), newTurn(t, pool, 1)
	_, err := store.Flush(ctx, testLease(), []rlhf.Snapshot{{ID: two.Candidates[1].ID, Content: "部分", Seq: 4, Dirty: true}})
	require.NoError(t, err)
	got, err := store.Candidates(ctx, []int64{two.ID, one.ID})
	require.NoError(t, err)
	var ids []int64
	for _, c := range got {
		ids = append(ids, c.ID)
		if c.ID == two.Candidates[1].ID {
			assert.Equal(t, "部分", c.Content)
			assert.EqualValues(t, 4, c.Seq)
		}
	}
	first, second := one, two
	if one.ID > two.ID {
		first, second = two, one
	}
	var want []int64
	for _, c := range append(slices.Clone(first.Candidates), second.Candidates...) {
		want = append(want, c.ID)
	}
	assert.Equal(t, want, ids)
	assert.NotContains(t, ids, other.Candidates[0].ID)
}

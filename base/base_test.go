package base_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/text/encoding/simplifiedchinese"

	"github.com/mentor-ai/mentor/auth"
	"github.com/mentor-ai/mentor/base"
	"github.com/mentor-ai/mentor/campaign"
	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/internal/pgtest"
	"github.com/mentor-ai/mentor/jobs"
	"github.com/mentor-ai/mentor/llm"
	"github.com/mentor-ai/mentor/prompts"
)

func TestParsePeople(t *testing.T) {
	t.Parallel()
	gbk, err := simplifiedchinese.GB18030.NewEncoder().String("账号,姓名,基地,角色,组长\nwang.fang,王芳,积石山,trainer,是\n,无名,积石山,trainer,\nli.lei,李雷,,trainer,\nzhao,赵,宜君,boss,\n")
	require.NoError(t, err)
	tests := []struct {
		name   string
		data   string
		logins []string
		bad    map[int]string // line → field
		whole  string
	}{
		{name: "GB18030 with Chinese headers", data: gbk, logins: []string{"wang.fang"},
			bad: map[int]string{3: "login", 4: "base", 5: "role"}},
		{name: "UTF-8", data: "login,name,base,role\nA.Chen,Chen A,Yijun,reviewer\n", logins: []string{"a.chen"}, bad: map[int]string{}},
		{name: "a missing column", data: "login,name,role\nx,y,trainer\n", whole: "header"},
		{name: "a workbook", data: "PK\x03\x04....", whole: "file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rows, bad, err := base.ParsePeople([]byte(tt.data))
			if tt.whole != "" {
				var e *errs.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, tt.whole, e.Field)
				return
			}
			require.NoError(t, err)
			var logins []string
			for _, r := range rows {
				logins = append(logins, r.Login)
			}
			assert.Equal(t, tt.logins, logins)
			got := map[int]string{}
			for _, b := range bad {
				got[b.Line] = b.Field
			}
			assert.Equal(t, tt.bad, got)
		})
	}
}

// TestImportPeopleAndTheLeadsView: good rows go in (accounts, bases, roles, leads), a bad one
// is reported, and the lead sees the base's people with their day's work.
func TestImportPeopleAndTheLeadsView(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := pgtest.Pool(t)
	users := auth.NewStore(pool, nil)
	store := base.NewStore(pool, users)
	ps := prompts.NewStore(pool)
	project, err := ps.CreateProject(ctx, prompts.Project{Name: "基地项目"})
	require.NoError(t, err)
	existing, err := users.CreateUser(ctx, auth.NewUser{Login: "old.hand", DisplayName: "老手", Password: "correct horse battery"})
	require.NoError(t, err)
	rows, bad, err := base.ParsePeople([]byte("login,name,base,role,lead\nlead.one,组长,积石山,trainer,yes\nold.hand,老手,积石山,trainer,\nnew.one,新人,积石山,trainer,\n"))
	require.NoError(t, err)
	require.Empty(t, bad)
	rep, err := store.ImportPeople(ctx, project.ID, rows)
	require.NoError(t, err)
	require.Len(t, rep.Added, 3)
	assert.True(t, rep.Added[0].Created)
	assert.NotEmpty(t, rep.Added[0].Password, "a new account's first password, shown once")
	assert.False(t, rep.Added[1].Created, "an existing account is added, not created")
	assert.Empty(t, rep.Added[1].Password)
	role, err := users.Role(ctx, existing.ID, project.ID)
	require.NoError(t, err)
	assert.Equal(t, auth.RoleTrainer, role)

	// The same person in another base is a bad row; the rest still goes in.
	rows, _, err = base.ParsePeople([]byte("login,name,base,role\nold.hand,老手,宜君,trainer\nthird,第三,宜君,viewer\n"))
	require.NoError(t, err)
	rep, err = store.ImportPeople(ctx, project.ID, rows)
	require.NoError(t, err)
	require.Len(t, rep.Errors, 1)
	assert.Equal(t, 2, rep.Errors[0].Line)
	assert.Equal(t, "base", rep.Errors[0].Field)
	require.Len(t, rep.Added, 1)

	bases, err := store.List(ctx)
	require.NoError(t, err)
	require.Len(t, bases, 2)
	north := bases[1] // by name: 宜君 (U+5B9C) sorts before 积石山 (U+79EF)
	require.Equal(t, "积石山", north.Name)
	assert.Equal(t, 3, north.Members)
	assert.Equal(t, 1, north.Leads)
	lead, err := users.UserByLogin(ctx, "lead.one")
	require.NoError(t, err)
	isLead, err := store.LeadOf(ctx, lead.ID, north.ID)
	require.NoError(t, err)
	assert.True(t, isLead)
	notLead, err := store.LeadOf(ctx, existing.ID, north.ID)
	require.NoError(t, err)
	assert.False(t, notLead)

	queue, err := jobs.NewInserter(pool)
	require.NoError(t, err)
	models, err := llm.NewRegistry(ctx, llm.RegistryConfig{Getenv: func(string) string { return "" }})
	require.NoError(t, err)
	cs := campaign.NewStore(pool, models, queue, campaign.Options{Now: func() time.Time { return time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC) }, Location: time.UTC})
	people, err := cs.BaseView(ctx, north.ID)
	require.NoError(t, err)
	require.Len(t, people, 3)
	for _, p := range people {
		assert.False(t, p.Working)
		assert.Zero(t, p.DoneToday)
		assert.Equal(t, p.Login == "lead.one", p.IsLead)
	}
}

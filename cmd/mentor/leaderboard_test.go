package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mentor-ai/mentor/leaderboard"
)

// TestLeaderboardThroughMentorServe: `mentor serve --dev` seeds the demo's simulated blind
// votes; the board, the comparison and the CLI read them, and bad input is named.
func TestLeaderboardThroughMentorServe(t *testing.T) {
	m := startMentor(t, slowStart)
	trainer := m.signIn(t, "trainer")

	var board struct {
		leaderboard.Board
		Dimensions []leaderboard.Dimension `json:"dimensions"`
	}
	trainer.get("/api/v1/projects/demo/leaderboard?persona=customs-helper&rounds=200", &board)
	assert.Equal(t, "checked", board.Counted, "the board says which votes it counts")
	assert.Equal(t, "blind", board.Source)
	assert.False(t, board.StyleControl)
	require.Len(t, board.Parts, 1, "%+v", board.Notices)
	require.Len(t, board.Parts[0].Entries, 2)
	assert.Equal(t, "customs-helper/v2", board.Parts[0].Entries[0].Key, "the demo's voters favour v2")
	require.NotEmpty(t, board.Dimensions)

	// The whole project: three personas never compared with each other.
	var whole leaderboard.Board
	trainer.get("/api/v1/projects/demo/leaderboard?rounds=100", &whole)
	assert.Contains(t, whole.Notices, leaderboard.NoticeDisconnected)
	assert.Len(t, whole.Parts, 3)

	status, body := trainer.call("GET", "/api/v1/projects/demo/leaderboard?persona=customs-helper&dimension=charm", nil)
	assert.Equal(t, http.StatusUnprocessableEntity, status, "%s", body)
	e := decodeError(t, body)
	assert.Equal(t, "dimension", e.Error.Field)
	assert.Contains(t, e.Error.Message, board.Dimensions[0].Key, "the valid dimensions are listed")

	var cmp leaderboard.Comparison
	trainer.get("/api/v1/projects/demo/leaderboard/compare?persona=customs-helper&a=1&b=2&rounds=200", &cmp)
	assert.Equal(t, leaderboard.VerdictBetter, cmp.Overall.Verdict, "%+v", cmp.Overall)
	assert.NotEmpty(t, cmp.VerdictZh)

	// The voter check names trainers: managers only.
	status, _ = trainer.call("GET", "/api/v1/projects/demo/leaderboard/voters", nil)
	assert.Equal(t, http.StatusForbidden, status)
	var voters struct {
		Voters []leaderboard.Voter `json:"voters"`
	}
	m.signIn(t, "admin").get("/api/v1/projects/demo/leaderboard/voters?persona=customs-helper&rounds=50", &voters)
	assert.NotEmpty(t, voters.Voters)

	// The CLI, through run as main calls it.
	for _, format := range []string{"csv", "json"} {
		var out, errOut syncBuffer
		err := run(context.Background(), []string{"mentor", "leaderboard", "--project", "demo", "--persona", "customs-helper",
			"--by", "version", "--rounds", "100", "--format", format}, envFunc(map[string]string{"DATABASE_URL": m.dsn}), nil, &out, &errOut)
		require.NoError(t, err, errOut.String())
		if format == "csv" {
			rows, err := csv.NewReader(strings.NewReader(out.String())).ReadAll()
			require.NoError(t, err)
			require.Len(t, rows, 3, out.String())
			assert.Equal(t, []string{"group", "rank", "entry", "score", "lower", "upper", "votes", "win_rate", "preliminary", "reference", "smoothed"}, rows[0])
			assert.Equal(t, "customs-helper v2", rows[1][2])
			assert.Contains(t, errOut.String(), "counted: checked, source: blind")
		} else {
			var b leaderboard.Board
			require.NoError(t, json.Unmarshal([]byte(out.String()), &b))
			assert.Equal(t, 100, b.Rounds)
		}
	}
	var out, errOut syncBuffer
	err := run(context.Background(), []string{"mentor", "leaderboard", "--project", "demo", "--dimension", "charm"},
		envFunc(map[string]string{"DATABASE_URL": m.dsn}), nil, &out, &errOut)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "charm")
}

// TestLeaderboardStyleControlThroughMentorServe asks the shipped wiring for style-controlled
// answers: the board and a comparison with style=control say so, carry one coefficient per
// covariate with its interval, and match the OpenAPI document `mentor serve` publishes; the
// command with --style control prints the same in JSON and, in CSV, its coefficients on
// stderr.
func TestLeaderboardStyleControlThroughMentorServe(t *testing.T) {
	t.Parallel()
	m := startMentor(t, slowStart)
	doc := fetchDocument(t, m)
	trainer := m.signIn(t, "trainer")

	cases := []struct {
		name, query string
		control     bool
	}{
		{"plain", "persona=customs-helper&rounds=100", false},
		{"style control", "persona=customs-helper&rounds=100&style=control", true},
		{"style control by model and version", "persona=customs-helper&by=model_version&rounds=50&style=control", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := trainer.call("GET", "/api/v1/projects/demo/leaderboard?"+tc.query, nil)
			require.Equal(t, http.StatusOK, status, "%s", body)
			doc.check(t, "GET", "/projects/{project}/leaderboard", status, body)
			// The check itself can fail: a field the document lacks is refused.
			tampered := bytes.Replace(body, []byte(`"style_control"`), []byte(`"style_adjusted":true,"style_control"`), 1)
			assert.Error(t, doc.validate(t, "GET", "/projects/{project}/leaderboard", status, tampered))
			var b leaderboard.Board
			require.NoError(t, json.Unmarshal(body, &b))
			assert.Equal(t, tc.control, b.StyleControl, "the board says which it shows")
			require.Len(t, b.Parts, 1, "%+v", b.Notices)
			if !tc.control {
				assert.Empty(t, b.Parts[0].Style)
				return
			}
			require.Len(t, b.Parts[0].Style, leaderboard.Covariates)
			for i, name := range []string{leaderboard.CovariateLength, leaderboard.CovariateMarkdown} {
				c := b.Parts[0].Style[i]
				assert.Equal(t, name, c.Name)
				assert.LessOrEqual(t, c.Lower, c.Value, "%+v", c)
				assert.LessOrEqual(t, c.Value, c.Upper, "%+v", c)
				assert.Positive(t, c.Differing, "the demo's replies vary in length and markdown: %+v", c)
			}
			assert.Equal(t, "customs-helper/v2", b.Parts[0].Entries[0].Key[:len("customs-helper/v2")], "style control keeps the demo's clear winner")
		})
	}

	status, body := trainer.call("GET", "/api/v1/projects/demo/leaderboard/compare?persona=customs-helper&a=1&b=2&rounds=100&style=control", nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	doc.check(t, "GET", "/projects/{project}/leaderboard/compare", status, body)
	var cmp leaderboard.Comparison
	require.NoError(t, json.Unmarshal(body, &cmp))
	assert.True(t, cmp.StyleControl, "the comparison says its differences are style-adjusted")
	assert.Equal(t, leaderboard.VerdictBetter, cmp.Overall.Verdict, "%+v", cmp.Overall)
	require.NotNil(t, cmp.Overall.Diff)
	assert.NotEmpty(t, cmp.Dimensions)

	admin := m.signIn(t, "admin")
	status, body = admin.call("GET", "/api/v1/projects/demo/leaderboard/voters?persona=customs-helper&rounds=50&style=control", nil)
	require.Equal(t, http.StatusOK, status, "%s", body)
	doc.check(t, "GET", "/projects/{project}/leaderboard/voters", status, body)

	env := envFunc(map[string]string{"DATABASE_URL": m.dsn})
	var out, errOut syncBuffer
	require.NoError(t, run(context.Background(), []string{"mentor", "leaderboard", "--project", "demo", "--persona", "customs-helper",
		"--style", "control", "--rounds", "100", "--format", "json"}, env, nil, &out, &errOut), errOut.String())
	var b leaderboard.Board
	require.NoError(t, json.Unmarshal([]byte(out.String()), &b))
	assert.True(t, b.StyleControl)
	require.Len(t, b.Parts, 1)
	assert.Len(t, b.Parts[0].Style, leaderboard.Covariates)

	var csvOut, csvErr syncBuffer
	require.NoError(t, run(context.Background(), []string{"mentor", "leaderboard", "--project", "demo", "--persona", "customs-helper",
		"--style", "control", "--rounds", "100", "--format", "csv"}, env, nil, &csvOut, &csvErr), csvErr.String())
	rows, err := csv.NewReader(strings.NewReader(csvOut.String())).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 3, csvOut.String())
	assert.Equal(t, "customs-helper v2", rows[1][2])
	assert.Contains(t, csvErr.String(), "style control: true")
	assert.Contains(t, csvErr.String(), "style coefficient length")
	assert.Contains(t, csvErr.String(), "style coefficient markdown")

	err = run(context.Background(), []string{"mentor", "leaderboard", "--project", "demo", "--style", "colour"}, env, nil, &syncBuffer{}, &syncBuffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "style")
}

package server

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/mentor-ai/mentor/errs"
	"github.com/mentor-ai/mentor/leaderboard"
)

// Leaderboards (issue 15): boards fitted from votes, version-against-version comparisons,
// and the voter check.

// boardQuery is a board's query parameters, for the OpenAPI document.
type boardQuery struct {
	By        string `json:"by"`        // model, version (default) or model_version
	Dimension string `json:"dimension"` // a rubric dimension; empty: the ranking
	Persona   string `json:"persona"`   // a persona's slug; empty: the whole project
	Counted   string `json:"counted"`   // checked (default) or submitted
	Source    string `json:"source"`    // blind (default) or all
	Style     string `json:"style"`     // none (default) or control: length and markdown as covariates
	Rounds    int    `json:"rounds"`    // bootstrap rounds, 10..10000 (1000)
	Seed      int    `json:"seed"`      // the bootstrap's seed (1)
}

// boardOptions reads a board's options from the query string.
func boardOptions(c *gin.Context) (leaderboard.Options, error) {
	o := leaderboard.Options{By: c.Query("by"), Dimension: c.Query("dimension"), Persona: c.Query("persona"),
		Counted: c.Query("counted"), Source: c.Query("source"), Style: c.Query("style")}
	if err := queryInt(c, "rounds", &o.Rounds); err != nil {
		return o, err
	}
	if v := c.Query("seed"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil || n == 0 {
			return o, errs.Field("seed", "%q is not a whole number", v)
		}
		o.Seed = n
	}
	return o, nil
}

// boardView is a board with the dimensions it could be fitted on instead.
type boardView struct {
	leaderboard.Board
	Dimensions []leaderboard.Dimension `json:"dimensions"`
}

func handleLeaderboard(d Deps) apiFunc {
	return func(c *gin.Context) error {
		o, err := boardOptions(c)
		if err != nil {
			return err
		}
		ctx, project := c.Request.Context(), projectOf(c)
		b, err := d.Leaderboards.Board(ctx, project.ID, o)
		if err != nil {
			return err
		}
		dims, err := d.Leaderboards.Dimensions(ctx, project.ID, b.Persona)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, boardView{Board: b, Dimensions: dims})
		return nil
	}
}

// compareQuery is a comparison's query parameters, for the OpenAPI document.
type compareQuery struct {
	Persona string `json:"persona"` // the persona's slug
	A       int    `json:"a"`       // the version compared against
	B       int    `json:"b"`       // the version being judged
	Counted string `json:"counted"` // checked (default) or submitted
	Source  string `json:"source"`  // blind (default) or all
	Style   string `json:"style"`   // none (default) or control: length and markdown as covariates
	Rounds  int    `json:"rounds"`  // bootstrap rounds (1000)
	Seed    int    `json:"seed"`    // the bootstrap's seed (1)
}

func handleCompareVersions(d Deps) apiFunc {
	return func(c *gin.Context) error {
		o, err := boardOptions(c)
		if err != nil {
			return err
		}
		var a, b int
		if err := queryInt(c, "a", &a); err != nil {
			return err
		}
		if err := queryInt(c, "b", &b); err != nil {
			return err
		}
		cmp, err := d.Leaderboards.Compare(c.Request.Context(), projectOf(c).ID, c.Query("persona"), a, b, o)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, cmp)
		return nil
	}
}

func handleLeaderboardVoters(d Deps) apiFunc {
	return func(c *gin.Context) error {
		o, err := boardOptions(c)
		if err != nil {
			return err
		}
		check, err := d.Leaderboards.Voters(c.Request.Context(), projectOf(c).ID, o)
		if err != nil {
			return err
		}
		c.JSON(http.StatusOK, check)
		return nil
	}
}

package server

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/migrations"
)

// handleHealthz says the process is up. It touches nothing else, so a slow database never
// gets a healthy process restarted.
func handleHealthz() gin.HandlerFunc {
	return func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	}
}

type readiness struct {
	Status        string   `json:"status"`
	SchemaVersion int64    `json:"schema_version"`
	BinaryVersion int64    `json:"binary_schema_version"`
	Problems      []string `json:"problems,omitempty"`
}

// handleReadyz says whether this replica can serve traffic: the database answers and its
// schema is exactly the one this binary was built for.
func handleReadyz(pool *pgxpool.Pool) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
		defer cancel()
		var r readiness
		latest, err := migrations.Latest()
		if err != nil {
			r.Problems = append(r.Problems, err.Error())
		}
		r.BinaryVersion = latest
		if current, err := db.SchemaVersion(ctx, pool); err != nil {
			r.Problems = append(r.Problems, "database unreachable: "+err.Error())
		} else {
			r.SchemaVersion = current
			switch {
			case current > latest:
				r.Problems = append(r.Problems, fmt.Sprintf(
					"database schema version %d is newer than this binary's %d: deploy a newer mentor or run `mentor migrate down`", current, latest))
			case current < latest:
				r.Problems = append(r.Problems, fmt.Sprintf(
					"database schema version %d is older than this binary's %d: run `mentor migrate up`", current, latest))
			}
		}
		if len(r.Problems) > 0 {
			r.Status = "not ready"
			c.JSON(http.StatusServiceUnavailable, r)
			return
		}
		r.Status = "ready"
		c.JSON(http.StatusOK, r)
	}
}

// versionInfo is GET /version: the build and the database schema it expects.
type versionInfo struct {
	Version       string `json:"version"`
	SchemaVersion int64  `json:"schema_version"`
}

func handleVersion(version string) apiFunc {
	return func(c *gin.Context) error {
		latest, err := migrations.Latest()
		return respond(c, http.StatusOK, versionInfo{Version: version, SchemaVersion: latest}, err)
	}
}

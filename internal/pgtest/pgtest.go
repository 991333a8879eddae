// Package pgtest gives tests their own PostgreSQL databases on the real server that
// `make test` starts.
//
// Every call clones a template database that already carries the whole schema, so a test
// starts from a migrated database in milliseconds and tests run in parallel without seeing
// each other's rows. The template is named after a hash of the migration files, so changing
// a migration builds a new one.
package pgtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mentor-ai/mentor/db"
	"github.com/mentor-ai/mentor/migrations"
)

// EnvAdminURL names the variable holding a superuser URL for the test cluster.
const EnvAdminURL = "MENTOR_TEST_DATABASE_URL"

// templateLockKey serialises template builds across test processes (go test runs packages
// as separate processes).
const templateLockKey = 0x6d656e746f72 // "mentor"

var templates sync.Map // template name -> struct{}: built in this process already

// AdminURL returns the superuser URL for the test cluster, failing the test when unset:
// tests never skip for want of a database.
func AdminURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvAdminURL)
	if u == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts a private PostgreSQL with pgvector", EnvAdminURL)
	}
	return u
}

// URL returns the URL of a new, fully migrated database that is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	admin := AdminURL(t)
	tmpl := ensureTemplate(t, admin)
	return createDatabase(t, admin, fmt.Sprintf("TEMPLATE %s", pgx.Identifier{tmpl}.Sanitize()))
}

// EmptyURL returns the URL of a new database with no schema at all, for migration tests.
func EmptyURL(t testing.TB) string {
	t.Helper()
	return createDatabase(t, AdminURL(t), "TEMPLATE template0")
}

// Pool returns a pool on a new, fully migrated database, closed and dropped when the test ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := db.Connect(ctx, URL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func createDatabase(t testing.TB, admin, from string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn := connect(t, ctx, admin)
	defer conn.Close(ctx)

	name := "mentor_test_" + randomSuffix(t)
	if _, err := conn.Exec(ctx, fmt.Sprintf("CREATE DATABASE %s %s", pgx.Identifier{name}.Sanitize(), from)); err != nil {
		t.Fatalf("pgtest: create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, fmt.Sprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", pgx.Identifier{name}.Sanitize())); err != nil {
			t.Errorf("pgtest: drop %s: %v", name, err)
		}
	})
	return withDatabase(t, admin, name)
}

func ensureTemplate(t testing.TB, admin string) string {
	t.Helper()
	name := templateName(t)
	if _, ok := templates.Load(name); ok {
		return name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	conn := connect(t, ctx, admin)
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		t.Fatalf("pgtest: lock: %v", err)
	}
	defer conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", templateLockKey) //nolint:errcheck // the session ends right after

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		t.Fatalf("pgtest: look for template: %v", err)
	}
	if !exists {
		building := name + "_building"
		ident := pgx.Identifier{building}.Sanitize()
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident+" TEMPLATE template0"); err != nil {
			t.Fatalf("pgtest: create template: %v", err)
		}
		m, err := db.NewMigrator(ctx, withDatabase(t, admin, building), nil)
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		_, err = m.Up(ctx)
		m.Close()
		if err != nil {
			t.Fatalf("pgtest: migrate template: %v", err)
		}
		// Renaming last means a half-built template is never cloned.
		if _, err := conn.Exec(ctx, fmt.Sprintf("ALTER DATABASE %s RENAME TO %s", ident, pgx.Identifier{name}.Sanitize())); err != nil {
			t.Fatalf("pgtest: publish template: %v", err)
		}
	}
	templates.Store(name, struct{}{})
	return name
}

// templateName hashes the migration files, so a new or changed migration gets a new template.
func templateName(t testing.TB) string {
	t.Helper()
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		t.Fatalf("pgtest: hash migrations: %v", err)
	}
	return "mentor_tmpl_" + hex.EncodeToString(h.Sum(nil))[:16]
}

func connect(t testing.TB, ctx context.Context, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("pgtest: connect to %s: %v", db.Redact(dsn), err)
	}
	return conn
}

func withDatabase(t testing.TB, dsn, name string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: %s must be a postgres:// URL: %v", EnvAdminURL, err)
	}
	u.Path = "/" + name
	return u.String()
}

func randomSuffix(t testing.TB) string {
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return hex.EncodeToString(b)
}

package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Binary is a built cmd/loadgen.
type Binary struct{ path string }

// Build compiles cmd/loadgen into the benchmark's temporary directory.
func Build(tb testing.TB) Binary {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "loadgen")
	out, err := exec.Command("go", "build", "-o", path, "github.com/mentor-ai/mentor/internal/loadgen/cmd/loadgen").CombinedOutput()
	if err != nil {
		tb.Fatalf("loadgen: build: %v\n%s", err, out)
	}
	return Binary{path: path}
}

// Run runs one phase in the load generator's process and returns what it measured. Any
// failed request fails the phase.
func (bin Binary) Run(ctx context.Context, cfg Config) (Result, error) {
	in, err := json.Marshal(cfg)
	if err != nil {
		return Result{}, err
	}
	cmd := exec.CommandContext(ctx, bin.path)
	cmd.Stdin = bytes.NewReader(in)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return Result{}, fmt.Errorf("loadgen: %v: %s", err, stderr.String())
	}
	var res Result
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		return Result{}, fmt.Errorf("loadgen: read its result: %w", err)
	}
	if res.Failed > 0 {
		return res, fmt.Errorf("loadgen: %d of %d requests failed, the first: %s", res.Failed, res.Sent, res.FirstError)
	}
	return res, nil
}

// Usage is what a stretch of work cost the benchmark's own process (the server, when the
// load comes from loadgen) and the PostgreSQL backends of the pool's database.
type Usage struct {
	GoCPU   time.Duration
	PGCPU   time.Duration
	Mallocs uint64
	Bytes   uint64
}

// PerOp divides u by n operations: CPU in milliseconds, allocations and bytes.
func (u Usage) PerOp(n int64) (goMillis, pgMillis, allocs, bytes float64) {
	if n <= 0 {
		return 0, 0, 0, 0
	}
	f := float64(n)
	return float64(u.GoCPU) / float64(time.Millisecond) / f, float64(u.PGCPU) / float64(time.Millisecond) / f,
		float64(u.Mallocs) / f, float64(u.Bytes) / f
}

// Measure runs fn and returns its Usage. PostgreSQL's share is the CPU time of the backends
// connected to pool's database, read from /proc: a database of the benchmark's own, so the
// other work on a shared cluster is not counted; the WAL writer and checkpointer, which
// serve every database, are not counted either. The pool must keep its connections for the
// stretch (a backend that exits takes its count with it).
func Measure(ctx context.Context, pool *pgxpool.Pool, fn func() error) (Usage, error) {
	var m0, m1 runtime.MemStats
	pids0, err := backends(ctx, pool)
	if err != nil {
		return Usage{}, err
	}
	pg0 := procCPU(pids0)
	runtime.ReadMemStats(&m0)
	go0 := cpuTime()
	if err := fn(); err != nil {
		return Usage{}, err
	}
	goCPU := cpuTime() - go0
	runtime.ReadMemStats(&m1)
	pids1, err := backends(ctx, pool)
	if err != nil {
		return Usage{}, err
	}
	var pg time.Duration
	for pid, t1 := range procCPU(pids1) {
		pg += t1 - pg0[pid] // a backend new since the start counts from zero
	}
	return Usage{GoCPU: goCPU, PGCPU: pg, Mallocs: m1.Mallocs - m0.Mallocs, Bytes: m1.TotalAlloc - m0.TotalAlloc}, nil
}

func backends(ctx context.Context, pool *pgxpool.Pool) ([]int, error) {
	rows, err := pool.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND backend_type IN ('client backend', 'parallel worker')`)
	if err != nil {
		return nil, fmt.Errorf("list backends: %w", err)
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return nil, err
		}
		out = append(out, pid)
	}
	return out, rows.Err()
}

// clockTick is the unit of /proc/<pid>/stat's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

func procCPU(pids []int) map[int]time.Duration {
	out := make(map[int]time.Duration, len(pids))
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue // the cluster is elsewhere, or the backend is gone
		}
		// The command name, in parentheses, may hold spaces: count fields after it.
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(fields) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(fields[11], 10, 64)
		stime, _ := strconv.ParseInt(fields[12], 10, 64)
		out[pid] = time.Duration(utime+stime) * clockTick
	}
	return out
}

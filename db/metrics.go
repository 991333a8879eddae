package db

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterPoolMetrics exposes the pool's connection counts, read at scrape time.
func RegisterPoolMetrics(reg prometheus.Registerer, pool *pgxpool.Pool) error {
	gauge := func(name, help string, read func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help},
			func() float64 { return read(pool.Stat()) })
	}
	for _, c := range []prometheus.Collector{
		gauge("mentor_db_pool_connections", "Open connections in the pool.",
			func(s *pgxpool.Stat) float64 { return float64(s.TotalConns()) }),
		gauge("mentor_db_pool_acquired_connections", "Connections in use.",
			func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
		gauge("mentor_db_pool_idle_connections", "Idle connections.",
			func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
		gauge("mentor_db_pool_max_connections", "The pool's size limit.",
			func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "mentor_db_pool_empty_acquire_total",
			Help: "Acquires that had to wait because no connection was idle."},
			func() float64 { return float64(pool.Stat().EmptyAcquireCount()) }),
	} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

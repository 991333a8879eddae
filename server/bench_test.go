package server_test

import (
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/mentor-ai/mentor/internal/latency"
)

// BenchmarkReadyz measures a full HTTP round trip through the middleware stack that also
// queries PostgreSQL: the floor under every API call that touches the database.
func BenchmarkReadyz(b *testing.B) {
	f := setupBench(b)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var rec latency.Recorder
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			res, err := client.Get(f.srv.URL + "/readyz")
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				b.Errorf("status %d", res.StatusCode)
				return
			}
			rec.Since(start)
		}
	})
	rec.Report(b, "")
}

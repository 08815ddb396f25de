package worker

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync/atomic"
)

// status is what the worker's HTTP endpoints report; the loop writes it.
type status struct {
	inFlight atomic.Int64
	jobsDone atomic.Int64
	draining atomic.Bool
}

// BusyResponse is the body of GET /v1/busy.
type BusyResponse struct {
	Busy     bool `json:"busy"`
	Draining bool `json:"draining"`
}

func (s *status) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /metrics", s.metrics)
	mux.HandleFunc("GET /v1/busy", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(BusyResponse{Busy: s.inFlight.Load() > 0, Draining: s.draining.Load()})
	})
	return mux
}

func (s *status) metrics(w http.ResponseWriter, r *http.Request) {
	inFlight := s.inFlight.Load()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	fmt.Fprintf(w, `# HELP ebb_worker_busy Whether the worker holds a job (1) or is idle (0).
# TYPE ebb_worker_busy gauge
ebb_worker_busy %d
# HELP ebb_worker_in_flight Jobs taken and not yet reported done.
# TYPE ebb_worker_in_flight gauge
ebb_worker_in_flight %d
# HELP ebb_worker_jobs_done_total Jobs finished and reported done.
# TYPE ebb_worker_jobs_done_total counter
ebb_worker_jobs_done_total %d
# HELP ebb_worker_draining Whether the worker was asked to drain (1) or not (0).
# TYPE ebb_worker_draining gauge
ebb_worker_draining %d
`, b2i(inFlight > 0), inFlight, s.jobsDone.Load(), b2i(s.draining.Load()))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

package worker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/demo/queue"
)

// bound is how long any single wait in these tests may take.
const bound = 10 * time.Second

// queueServer serves a real queue on loopback. Its long polls run on a fake
// clock that never moves, so they end only when a job comes or the worker
// gives up the poll.
type queueServer struct {
	t   *testing.T
	q   *queue.Queue
	url string
}

func startQueue(t *testing.T) *queueServer {
	t.Helper()
	q := queue.New(queue.WithClock(clock.NewFake(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))))
	srv := httptest.NewServer(q.Handler())
	t.Cleanup(srv.Close)
	return &queueServer{t: t, q: q, url: srv.URL}
}

func (s *queueServer) submit(serviceMS int) {
	s.t.Helper()
	post(s.t, s.url+"/v1/jobs", `{"service_ms":`+strconv.Itoa(serviceMS)+`}`, http.StatusCreated)
}

// checkNoneLost checks every submitted job is queued, in flight or done.
func (s *queueServer) checkNoneLost() queue.Stats {
	s.t.Helper()
	st := s.q.Stats()
	if int64(st.Queued+st.InFlight)+st.Completed != st.Submitted {
		s.t.Errorf("jobs lost: %+v", st)
	}
	return st
}

func post(t *testing.T, url, body string, want int) []byte {
	t.Helper()
	return call(t, http.MethodPost, url, body, want)
}

func get(t *testing.T, url string, want int) []byte {
	t.Helper()
	return call(t, http.MethodGet, url, "", want)
}

func call(t *testing.T, method, url, body string, want int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: got %d %s, want %d", method, url, resp.StatusCode, b, want)
	}
	return b
}

// logBuffer collects a logger's output across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// running is a worker started by startWorker.
type running struct {
	status string // base URL of its status server
	clock  *stepClock
	drain  chan struct{}
	stop   context.CancelFunc
	done   chan error
	logs   *logBuffer
}

// startWorker runs a worker against queueURL on a step clock and stops it
// hard at the end of the test.
func startWorker(t *testing.T, queueURL string, instant bool, tweak func(*Config)) *running {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &running{
		status: "http://" + ln.Addr().String(),
		clock:  newStepClock(),
		drain:  make(chan struct{}),
		done:   make(chan error, 1),
		logs:   &logBuffer{},
	}
	r.clock.SetInstant(instant)
	cfg := Config{
		Queue:    queueURL,
		ID:       "w1",
		Listener: ln,
		Drain:    r.drain,
		Clock:    r.clock,
		Logger:   slog.New(slog.NewTextHandler(r.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Poll:     queue.MaxWait,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	ctx, cancel := context.WithCancel(t.Context())
	r.stop = cancel
	go func() { r.done <- Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		if _, ok := within(r.done); !ok {
			t.Errorf("worker did not stop within %s of a hard stop", bound)
		}
	})
	return r
}

// wait returns Run's result, bounded.
func (r *running) wait(t *testing.T) error {
	t.Helper()
	err, ok := within(r.done)
	if !ok {
		t.Fatalf("worker still running after %s", bound)
	}
	r.done <- err // for the cleanup
	return err
}

// within receives from ch, waiting at most bound.
func within[T any](ch <-chan T) (T, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	select {
	case v := <-ch:
		return v, true
	case <-ctx.Done():
		var zero T
		return zero, false
	}
}

// slept returns the next duration the worker slept for, bounded.
func (r *running) slept(t *testing.T) time.Duration {
	t.Helper()
	d, ok := within(r.clock.slept)
	if !ok {
		t.Fatalf("worker did not sleep within %s; logs:\n%s", bound, r.logs)
	}
	return d
}

// metrics scrapes /metrics and checks every sample has HELP and TYPE lines.
func (r *running) metrics(t *testing.T) map[string]float64 {
	t.Helper()
	body := get(t, r.status+"/metrics", http.StatusOK)
	samples := map[string]float64{}
	described := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "#" && (f[1] == "HELP" || f[1] == "TYPE") {
			described[f[2]]++
			continue
		}
		name, value, ok := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(value, 64)
		if !ok || err != nil || strings.Contains(value, " ") {
			t.Fatalf("metrics line %q is not `name value`", line)
		}
		samples[name] = v
	}
	for name := range samples {
		if described[name] != 2 {
			t.Errorf("metric %s: got %d HELP/TYPE lines, want 2", name, described[name])
		}
	}
	return samples
}

func (r *running) busy(t *testing.T) BusyResponse {
	t.Helper()
	var b BusyResponse
	if err := json.Unmarshal(get(t, r.status+"/v1/busy", http.StatusOK), &b); err != nil {
		t.Fatal(err)
	}
	return b
}

// eventually polls cond until it holds; bounded. Each poll is an HTTP round
// trip or a look at the queue, so the loop yields rather than sleeps.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), bound)
	defer cancel()
	for !cond() {
		if ctx.Err() != nil {
			t.Fatalf("waiting for %s: %v", what, ctx.Err())
		}
		runtime.Gosched()
	}
}

func TestWorkerDoesJobs(t *testing.T) {
	qs := startQueue(t)
	for _, ms := range []int{100, 200, 300, 400, 500} {
		qs.submit(ms)
	}
	w := startWorker(t, qs.url, true, func(c *Config) { c.Speed = 2 })
	var slept []time.Duration
	for range 5 {
		slept = append(slept, w.slept(t))
	}
	close(w.drain)
	if err := w.wait(t); err != nil {
		t.Fatalf("Run after drain: %v", err)
	}
	want := []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 150 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond}
	if diff := cmp.Diff(want, slept); diff != "" {
		t.Errorf("work times at speed 2 (-want +got):\n%s", diff)
	}
	if st := qs.checkNoneLost(); st.Completed != 5 || st.InFlight != 0 {
		t.Errorf("queue after the worker: %+v, want 5 completed", st)
	}
	if !strings.Contains(w.logs.String(), "seed=") {
		t.Errorf("the jitter seed is not logged:\n%s", w.logs)
	}
}

func TestWorkerStatusEndpoints(t *testing.T) {
	qs := startQueue(t)
	qs.submit(1000)
	qs.submit(2000)
	w := startWorker(t, qs.url, false, nil)

	if got := string(get(t, w.status+"/healthz", http.StatusOK)); got != "ok\n" {
		t.Errorf("healthz: got %q", got)
	}
	if d := w.slept(t); d != time.Second {
		t.Fatalf("first job: worked %s, want 1s", d)
	}
	want := map[string]float64{"ebb_worker_busy": 1, "ebb_worker_in_flight": 1, "ebb_worker_jobs_done_total": 0, "ebb_worker_draining": 0}
	if diff := cmp.Diff(want, w.metrics(t)); diff != "" {
		t.Errorf("metrics while working (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(BusyResponse{Busy: true}, w.busy(t)); diff != "" {
		t.Errorf("busy while working (-want +got):\n%s", diff)
	}

	w.clock.Advance(time.Second)
	if d := w.slept(t); d != 2*time.Second {
		t.Fatalf("second job: worked %s, want 2s", d)
	}
	want["ebb_worker_jobs_done_total"] = 1
	if diff := cmp.Diff(want, w.metrics(t)); diff != "" {
		t.Errorf("metrics on the second job (-want +got):\n%s", diff)
	}

	w.clock.Advance(2 * time.Second)
	eventually(t, "the worker to park in a take", func() bool { return qs.q.Stats().Waiting == 1 })
	want = map[string]float64{"ebb_worker_busy": 0, "ebb_worker_in_flight": 0, "ebb_worker_jobs_done_total": 2, "ebb_worker_draining": 0}
	if diff := cmp.Diff(want, w.metrics(t)); diff != "" {
		t.Errorf("metrics when idle (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(BusyResponse{}, w.busy(t)); diff != "" {
		t.Errorf("busy when idle (-want +got):\n%s", diff)
	}
}

func TestDrainFinishesJobInHand(t *testing.T) {
	qs := startQueue(t)
	qs.submit(1000)
	w := startWorker(t, qs.url, false, nil)
	w.slept(t) // working on j000001

	close(w.drain)
	eventually(t, "the worker to report draining", func() bool { return w.busy(t).Draining })
	qs.submit(1000) // must not be taken: the worker is draining
	if got := w.busy(t); !got.Busy {
		t.Errorf("busy while draining with a job in hand: got %+v", got)
	}
	select {
	case err := <-w.done:
		t.Fatalf("Run returned with a job in hand: %v", err)
	default:
	}

	w.clock.Advance(time.Second)
	if err := w.wait(t); err != nil {
		t.Fatalf("Run after drain: %v", err)
	}
	st := qs.checkNoneLost()
	if st.Completed != 1 || st.InFlight != 0 || st.Queued != 1 {
		t.Errorf("queue after the drain: %+v, want 1 done, 0 in flight, 1 queued", st)
	}
}

func TestDrainCutsLongPollShort(t *testing.T) {
	qs := startQueue(t)
	w := startWorker(t, qs.url, false, nil)
	// The queue's clock never moves: only the drain can end this poll.
	eventually(t, "the worker to park in a take", func() bool { return qs.q.Stats().Waiting == 1 })
	close(w.drain)
	if err := w.wait(t); err != nil {
		t.Fatalf("Run after drain: %v", err)
	}
	eventually(t, "the queue to see the take end", func() bool { return qs.q.Stats().Waiting == 0 })
	qs.submit(10)
	if st := qs.checkNoneLost(); st.Queued != 1 {
		t.Errorf("queue after the drain: %+v, want the new job queued", st)
	}
}

func TestHardStop(t *testing.T) {
	t.Run("abandons the job in hand", func(t *testing.T) {
		qs := startQueue(t)
		qs.submit(1000)
		w := startWorker(t, qs.url, false, nil)
		w.slept(t)
		w.stop()
		err := w.wait(t)
		if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "hard stop while working on job j000001") {
			t.Fatalf("Run after a hard stop: got %v, want a hard stop on j000001 wrapping context.Canceled", err)
		}
		st := qs.checkNoneLost()
		if st.Completed != 0 || st.InFlightByWorker["w1"] != 1 {
			t.Fatalf("queue after the hard stop: %+v, want j000001 still held by w1", st)
		}
		post(t, qs.url+"/v1/release?worker=w1", "", http.StatusOK)
		if st := qs.checkNoneLost(); st.Queued != 1 || st.InFlight != 0 {
			t.Errorf("queue after release: %+v, want the job queued again", st)
		}
	})
	t.Run("while idle", func(t *testing.T) {
		qs := startQueue(t)
		w := startWorker(t, qs.url, false, nil)
		eventually(t, "the worker to park in a take", func() bool { return qs.q.Stats().Waiting == 1 })
		w.stop()
		if err := w.wait(t); !errors.Is(err, context.Canceled) {
			t.Fatalf("Run after a hard stop: got %v, want context.Canceled", err)
		}
	})
}

func TestBackoffWhileQueueUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // connections are now refused

	const seed = 42
	t.Logf("seed %d", seed)
	w := startWorker(t, dead, true, func(c *Config) {
		c.BackoffMin, c.BackoffMax, c.Seed = 100*time.Millisecond, time.Second, seed
	})
	var got []time.Duration
	for range 8 {
		got = append(got, w.slept(t))
	}
	w.stop()
	if err := w.wait(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run after a hard stop: got %v, want context.Canceled", err)
	}
	// Steps 100ms, 200ms, 400ms, 800ms, then capped at 1s.
	for i, d := range got {
		step := min(100*time.Millisecond<<i, time.Second)
		if d < step/2 || d > step {
			t.Errorf("delay %d: got %s, want within [%s, %s]", i+1, d, step/2, step)
		}
	}
	logs := w.logs.String()
	for _, want := range []string{"seed=42", `msg="queue call failed, retrying" worker=w1 call=take`, "connection refused", "attempt=8 delay="} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

func TestRecoversWhenQueueComesBack(t *testing.T) {
	qs := startQueue(t)
	qs.submit(3000)
	var down atomic.Bool
	down.Store(true)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, `{"error":"down for maintenance"}`, http.StatusServiceUnavailable)
			return
		}
		qs.q.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)

	w := startWorker(t, gate.URL, true, func(c *Config) { c.BackoffMax = time.Second })
	for range 3 {
		if d := w.slept(t); d > time.Second {
			t.Fatalf("backoff delay %s above the 1s cap", d)
		}
	}
	down.Store(false)
	for d := w.slept(t); d != 3*time.Second; d = w.slept(t) {
		// backoff delays still in the buffer
	}
	close(w.drain)
	if err := w.wait(t); err != nil {
		t.Fatalf("Run after drain: %v", err)
	}
	if st := qs.checkNoneLost(); st.Completed != 1 {
		t.Errorf("queue after recovery: %+v, want the job done", st)
	}
	if !strings.Contains(w.logs.String(), "down for maintenance") {
		t.Errorf("logs lack the queue's answer:\n%s", w.logs)
	}
}

func TestDoneRetriedUntilQueueAnswers(t *testing.T) {
	qs := startQueue(t)
	qs.submit(500)
	var failDone atomic.Int32
	failDone.Store(2)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/done" && failDone.Add(-1) >= 0 {
			http.Error(w, "try later", http.StatusBadGateway)
			return
		}
		qs.q.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(gate.Close)

	w := startWorker(t, gate.URL, false, nil)
	if d := w.slept(t); d != 500*time.Millisecond {
		t.Fatalf("worked %s, want 500ms", d)
	}
	close(w.drain) // the job in hand must still be reported
	eventually(t, "the worker to report draining", func() bool { return w.busy(t).Draining })
	w.clock.Advance(500 * time.Millisecond)
	for i := range 2 { // backoff after each failed done
		d := w.slept(t)
		if st := qs.q.Stats(); st.InFlight != 1 {
			t.Fatalf("retry %d: queue %+v, want the job still in flight", i+1, st)
		}
		w.clock.Advance(d)
	}
	if err := w.wait(t); err != nil {
		t.Fatalf("Run after drain: %v", err)
	}
	if st := qs.checkNoneLost(); st.Completed != 1 {
		t.Errorf("queue: %+v, want the job done", st)
	}
}

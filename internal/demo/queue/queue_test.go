package queue

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// server is a queue served on loopback, with a client bound to it.
type server struct {
	t   *testing.T
	q   *Queue
	url string
	c   *http.Client
}

func start(t *testing.T, q *Queue) *server {
	t.Helper()
	srv := httptest.NewServer(q.Handler())
	t.Cleanup(srv.Close)
	return &server{t: t, q: q, url: srv.URL, c: srv.Client()}
}

// call makes one request; safe to use from any goroutine.
func (s *server) call(ctx context.Context, method, path, body string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, s.url+path, strings.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// do makes one request bounded by ten seconds, from the test goroutine.
func (s *server) do(method, path, body string) (int, []byte) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.t.Context(), 10*time.Second)
	defer cancel()
	code, b, err := s.call(ctx, method, path, body)
	if err != nil {
		s.t.Fatalf("%s %s: %v", method, path, err)
	}
	return code, b
}

func (s *server) submit(serviceMS int) string {
	s.t.Helper()
	code, b := s.do("POST", "/v1/jobs", `{"service_ms": `+itoa(serviceMS)+`}`)
	if code != http.StatusCreated {
		s.t.Fatalf("submit: got %d %s, want 201", code, b)
	}
	var r SubmitResponse
	mustDecode(s.t, b, &r)
	return r.ID
}

func (s *server) take(worker string) (Job, bool) {
	s.t.Helper()
	code, b := s.do("POST", "/v1/take?worker="+worker, "")
	switch code {
	case http.StatusNoContent:
		return Job{}, false
	case http.StatusOK:
		var j Job
		mustDecode(s.t, b, &j)
		return j, true
	}
	s.t.Fatalf("take: got %d %s", code, b)
	return Job{}, false
}

func (s *server) done(id, worker string) (int, string) {
	s.t.Helper()
	code, b := s.do("POST", "/v1/done", `{"id":"`+id+`","worker":"`+worker+`"}`)
	return code, string(b)
}

func (s *server) stats() Stats {
	s.t.Helper()
	code, b := s.do("GET", "/v1/stats", "")
	if code != http.StatusOK {
		s.t.Fatalf("stats: got %d %s", code, b)
	}
	var st Stats
	mustDecode(s.t, b, &st)
	return st
}

func mustDecode(t *testing.T, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// hooked returns a queue that reports each take parking and unparking.
func hooked(opts ...Option) (q *Queue, parked, unparked chan string) {
	q = New(opts...)
	parked, unparked = make(chan string, 10), make(chan string, 10)
	q.parked = func(w string) { parked <- w }
	q.unparked = func(w string) { unparked <- w }
	return q, parked, unparked
}

// recv waits for a value from ch, bounded by ten seconds.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	select {
	case v := <-ch:
		return v
	case <-ctx.Done():
		t.Fatalf("waiting for %s: %v", what, ctx.Err())
	}
	var zero T
	return zero
}

type takeResult struct {
	code int
	body []byte
	err  error
}

// takeAsync starts a long poll and returns where its result will arrive.
func (s *server) takeAsync(ctx context.Context, worker, wait string) <-chan takeResult {
	ch := make(chan takeResult, 1)
	go func() {
		code, b, err := s.call(ctx, "POST", "/v1/take?worker="+worker+"&wait="+wait, "")
		ch <- takeResult{code, b, err}
	}()
	return ch
}

func TestSubmitTakeDone(t *testing.T) {
	clk := newStepClock()
	s := start(t, New(WithClock(clk)))
	if a, b := s.submit(120), s.submit(0); a != "j000001" || b != "j000002" {
		t.Fatalf("ids: got %s, %s, want j000001, j000002", a, b)
	}
	clk.Advance(250 * time.Millisecond)
	j, ok := s.take("w1")
	if !ok {
		t.Fatal("take: got 204, want the first job")
	}
	want := Job{ID: "j000001", ServiceMS: 120, EnqueuedAt: newStepClock().Now()}
	if diff := cmp.Diff(want, j); diff != "" {
		t.Errorf("taken job (-want +got):\n%s", diff)
	}
	if code, b := s.done("j000001", "w1"); code != http.StatusNoContent {
		t.Fatalf("done: got %d %s, want 204", code, b)
	}
	wantStats := Stats{
		Submitted: 2, Queued: 1, Completed: 1,
		InFlightByWorker: map[string]int{},
		WaitP50MS:        250, WaitP99MS: 250,
	}
	if diff := cmp.Diff(wantStats, s.stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestTakeWithoutJobReturns204AfterWait(t *testing.T) {
	clk := newStepClock()
	s := start(t, New(WithClock(clk)))
	if _, ok := s.take("w1"); ok {
		t.Fatal("take without wait on an empty queue: got a job")
	}

	res := s.takeAsync(t.Context(), "w1", "2s")
	if d := recv(t, clk.slept, "the long poll's timer"); d != 2*time.Second {
		t.Fatalf("long poll timer: got %s, want 2s", d)
	}
	select {
	case r := <-res:
		t.Fatalf("long poll returned before its wait: %d %s %v", r.code, r.body, r.err)
	default:
	}
	clk.Advance(2 * time.Second)
	r := recv(t, res, "the long poll")
	if r.err != nil || r.code != http.StatusNoContent {
		t.Fatalf("long poll: got %d %s %v, want 204", r.code, r.body, r.err)
	}
}

func TestLongPollGetsJobSubmittedDuringWait(t *testing.T) {
	q, parked, _ := hooked()
	s := start(t, q)
	res := s.takeAsync(t.Context(), "w1", "10s")
	recv(t, parked, "the take to park")
	id := s.submit(5)
	r := recv(t, res, "the long poll")
	if r.err != nil || r.code != http.StatusOK {
		t.Fatalf("long poll: got %d %s %v, want 200", r.code, r.body, r.err)
	}
	var j Job
	mustDecode(t, r.body, &j)
	if j.ID != id {
		t.Errorf("long poll got job %s, want %s", j.ID, id)
	}
	if st := s.stats(); st.InFlight != 1 || st.InFlightByWorker["w1"] != 1 || st.Waiting != 0 {
		t.Errorf("stats: got %+v, want w1 holding 1 and nobody waiting", st)
	}
}

func TestClientGoneDoesNotLoseJob(t *testing.T) {
	q, parked, unparked := hooked()
	s := start(t, q)
	ctx, cancel := context.WithCancel(t.Context())
	res := s.takeAsync(ctx, "w1", "10s")
	recv(t, parked, "the take to park")
	cancel()
	if r := recv(t, res, "the cancelled take"); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled take: got %d %s %v, want context.Canceled", r.code, r.body, r.err)
	}
	recv(t, unparked, "the server to see the client go")

	id := s.submit(5)
	if st := s.stats(); st.Queued != 1 || st.InFlight != 0 || st.Waiting != 0 {
		t.Fatalf("stats after the client left: got %+v, want the job queued", st)
	}
	if j, ok := s.take("w2"); !ok || j.ID != id {
		t.Fatalf("take by w2: got %+v %v, want %s", j, ok, id)
	}
}

func TestTakeWithDeadContextHandsOutNothing(t *testing.T) {
	q := New()
	id, err := q.submit(5)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if j, ok := q.take(ctx, "w1", time.Second); ok {
		t.Fatalf("take with a dead context got %+v", j)
	}
	if j, ok := q.take(t.Context(), "w2", 0); !ok || j.ID != id {
		t.Fatalf("next take: got %+v %v, want %s", j, ok, id)
	}
}

// brokenWriter fails to flush, as a connection whose client died does.
type brokenWriter struct{ *httptest.ResponseRecorder }

func (brokenWriter) FlushError() error { return errors.New("connection reset by peer") }

func TestTakeRequeuesJobItCannotDeliver(t *testing.T) {
	q := New()
	first, _ := q.submit(5)
	second, _ := q.submit(5)
	req := httptest.NewRequest("POST", "/v1/take?worker=w1", nil)
	q.Handler().ServeHTTP(brokenWriter{httptest.NewRecorder()}, req)
	if st := q.Stats(); st.Queued != 2 || st.InFlight != 0 {
		t.Fatalf("stats after a failed delivery: got %+v, want both jobs queued", st)
	}
	a, _ := q.take(t.Context(), "w2", 0)
	b, _ := q.take(t.Context(), "w2", 0)
	if a.ID != first || b.ID != second {
		t.Errorf("order after requeue: got %s, %s, want %s, %s", a.ID, b.ID, first, second)
	}
}

func TestReleaseRequeuesAtHead(t *testing.T) {
	s := start(t, New())
	for range 4 {
		s.submit(5)
	}
	s.take("w1") // j000001
	s.take("w2") // j000002
	s.take("w1") // j000003

	code, b := s.do("POST", "/v1/release?worker=w1", "")
	if code != http.StatusOK {
		t.Fatalf("release: got %d %s", code, b)
	}
	var rel ReleaseResponse
	mustDecode(t, b, &rel)
	if diff := cmp.Diff([]string{"j000001", "j000003"}, rel.Released); diff != "" {
		t.Errorf("released (-want +got):\n%s", diff)
	}
	st := s.stats()
	if st.Queued != 3 || st.InFlight != 1 || st.Released != 2 || st.InFlightByWorker["w1"] != 0 {
		t.Errorf("stats after release: got %+v", st)
	}
	var order []string
	for range 3 {
		j, _ := s.take("w3")
		order = append(order, j.ID)
	}
	if diff := cmp.Diff([]string{"j000001", "j000003", "j000004"}, order); diff != "" {
		t.Errorf("take order after release (-want +got):\n%s", diff)
	}
	if code, b := s.done("j000001", "w1"); code != http.StatusConflict {
		t.Errorf("done by the released worker: got %d %s, want 409", code, b)
	}
	code, b = s.do("POST", "/v1/release?worker=nobody", "")
	if code != http.StatusOK || strings.TrimSpace(string(b)) != `{"released":[]}` {
		t.Errorf("release of a worker holding nothing: got %d %s", code, b)
	}
}

func TestDoneConflicts(t *testing.T) {
	s := start(t, New())
	s.submit(5)
	s.submit(5)
	s.submit(5)
	s.take("w1") // j000001
	s.take("w1") // j000002
	if code, b := s.done("j000001", "w1"); code != http.StatusNoContent {
		t.Fatalf("done: got %d %s", code, b)
	}
	tests := []struct {
		name, id, worker, want string
	}{
		{name: "unknown job", id: "j999999", worker: "w1", want: "job j999999: no such job"},
		{name: "duplicate", id: "j000001", worker: "w1", want: "job j000001: already done by worker w1"},
		{name: "wrong worker", id: "j000002", worker: "w2", want: "job j000002: held by worker w1, not w2"},
		{name: "never taken", id: "j000003", worker: "w1", want: "job j000003: not taken by any worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := s.done(tt.id, tt.worker)
			var e ErrorResponse
			mustDecode(t, []byte(b), &e)
			if code != http.StatusConflict || !strings.Contains(e.Error, tt.want) {
				t.Errorf("got %d %s, want 409 containing %q", code, b, tt.want)
			}
		})
	}
	if st := s.stats(); st.Completed != 1 || st.InFlight != 1 || st.Queued != 1 {
		t.Errorf("conflicts changed the queue: %+v", st)
	}
}

func TestBadInput(t *testing.T) {
	s := start(t, New())
	big := `{"service_ms": 1` + strings.Repeat(" ", MaxBodyBytes) + `}`
	tests := []struct {
		name, method, path, body, want string
	}{
		{name: "submit empty body", method: "POST", path: "/v1/jobs", want: "body: empty"},
		{name: "submit missing service", method: "POST", path: "/v1/jobs", body: `{}`, want: "service_ms: required"},
		{name: "submit negative", method: "POST", path: "/v1/jobs", body: `{"service_ms":-1}`, want: "service_ms: -1 is not between 0 and 600000"},
		{name: "submit too long", method: "POST", path: "/v1/jobs", body: `{"service_ms":600001}`, want: "is not between"},
		{name: "submit fraction", method: "POST", path: "/v1/jobs", body: `{"service_ms":1.5}`, want: "body: json: cannot unmarshal number 1.5"},
		{name: "submit unknown field", method: "POST", path: "/v1/jobs", body: `{"service_ms":1,"prio":2}`, want: `unknown field "prio"`},
		{name: "submit trailing", method: "POST", path: "/v1/jobs", body: `{"service_ms":1}{}`, want: "trailing data"},
		{name: "submit not json", method: "POST", path: "/v1/jobs", body: `service_ms=1`, want: "body: invalid character"},
		{name: "submit too big", method: "POST", path: "/v1/jobs", body: big, want: "body: larger than 65536 bytes"},
		{name: "submit query", method: "POST", path: "/v1/jobs?x=1", body: `{"service_ms":1}`, want: `query: unknown parameter "x"`},
		{name: "take no worker", method: "POST", path: "/v1/take", want: "worker: required"},
		{name: "take bad worker", method: "POST", path: "/v1/take?worker=a%20b", want: `worker: "a b" is not a worker id`},
		{name: "take two workers", method: "POST", path: "/v1/take?worker=a&worker=b", want: "worker: given more than once"},
		{name: "take bad wait", method: "POST", path: "/v1/take?worker=a&wait=soon", want: `wait: "soon" is not a duration between 0s and 10s`},
		{name: "take long wait", method: "POST", path: "/v1/take?worker=a&wait=11s", want: "wait: \"11s\""},
		{name: "take negative wait", method: "POST", path: "/v1/take?worker=a&wait=-1s", want: "wait: \"-1s\""},
		{name: "take body", method: "POST", path: "/v1/take?worker=a", body: "x", want: "body: want none"},
		{name: "take unknown param", method: "POST", path: "/v1/take?worker=a&timeout=1s", want: `unknown parameter "timeout"`},
		{name: "done empty", method: "POST", path: "/v1/done", body: `{}`, want: "id: required; worker: \"\" is not a worker id"},
		{name: "done unknown field", method: "POST", path: "/v1/done", body: `{"id":"j1","worker":"w","x":1}`, want: `unknown field "x"`},
		{name: "release no worker", method: "POST", path: "/v1/release", want: "worker: required"},
		{name: "stats query", method: "GET", path: "/v1/stats?verbose=1", want: `unknown parameter "verbose"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, b := s.do(tt.method, tt.path, tt.body)
			var e ErrorResponse
			mustDecode(t, b, &e)
			if code != http.StatusBadRequest || !strings.Contains(e.Error, tt.want) {
				t.Errorf("got %d %s, want 400 containing %q", code, b, tt.want)
			}
		})
	}
	if st := s.stats(); st.Submitted != 0 {
		t.Errorf("bad input submitted %d jobs", st.Submitted)
	}
}

func TestStatsPercentiles(t *testing.T) {
	clk := newStepClock()
	s := start(t, New(WithClock(clk)))
	for range 100 {
		s.submit(1)
	}
	// The i-th job waits i ms.
	for i := range 100 {
		clk.Advance(time.Millisecond)
		j, _ := s.take("w" + itoa(i%3))
		if i < 99 { // the last stays in flight and does not count
			if code, b := s.done(j.ID, "w"+itoa(i%3)); code != http.StatusNoContent {
				t.Fatalf("done %s: %d %s", j.ID, code, b)
			}
		}
	}
	want := Stats{
		Submitted: 100, InFlight: 1, Completed: 99,
		InFlightByWorker: map[string]int{"w0": 1},
		WaitP50MS:        50, WaitP99MS: 99,
	}
	if diff := cmp.Diff(want, s.stats()); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{name: "empty", p: 50, want: 0},
		{name: "one", sorted: ms(7), p: 99, want: 7 * time.Millisecond},
		{name: "median of four", sorted: ms(1, 2, 3, 4), p: 50, want: 2 * time.Millisecond},
		{name: "p99 of four", sorted: ms(1, 2, 3, 4), p: 99, want: 4 * time.Millisecond},
		{name: "p0", sorted: ms(1, 2), p: 0, want: time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

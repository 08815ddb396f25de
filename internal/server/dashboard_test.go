package server

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/dashboard"
)

// dashFake is fakeBackend with the dashboard's endpoints: it records the
// queries it was asked and reports the changes the test marks.
type dashFake struct {
	*fakeBackend
	clock *clock.Fake

	mu      sync.Mutex
	queries []daemon.OverviewQuery
	since   time.Time
	seq     uint64
	changed []string
	wait    chan struct{}
}

var _ Dashboard = (*dashFake)(nil)

func newDashFake() *dashFake {
	return &dashFake{fakeBackend: &fakeBackend{token: "s3cret"}, clock: clock.NewFake(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)), wait: make(chan struct{})}
}

func (f *dashFake) Clock() clock.Clock { return f.clock }

func (f *dashFake) Overview(q daemon.OverviewQuery) (daemon.OverviewPage, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if err := daemon.ValidateSort(cmp.Or(q.Sort, "name")); err != nil {
		return daemon.OverviewPage{}, err
	}
	return daemon.OverviewPage{Groups: 1, Matched: 1, Page: q.Page, Pages: 1, Limit: q.Limit, Seq: f.seq,
		Rows: []daemon.OverviewRow{{GroupView: daemon.GroupView{Name: "web", Max: 5}}}}, nil
}

func (f *dashFake) History(group string, since time.Time) (daemon.History, error) {
	if _, err := f.Group(group); err != nil {
		return daemon.History{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.since = since
	return daemon.History{Group: group, Since: since, Now: f.clock.Now()}, nil
}

// mark records a change of group, as the daemon does.
func (f *dashFake) mark(group string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.changed = append(f.changed, group)
	close(f.wait)
	f.wait = make(chan struct{})
}

// Changes reports every group marked after since (the fake numbers one
// change per mark, so changed[i] has sequence i+1).
func (f *dashFake) Changes(since uint64) (daemon.Changed, <-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ch := daemon.Changed{Seq: f.seq}
	if since < f.seq {
		ch.Groups = f.changed[since:]
	}
	return ch, f.wait
}

func TestOverviewEndpoint(t *testing.T) {
	f := newDashFake()
	srv := httptest.NewServer(Handler(f))
	defer srv.Close()
	tests := []struct {
		name  string
		query string
		code  int
		want  daemon.OverviewQuery
	}{
		{"defaults", "", 200, daemon.OverviewQuery{Page: 1, Limit: 100}},
		{"everything", "?filter=web&only=conditions&sort=-desired&page=3&limit=20", 200,
			daemon.OverviewQuery{Filter: "web", Only: daemon.OnlyConditions, Sort: "-desired", Page: 3, Limit: 20}},
		{"bad page", "?page=0", 400, daemon.OverviewQuery{}},
		{"limit too large", "?limit=5000", 400, daemon.OverviewQuery{}},
		{"bad only", "?only=broken", 400, daemon.OverviewQuery{}},
		{"bad sort", "?sort=zone", 400, daemon.OverviewQuery{Sort: "zone", Page: 1, Limit: 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.mu.Lock()
			f.queries = nil
			f.mu.Unlock()
			resp, err := http.Get(srv.URL + "/v1/overview" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.code, body)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if tt.want != (daemon.OverviewQuery{}) {
				if len(f.queries) != 1 || f.queries[0] != tt.want {
					t.Errorf("asked %+v, want %+v", f.queries, tt.want)
				}
			}
			if tt.code == 200 {
				var p daemon.OverviewPage
				if err := json.Unmarshal(body, &p); err != nil || len(p.Rows) != 1 || p.Rows[0].Name != "web" {
					t.Errorf("page %s (%v)", body, err)
				}
			}
		})
	}
}

func TestHistoryEndpoint(t *testing.T) {
	f := newDashFake()
	srv := httptest.NewServer(Handler(f))
	defer srv.Close()
	now := f.clock.Now()
	tests := []struct {
		query string
		code  int
		since time.Time
	}{
		{"", 200, now.Add(-time.Hour)},
		{"?since=6h", 200, now.Add(-6 * time.Hour)},
		{"?since=2026-03-01T11:30:00Z", 200, time.Date(2026, 3, 1, 11, 30, 0, 0, time.UTC)},
		{"?since=yesterday", 400, time.Time{}},
		{"?since=-1h", 400, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/v1/groups/web/history" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.code)
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			if tt.code == 200 && !f.since.Equal(tt.since) {
				t.Errorf("since %s, want %s", f.since, tt.since)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/v1/groups/nope/history")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown group: %d", resp.StatusCode)
	}
}

// The page is served at / with its CSP; the API's paths are still the API's.
func TestPageServedBesideTheAPI(t *testing.T) {
	srv := httptest.NewServer(Handler(newDashFake()))
	defer srv.Close()
	for path, want := range map[string]int{
		"/": 200, "/assets/app.js": 200, "/assets/vendor/uplot.min.js": 200, "/assets/vendor/LICENSE": 200,
		"/healthz": 200, "/v1/groups": 200, "/metrics": 200, "/nope": 404, "/assets/nope.js": 404, "/eureka/apps": 404,
	} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", path, resp.StatusCode, want)
		}
		if want == 200 && (path == "/" || strings.HasPrefix(path, "/assets/")) && resp.Header.Get("Content-Security-Policy") != dashboard.CSP {
			t.Errorf("GET %s: CSP %q", path, resp.Header.Get("Content-Security-Policy"))
		}
	}
}

// sseReader reads a stream's events and comments.
type sseReader struct {
	t *testing.T
	r *bufio.Reader
}

// next returns the next block (up to a blank line), its lines joined by
// "\n".
func (s sseReader) next() string {
	s.t.Helper()
	var lines []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("read the stream: %v (so far %q)", err, lines)
		}
		line = strings.TrimSuffix(line, "\n")
		if line == "" && len(lines) > 0 {
			return strings.Join(lines, "\n")
		}
		if line != "" {
			lines = append(lines, line)
		}
	}
}

// waitSleep waits until the stream's handler sleeps d on the fake clock.
func waitSleep(t *testing.T, slept <-chan time.Duration, d time.Duration) {
	t.Helper()
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	for {
		select {
		case got := <-slept:
			if got == d {
				return
			}
		case <-timeout.C:
			t.Fatalf("the stream never slept %s", d)
		}
	}
}

// The stream sends a change as one event, no more than one a second, a
// heartbeat when idle, and its handler returns, leaving no goroutine, once
// the client goes away.
func TestEventStream(t *testing.T) {
	f := newDashFake()
	slept := f.clock.Notify(64)
	returned := make(chan struct{}, 1)
	api := Handler(f)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		api.ServeHTTP(w, r)
		if r.URL.Path == "/v1/events" {
			returned <- struct{}{}
		}
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	s := sseReader{t: t, r: bufio.NewReader(resp.Body)}
	if got := s.next(); !strings.HasPrefix(got, "retry: 2000\n: ebb events from 0") {
		t.Fatalf("opening %q", got)
	}

	waitSleep(t, slept, heartbeatEvery)
	f.mark("web")
	if got, want := s.next(), "id: 1\nevent: changed\ndata: {\"seq\":1,\"groups\":[\"web\"]}"; got != want {
		t.Fatalf("event %q, want %q", got, want)
	}
	// Changes during the throttle come as one event after it.
	waitSleep(t, slept, eventsEvery)
	f.mark("batch")
	f.mark("web")
	f.clock.Advance(eventsEvery)
	if got, want := s.next(), "id: 3\nevent: changed\ndata: {\"seq\":3,\"groups\":[\"batch\",\"web\"]}"; got != want {
		t.Fatalf("event %q, want %q", got, want)
	}
	waitSleep(t, slept, eventsEvery)
	f.clock.Advance(eventsEvery)
	waitSleep(t, slept, heartbeatEvery)
	f.clock.Advance(heartbeatEvery)
	if got := s.next(); got != ": heartbeat" {
		t.Fatalf("want a heartbeat, got %q", got)
	}

	// The client goes away mid-wait.
	waitSleep(t, slept, heartbeatEvery)
	cancel()
	select {
	case <-returned:
	case <-time.After(10 * time.Second):
		t.Fatal("the handler did not return after the client went away")
	}
	// Nothing of the stream is left: its wait's goroutine ended before the
	// handler returned.
	buf := make([]byte, 1<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	for _, fn := range []string{"server.events", "server.waitChange"} {
		if strings.Contains(stacks, fn) {
			t.Errorf("a goroutine is still in %s after the client left:\n%s", fn, stacks)
		}
	}
}

// A reconnecting EventSource resumes after the last event it saw.
func TestEventStreamResumes(t *testing.T) {
	f := newDashFake()
	f.mark("a")
	f.mark("b")
	srv := httptest.NewServer(Handler(f))
	defer srv.Close()
	for _, tt := range []struct {
		name   string
		query  string
		header string
		want   string
	}{
		{"since", "?since=1", "", `"groups":["b"]`},
		{"Last-Event-ID beats since", "?since=0", "1", `"groups":["b"]`},
		{"from the start", "?since=0", "", `"groups":["a","b"]`},
		{"from before a restart", "", "41", `{"seq":2,"all":true}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/v1/events"+tt.query, nil)
			if tt.header != "" {
				req.Header.Set("Last-Event-ID", tt.header)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			s := sseReader{t: t, r: bufio.NewReader(resp.Body)}
			s.next()
			if got := s.next(); !strings.Contains(got, tt.want) {
				t.Errorf("event %q, want %s", got, tt.want)
			}
		})
	}
	resp, err := http.Get(srv.URL + "/v1/events?since=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("since=x: %d", resp.StatusCode)
	}
}

// ebb run's Shutdown ends the open streams rather than waiting its whole
// timeout for them.
func TestShutdownEndsEventStreams(t *testing.T) {
	srv, ln, err := Listen(testAPI(8, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	srv.Handler = Handler(newDashFake())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	resp, err := http.Get("http://" + ln.Addr().String() + "/v1/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	s := sseReader{t: t, r: bufio.NewReader(resp.Body)}
	s.next()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v (the stream held it)", err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Fatalf("serve: %v", err)
	}
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
}

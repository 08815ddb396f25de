package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
)

// Dashboard is what the dashboard's own endpoints read beside Backend:
// summary pages, history and a change feed. *daemon.Daemon implements it; a
// backend without it serves the API without those endpoints.
type Dashboard interface {
	Overview(q daemon.OverviewQuery) (daemon.OverviewPage, error)
	History(group string, since time.Time) (daemon.History, error)
	Changes(since uint64) (daemon.Changed, <-chan struct{})
	// Clock paces the event stream (throttle and heartbeats).
	Clock() clock.Clock
}

var _ Dashboard = (*daemon.Daemon)(nil)

// The event stream's pace.
const (
	// eventsEvery is the least time between two events to one client: a
	// tick that changes a thousand groups is one event, not a thousand.
	eventsEvery = time.Second
	// heartbeatEvery is how often an idle stream sends a comment, so that
	// proxies keep it open and a client gone away is noticed (the write
	// fails) within this long.
	heartbeatEvery = 15 * time.Second
	// eventWriteTimeout bounds each write to a slow client; the server's
	// write timeout would otherwise end every stream after 90 s.
	eventWriteTimeout = 10 * time.Second
	// maxEventGroups is the most group names one event lists; beyond it
	// the event says all, and the page refetches what it shows.
	maxEventGroups = 100
	// defaultHistory is how far back a history reaches without ?since.
	defaultHistory = time.Hour
)

func (s *server) mountDashboard(mux *http.ServeMux) {
	d, ok := s.b.(Dashboard)
	if !ok {
		return
	}
	mux.HandleFunc("GET /v1/overview", func(w http.ResponseWriter, r *http.Request) { overview(w, r, d) })
	mux.HandleFunc("GET /v1/groups/{group}/history", func(w http.ResponseWriter, r *http.Request) { history(w, r, d) })
	mux.HandleFunc("GET /v1/events", func(w http.ResponseWriter, r *http.Request) { events(w, r, d) })
}

// overview answers GET /v1/overview?filter=&only=conditions&sort=&page=&limit=.
func overview(w http.ResponseWriter, r *http.Request, d Dashboard) {
	q := r.URL.Query()
	oq := daemon.OverviewQuery{Filter: q.Get("filter"), Sort: q.Get("sort"), Page: 1, Limit: 100}
	switch only := q.Get("only"); only {
	case "", "all":
	case "conditions":
		oq.Only = daemon.OnlyConditions
	default:
		fail(w, http.StatusBadRequest, "only %q: must be all or conditions", only)
		return
	}
	for _, p := range []struct {
		name string
		to   *int
		max  int
	}{{"page", &oq.Page, 1 << 30}, {"limit", &oq.Limit, daemon.MaxOverviewLimit}} {
		v := q.Get(p.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > p.max {
			fail(w, http.StatusBadRequest, "%s must be a whole number from 1 to %d, not %q", p.name, p.max, v)
			return
		}
		*p.to = n
	}
	page, err := d.Overview(oq)
	if err != nil {
		failErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

// history answers GET /v1/groups/{group}/history?since=, since being an
// RFC 3339 time or a duration back from now ("6h").
func history(w http.ResponseWriter, r *http.Request, d Dashboard) {
	now := d.Clock().Now()
	since := now.Add(-defaultHistory)
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			ago, derr := time.ParseDuration(v)
			if derr != nil || ago <= 0 {
				fail(w, http.StatusBadRequest, "since %q: want an RFC 3339 time or a positive duration such as 6h", v)
				return
			}
			t = now.Add(-ago)
		}
		since = t
	}
	h, err := d.History(r.PathValue("group"), since)
	if err != nil {
		failErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, h)
}

// events streams Server-Sent Events: "changed" events whose data is a
// daemon.Changed ({"seq": N, "groups": [...]} or {"seq": N, "all": true}),
// at most one per eventsEvery, and a comment every heartbeatEvery. A client
// resumes with ?since=SEQ (an overview page's seq) or Last-Event-ID. The
// handler returns, and holds no goroutine, once the client is gone.
func events(w http.ResponseWriter, r *http.Request, d Dashboard) {
	rc := http.NewResponseController(w)
	since, err := eventStart(r, d)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // a proxy must not hold events back
	w.WriteHeader(http.StatusOK)
	// The stream ends when the client goes away or the server shuts down
	// (Shutdown waits for requests in flight, and a stream never ends by
	// itself).
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if stopping := stoppingOf(r); stopping != nil {
		defer context.AfterFunc(stopping, cancel)()
	}
	c := d.Clock()
	send := func(format string, args ...any) bool {
		// The deadline is the network's, in wall time, not ebb's clock.
		_ = rc.SetWriteDeadline(clock.Real{}.Now().Add(eventWriteTimeout))
		if _, err := fmt.Fprintf(w, format, args...); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("retry: 2000\n: ebb events from %d\n\n", since) {
		return
	}
	for {
		ch, next := d.Changes(since)
		if since > ch.Seq {
			// A sequence from before ebb restarted: everything may have
			// changed, and the numbering starts again from here.
			ch.All, ch.Groups = true, nil
		}
		if ch.All || len(ch.Groups) > 0 {
			if len(ch.Groups) > maxEventGroups {
				ch.All, ch.Groups = true, nil
			}
			data, _ := json.Marshal(ch) // plain strings and numbers: cannot fail
			if !send("id: %d\nevent: changed\ndata: %s\n\n", ch.Seq, data) {
				return
			}
			since = ch.Seq
			if c.Sleep(ctx, eventsEvery) != nil {
				return
			}
			continue
		}
		since = ch.Seq
		switch waitChange(ctx, c, next, heartbeatEvery) {
		case waitDone:
			return
		case waitTimeout:
			if !send(": heartbeat\n\n") {
				return
			}
		}
	}
}

// eventStart is where a stream starts: Last-Event-ID (an EventSource
// reconnecting, which also repeats the URL it first opened), else ?since,
// else now.
func eventStart(r *http.Request, d Dashboard) (uint64, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("since")
	}
	if v == "" {
		ch, _ := d.Changes(^uint64(0))
		return ch.Seq, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("since %q: want a sequence number from an overview page or an event", v)
	}
	return n, nil
}

type waited int

const (
	waitChanged waited = iota
	waitTimeout
	waitDone // the client went away or the server stops
)

// waitChange waits for next to close, at most d on c. The goroutine that
// ends the sleep at a change has exited when it returns: a stream leaves
// nothing behind.
func waitChange(ctx context.Context, c clock.Clock, next <-chan struct{}, d time.Duration) waited {
	wctx, cancel := context.WithCancel(ctx)
	changed := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case <-next:
			changed = true
			cancel()
		case <-wctx.Done():
		}
	}()
	_ = c.Sleep(wctx, d) // why it ended is read below
	cancel()
	<-done
	switch {
	case ctx.Err() != nil:
		return waitDone
	case changed:
		return waitChanged
	}
	return waitTimeout
}

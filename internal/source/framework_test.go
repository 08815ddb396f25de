package source

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
)

// A backend whose calls the test scripts: it records every call and
// answers with what fn says.
type fakeConn struct {
	config.Calls `yaml:",inline"`
}

type fakeQuery struct {
	Call, Ask string
	Bad       bool // Plan fails
}

type fakeBackend struct {
	mu    sync.Mutex
	calls [][]string // per call: the asks
	fn    func(ctx context.Context, n int, reads []Read[fakeQuery]) ([]Value, error)
}

func (b *fakeBackend) Plan(r Read[fakeQuery]) (string, string, error) {
	if r.Query.Bad {
		return "", "", errors.New("bad template")
	}
	return r.Query.Call, r.Query.Ask, nil
}

func (b *fakeBackend) Call(ctx context.Context, reads []Read[fakeQuery]) ([]Value, error) {
	b.mu.Lock()
	asks := make([]string, len(reads))
	for i, r := range reads {
		asks[i] = r.Query.Call + "/" + r.Query.Ask
	}
	b.calls = append(b.calls, asks)
	n := len(b.calls)
	b.mu.Unlock()
	if b.fn != nil {
		return b.fn(ctx, n, reads)
	}
	out := make([]Value, len(reads))
	for i, r := range reads {
		out[i] = Value{V: float64(len(r.Query.Ask))}
	}
	return out, nil
}

func (b *fakeBackend) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.calls)
}

func open(t *testing.T, b *fakeBackend, calls config.Calls) *Source {
	t.Helper()
	k := NewKind[fakeConn, fakeQuery]("fake", "A test kind.", Named, func(*fakeConn, Deps) (Backend[fakeQuery], error) { return b, nil })
	s, err := k.Open(&fakeConn{Calls: calls}, Deps{Name: "f", Clock: clock.Real{}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var limits = config.Calls{Timeout: config.Duration(time.Second), Tries: 3, Concurrency: 4}

func req(group, call, ask string) Request {
	return Request{Group: group, Query: &fakeQuery{Call: call, Ask: ask}}
}

func TestReadGroupsCallsAndAsksEachThingOnce(t *testing.T) {
	b := &fakeBackend{}
	s := open(t, b, limits)
	reqs := []Request{
		req("g1", "q1", "a"), req("g2", "q1", "bb"), req("g3", "q1", "a"),
		req("g4", "q2", "ccc"), req("g5", "q1", "bb"),
		{Group: "g6", Query: &fakeQuery{Bad: true}},
	}
	vals := s.Read(context.Background(), reqs)
	var got []float64
	for _, v := range vals[:5] {
		if v.Err != nil {
			t.Fatalf("unexpected error %v", v.Err)
		}
		got = append(got, v.V)
	}
	if diff := cmp.Diff([]float64{1, 2, 1, 3, 2}, got); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	if vals[5].Err == nil || !strings.Contains(vals[5].Err.Error(), "bad template") {
		t.Errorf("the read that could not be planned: %v", vals[5].Err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	calls := map[string]bool{}
	for _, c := range b.calls {
		calls[strings.Join(c, ",")] = true
	}
	if diff := cmp.Diff(map[string]bool{"q1/a,q1/bb": true, "q2/ccc": true}, calls); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

func TestReadRetriesTransientFailuresWithinTries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{fn: func(_ context.Context, n int, reads []Read[fakeQuery]) ([]Value, error) {
			if n < 3 {
				return nil, &StatusError{Code: 503, Status: "503 Service Unavailable"}
			}
			return []Value{{V: 7}}, nil
		}}
		s := open(t, b, limits)
		v := s.Read(context.Background(), []Request{req("g", "q", "a")})[0]
		if v.Err != nil || v.V != 7 || b.count() != 3 {
			t.Fatalf("value %+v after %d calls; want 7 after 3", v, b.count())
		}
		h := s.Health()
		if h.Calls != 3 || h.Failures != 2 || h.Failing || h.LastError != "503 Service Unavailable" || h.LastOK.IsZero() {
			t.Errorf("health = %+v", h)
		}
	})
}

func TestReadGivesUpAfterTries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{fn: func(context.Context, int, []Read[fakeQuery]) ([]Value, error) {
			return nil, Retryable(errors.New("connection reset"))
		}}
		s := open(t, b, limits)
		vals := s.Read(context.Background(), []Request{req("g1", "q", "a"), req("g2", "q", "b")})
		for _, v := range vals {
			if v.Err == nil || !strings.Contains(v.Err.Error(), "connection reset") {
				t.Errorf("value %+v; want the call's error", v)
			}
		}
		if b.count() != 3 {
			t.Errorf("%d attempts; want tries = 3", b.count())
		}
		if h := s.Health(); !h.Failing || h.Failures != 3 {
			t.Errorf("health = %+v; want failing after 3 failures", h)
		}
	})
}

func TestReadDoesNotRetryPermanentFailures(t *testing.T) {
	b := &fakeBackend{fn: func(context.Context, int, []Read[fakeQuery]) ([]Value, error) {
		return nil, errors.New("bad query: parse error at char 3")
	}}
	s := open(t, b, limits)
	v := s.Read(context.Background(), []Request{req("g", "q", "a")})[0]
	if v.Err == nil || b.count() != 1 {
		t.Fatalf("value %+v after %d calls; want the error after 1", v, b.count())
	}
}

func TestReadBoundsEachAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{fn: func(ctx context.Context, _ int, _ []Read[fakeQuery]) ([]Value, error) {
			<-ctx.Done() // a backend that hangs
			return nil, ctx.Err()
		}}
		s := open(t, b, config.Calls{Timeout: config.Duration(200 * time.Millisecond), Tries: 2, Concurrency: 1})
		start := time.Now()
		v := s.Read(context.Background(), []Request{req("g", "q", "a")})[0]
		took := time.Since(start)
		if !errors.Is(v.Err, context.DeadlineExceeded) || b.count() != 2 {
			t.Fatalf("value %+v after %d attempts; want deadline exceeded after 2", v, b.count())
		}
		// Two attempts of 200ms and at most one backoff between them.
		if took < 400*time.Millisecond || took > 400*time.Millisecond+2*time.Second {
			t.Errorf("took %s; want 2 × 200ms plus a backoff", took)
		}
	})
}

func TestReadStopsWithItsContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &fakeBackend{fn: func(ctx context.Context, _ int, _ []Read[fakeQuery]) ([]Value, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}}
		s := open(t, b, config.Calls{Timeout: config.Duration(time.Hour), Tries: 3, Concurrency: 1})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		vals := s.Read(ctx, []Request{req("g", "q1", "a"), req("g", "q2", "a")})
		for _, v := range vals {
			if v.Err == nil {
				t.Errorf("value %+v; want the context's error", v)
			}
		}
		if b.count() != 1 {
			t.Errorf("%d attempts; the second call waits for the only slot until the context ends", b.count())
		}
	})
}

func TestReadBoundsCallsInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var inFlight, most atomic.Int32
		b := &fakeBackend{fn: func(_ context.Context, _ int, reads []Read[fakeQuery]) ([]Value, error) {
			n := inFlight.Add(1)
			defer inFlight.Add(-1)
			for {
				m := most.Load()
				if n <= m || most.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(10 * time.Millisecond) // fake time: the bubble's clock
			return make([]Value, len(reads)), nil
		}}
		s := open(t, b, config.Calls{Timeout: config.Duration(time.Second), Tries: 1, Concurrency: 2})
		var reqs []Request
		for i := range 10 {
			reqs = append(reqs, req("g", fmt.Sprint(i), "a"))
		}
		s.Read(context.Background(), reqs)
		if most.Load() != 2 || b.count() != 10 {
			t.Errorf("%d calls, at most %d at once; want 10, 2", b.count(), most.Load())
		}
	})
}

func TestReadRefusesAShortAnswer(t *testing.T) {
	b := &fakeBackend{fn: func(context.Context, int, []Read[fakeQuery]) ([]Value, error) {
		return []Value{{V: 1}}, nil
	}}
	s := open(t, b, config.Calls{Timeout: config.Duration(time.Second), Tries: 1, Concurrency: 1})
	vals := s.Read(context.Background(), []Request{req("g1", "q", "a"), req("g2", "q", "b")})
	if vals[0].Err == nil || !strings.Contains(vals[0].Err.Error(), "answered 1 of 2 reads") {
		t.Errorf("value %+v; want an error naming the short answer", vals[0])
	}
}

func TestOpenRefusesAnotherKindsConfig(t *testing.T) {
	k := NewKind[fakeConn, fakeQuery]("fake", "A test kind.", Named, func(*fakeConn, Deps) (Backend[fakeQuery], error) { return &fakeBackend{}, nil })
	if _, err := k.Open(&config.Calls{}, Deps{Name: "x"}); err == nil || !strings.Contains(err.Error(), "config is *config.Calls") {
		t.Errorf("err = %v", err)
	}
}

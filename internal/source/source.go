package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Request is one read a tick asks of a source: Query is the signal's typed
// config, a pointer of the kind's query type.
type Request struct {
	Group    string
	Instance *model.Instance
	Query    any
}

// Source is one configured source: a kind's backend with the limits every
// source shares. It is safe for concurrent use.
type Source struct {
	name, kind string
	limits     config.Calls
	r          reader
	deps       Deps
	sem        chan struct{}
	closer     io.Closer // the backend, when it holds connections

	mu     sync.Mutex
	health Health
	// observe, when set, is told of every attempt (for /metrics).
	observe func(kind string, took time.Duration, err error)
}

// Open opens a source of kind k from its decoded, validated connection
// config (a pointer of the kind's connection type).
func (k Kind) Open(conn any, deps Deps) (*Source, error) {
	r, err := k.open(conn, deps)
	if err != nil {
		return nil, fmt.Errorf("open source %s: %w", deps.Name, err)
	}
	limits := config.Calls{Timeout: config.Duration(5 * time.Second), Tries: 3, Concurrency: 4}
	if c, ok := conn.(interface{ CallLimits() config.Calls }); ok {
		limits = c.CallLimits()
	}
	s := &Source{name: deps.Name, kind: k.Name, limits: limits, r: r, deps: deps,
		sem: make(chan struct{}, max(1, limits.Concurrency))}
	s.health.Name, s.health.Kind = deps.Name, k.Name
	if c, ok := backendOf(r).(io.Closer); ok {
		s.closer = c
	}
	return s, nil
}

// backendOf returns the kind's own backend inside a reader.
func backendOf(r reader) any {
	if u, ok := r.(interface{ backend() any }); ok {
		return u.backend()
	}
	return nil
}

func (t typed[Q]) backend() any { return t.b }

// Name is the source's name; Kind its kind.
func (s *Source) Name() string { return s.name }

// Kind is the source's kind.
func (s *Source) Kind() string { return s.kind }

// Observe sets a function told of every call attempt, for metrics. Call it
// before the first Read.
func (s *Source) Observe(f func(kind string, took time.Duration, err error)) { s.observe = f }

// Close releases the backend's connections.
func (s *Source) Close() error {
	if s.closer != nil {
		return s.closer.Close()
	}
	return nil
}

// Health is what a source's calls have been doing.
type Health struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Calls     uint64    `json:"calls"`    // attempts made since start
	Failures  uint64    `json:"failures"` // attempts that failed
	LastCall  time.Time `json:"last_call,omitzero"`
	LastOK    time.Time `json:"last_ok,omitzero"`
	LastError string    `json:"last_error,omitempty"` // the newest failure, kept after a success
	ErrorAt   time.Time `json:"error_at,omitzero"`
	// Failing is true while the newest call failed.
	Failing bool `json:"failing"`
}

// Health returns a copy of the source's health.
func (s *Source) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.health
}

// Read answers reqs, one Value per request in order, with as few backend
// calls as the kind allows: requests are grouped by the call that answers
// them and each distinct ask is asked once. Calls run at most the source's
// concurrency at once, each attempt bounded by its timeout, transient
// failures retried with exponential backoff and full jitter, all within
// ctx. A request whose call did not end before ctx did has ctx's error.
func (s *Source) Read(ctx context.Context, reqs []Request) []Value {
	out := make([]Value, len(reqs))
	type batch struct {
		reads []Request // one per distinct ask
		to    [][]int   // per read: the requests it answers
		asks  map[string]int
	}
	var order []string
	calls := map[string]*batch{}
	for i, r := range reqs {
		call, ask, err := s.r.plan(r)
		if err != nil {
			out[i] = Value{Err: err}
			continue
		}
		b := calls[call]
		if b == nil {
			b = &batch{asks: map[string]int{}}
			calls[call] = b
			order = append(order, call)
		}
		j, seen := b.asks[ask]
		if !seen {
			j = len(b.reads)
			b.asks[ask] = j
			b.reads = append(b.reads, r)
			b.to = append(b.to, nil)
		}
		b.to[j] = append(b.to[j], i)
	}
	var wg sync.WaitGroup
	for _, call := range order {
		b := calls[call]
		wg.Go(func() {
			vals, err := s.call(ctx, b.reads)
			for j, targets := range b.to {
				v := Value{Err: err}
				if err == nil {
					v = vals[j]
				}
				for _, i := range targets {
					out[i] = v
				}
			}
		})
	}
	wg.Wait()
	return out
}

// call makes one call with the source's limits.
func (s *Source) call(ctx context.Context, reads []Request) ([]Value, error) {
	select {
	case s.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("wait for a free call slot: %w", ctx.Err())
	}
	defer func() { <-s.sem }()
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.RandomizationFactor = 100*time.Millisecond, 2*time.Second, 1
	vals, err := backoff.Retry(ctx, func() ([]Value, error) {
		actx, cancel := context.WithTimeout(ctx, s.limits.Timeout.D())
		defer cancel()
		start := s.now()
		vals, err := s.r.call(actx, reads)
		if err == nil && len(vals) != len(reads) {
			err = fmt.Errorf("%s source answered %d of %d reads", s.kind, len(vals), len(reads))
		}
		s.record(start, err)
		if err != nil && !Transient(err) {
			return nil, backoff.Permanent(err)
		}
		return vals, err
	}, backoff.WithBackOff(b), backoff.WithMaxTries(uint(max(1, s.limits.Tries))), backoff.WithMaxElapsedTime(0))
	var p *backoff.PermanentError
	if errors.As(err, &p) {
		err = p.Err
	}
	return vals, err
}

func (s *Source) now() time.Time {
	if s.deps.Clock != nil {
		return s.deps.Clock.Now()
	}
	return time.Time{}
}

func (s *Source) record(start time.Time, err error) {
	end := s.now()
	s.mu.Lock()
	h := &s.health
	h.Calls++
	h.LastCall = end
	if err != nil {
		h.Failures++
		h.LastError, h.ErrorAt, h.Failing = err.Error(), end, true
	} else {
		h.LastOK, h.Failing = end, false
	}
	s.mu.Unlock()
	if s.observe != nil {
		s.observe(s.kind, end.Sub(start), err)
	}
}

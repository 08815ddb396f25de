package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/model"
)

// Read is one value a group's signal needs this tick, as a kind's backend
// sees it: Query is the signal's typed config (the value under
// groups[].signals.NAME.KIND).
type Read[Q any] struct {
	Group string
	// Instance is the instance asked, for a per-instance read (a scrape);
	// nil for a read of the group's value.
	Instance *model.Instance
	Query    *Q
}

// Value answers one read.
type Value struct {
	V float64
	// At is when the backend measured V, when it says (a Prometheus
	// sample, a CloudWatch datapoint); zero means when it was read. A
	// value older than the signal's stale time counts as missing.
	At time.Time
	// Err says why there is no value; V means nothing then.
	Err error
}

// ErrNoValue is wrapped by a Value's Err when the backend answered but had
// nothing for this read: no series for the group, no such key or queue.
var ErrNoValue = errors.New("no value")

// NoValue returns a Value whose Err wraps ErrNoValue with what was looked
// for.
func NoValue(format string, args ...any) Value {
	return Value{Err: fmt.Errorf("%w: %s", ErrNoValue, fmt.Sprintf(format, args...))}
}

// Backend is what a source kind implements: it says which reads one call
// answers, and makes that call. The framework (Source) does the rest the
// same way for every kind: it groups a tick's reads by call, asks each
// distinct thing once, bounds the calls in flight and their time, retries
// transient failures with backoff and full jitter, and keeps the source's
// health.
type Backend[Q any] interface {
	// Plan names the call that answers r, and what r asks within it:
	// reads with the same call are answered by one Call; reads with the
	// same call and ask are asked once. An error fails r alone (a bad
	// template, say).
	Plan(r Read[Q]) (call, ask string, err error)
	// Call makes one backend call answering reads, which share a call and
	// differ in what they ask. It returns one Value per read, in order; an
	// error fails them all (and is retried when Transient says so).
	Call(ctx context.Context, reads []Read[Q]) ([]Value, error)
}

// Deps is what a backend may use besides its config.
type Deps struct {
	Name  string // the source's name: sources.NAME, or the kind's for a source used without one
	Clock clock.Clock
	Log   *slog.Logger
}

// Kind is one kind of source, as the composition root registers it: the
// name of its key in the config, its two typed configs and how to open it.
// Build one with NewKind.
type Kind struct {
	config.Kind
	open func(conn any, deps Deps) (reader, error)
}

// NewKind describes a kind whose connection config is C (the value under
// sources.NAME.KIND) and whose per-signal config is Q (under
// groups[].signals.NAME.KIND). Both are structs tagged like the config
// package's types; each may have a Validate() error method returning
// config.Problem errors, and C embeds config.Calls inline for its limits.
// A Q with a PerInstance() bool method true is read once per instance (a
// scrape) rather than once for the group. standalone kinds can be used by
// a signal without a named source: their connection config is then all
// defaults.
func NewKind[C, Q any](name, doc string, use Use, open func(conn *C, deps Deps) (Backend[Q], error)) Kind {
	return Kind{
		Kind: config.Kind{Name: name, Doc: doc, Conn: new(C), Query: new(Q), Standalone: use == Standalone},
		open: func(conn any, deps Deps) (reader, error) {
			c, ok := conn.(*C)
			if !ok {
				return nil, fmt.Errorf("source %s: config is %T, not %T", deps.Name, conn, c)
			}
			b, err := open(c, deps)
			if err != nil {
				return nil, err
			}
			return typed[Q]{b}, nil
		},
	}
}

// Use says whether a kind needs a named source.
type Use int

const (
	// Named kinds are used through a source defined under sources.
	Named Use = iota
	// Standalone kinds may also be used by a signal without one.
	Standalone
)

// reader is a Backend with its query type erased.
type reader interface {
	plan(r Request) (call, ask string, err error)
	call(ctx context.Context, reads []Request) ([]Value, error)
}

type typed[Q any] struct{ b Backend[Q] }

func (t typed[Q]) read(r Request) Read[Q] {
	q, _ := r.Query.(*Q)
	return Read[Q]{Group: r.Group, Instance: r.Instance, Query: q}
}

func (t typed[Q]) plan(r Request) (string, string, error) {
	if _, ok := r.Query.(*Q); !ok {
		var q *Q
		return "", "", fmt.Errorf("signal config is %T, not %T", r.Query, q)
	}
	return t.b.Plan(t.read(r))
}

func (t typed[Q]) call(ctx context.Context, reqs []Request) ([]Value, error) {
	reads := make([]Read[Q], len(reqs))
	for i, r := range reqs {
		reads[i] = t.read(r)
	}
	return t.b.Call(ctx, reads)
}

// PerInstance reports whether a signal config is read once per instance.
func PerInstance(query any) bool {
	p, ok := query.(interface{ PerInstance() bool })
	return ok && p.PerInstance()
}

// Registry returns kinds as the config package sees them, for decoding,
// validating and documenting configurations that use them.
func Registry(kinds []Kind) *config.Kinds {
	k := &config.Kinds{}
	for _, s := range kinds {
		k.Sources = append(k.Sources, s.Kind)
	}
	return k
}

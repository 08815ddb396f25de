package prometheus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Point is one value of a range read.
type Point struct {
	T time.Time
	V float64
}

// maxPoints is the most points one range query asks per series:
// Prometheus refuses more than 11,000.
const maxPoints = 11000

// Range reads q for groups from start to end, one value per step: the
// history `ebb simulate --from-prometheus` replays. Groups are matched as
// instant reads match them, with one range query per distinct call (one
// for all groups when q has a label), split into chunks of at most 11,000
// points per series. Queries run at most conn's concurrency at once, each
// attempt bounded by conn's timeout and transient failures tried again up
// to conn's tries.
//
// conn and q are validated first (the decoder's defaults applied: a zero
// timeout is a problem, not "no limit").
//
// Every group has an entry, empty when the query had no series for it.
// Points whose value is NaN or ±Inf are left out, as gaps. A query that
// fails, or a result that cannot answer a group (several series with the
// group's label value, several series without a label) fails the whole
// read.
func Range(ctx context.Context, conn *Conn, q *Query, groups []string, start, end time.Time, step time.Duration) (map[string][]Point, error) {
	switch {
	case step <= 0:
		return nil, fmt.Errorf("range step must be > 0, not %s", step)
	case end.Before(start):
		return nil, fmt.Errorf("range end %s is before its start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	if err := errors.Join(config.Under("conn", conn.Validate()), config.Under("query", q.Validate())); err != nil {
		return nil, fmt.Errorf("range read: %w", err)
	}
	b, err := newBackend(conn, "", nil)
	if err != nil {
		return nil, err
	}
	defer b.Close()

	// asks maps a call's asked label value to the groups asking it.
	type call struct {
		text string
		asks map[string][]string
	}
	var order []string
	calls := map[string]*call{}
	for _, g := range groups {
		r := source.Read[Query]{Group: g, Query: q}
		key, ask, err := b.Plan(r)
		if err != nil {
			return nil, err
		}
		c := calls[key]
		if c == nil {
			c = &call{text: q.Query, asks: map[string][]string{}}
			if q.Label == "" {
				c.text = strings.TrimPrefix(key, perGroup) // as Plan rendered it
			}
			calls[key] = c
			order = append(order, key)
		}
		c.asks[ask] = append(c.asks[ask], g)
	}

	out := make(map[string][]Point, len(groups))
	for _, g := range groups {
		out[g] = nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu    sync.Mutex
		first error
		wg    sync.WaitGroup
	)
	sem := make(chan struct{}, max(1, conn.Concurrency))
	for _, key := range order {
		c := calls[key]
		wg.Go(func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			series, err := b.rangeSeries(ctx, conn, c.text, q.Label, start, end, step)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if first == nil {
					first = err
					cancel()
				}
				return
			}
			for ask, gs := range c.asks {
				for _, g := range gs {
					out[g] = series[ask]
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// rangeSeries range-queries text chunk by chunk and returns its series by
// the value of label ("" when label is empty: the query's one series).
func (b *backend) rangeSeries(ctx context.Context, conn *Conn, text, label string, start, end time.Time, step time.Duration) (map[string][]Point, error) {
	series := map[string][]Point{}
	span := step * (maxPoints - 1)
	if span/step != maxPoints-1 { // overflow: the whole range fits anyway
		span = end.Sub(start)
	}
	for from := start; !from.After(end); {
		to := from.Add(span)
		if to.After(end) {
			to = end
		}
		m, err := b.queryRange(ctx, conn, text, v1.Range{Start: from, End: to, Step: step})
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, s := range m {
			key := ""
			if label != "" {
				v, ok := s.Metric[model.LabelName(label)]
				if !ok {
					continue
				}
				key = string(v)
			}
			if seen[key] {
				if label == "" {
					return nil, fmt.Errorf("range query %q returned %d series; it must return one (aggregate it, e.g. sum(...), or set label to answer many groups)", text, len(m))
				}
				return nil, fmt.Errorf("range query %q returned several series with %s=%q; it must aggregate by (%s)", text, label, key, label)
			}
			seen[key] = true
			for _, p := range s.Values {
				v := float64(p.Value)
				if math.IsNaN(v) || math.IsInf(v, 0) {
					continue
				}
				series[key] = append(series[key], Point{T: p.Timestamp.Time(), V: v})
			}
		}
		from = to.Add(step)
	}
	return series, nil
}

// queryRange makes one range query with conn's limits.
func (b *backend) queryRange(ctx context.Context, conn *Conn, text string, r v1.Range) (model.Matrix, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.RandomizationFactor = 100*time.Millisecond, 2*time.Second, 1
	m, err := backoff.Retry(ctx, func() (model.Matrix, error) {
		actx, cancel := context.WithTimeout(ctx, b.timeout)
		defer cancel()
		val, warnings, _, err := b.api.QueryRange(actx, text, r, v1.WithTimeout(b.timeout))
		if err != nil {
			err = fmt.Errorf("prometheus range query %s from %s to %s: %w", text, r.Start.Format(time.RFC3339), r.End.Format(time.RFC3339), classify(err))
			if !source.Transient(err) {
				return nil, backoff.Permanent(err)
			}
			return nil, err
		}
		b.warn(text, warnings)
		m, ok := val.(model.Matrix)
		if !ok {
			return nil, backoff.Permanent(fmt.Errorf("prometheus range query %s returned a %v, not a matrix", text, typeOf(val)))
		}
		return m, nil
	}, backoff.WithBackOff(bo), backoff.WithMaxTries(uint(max(1, conn.Tries))), backoff.WithMaxElapsedTime(0))
	var p *backoff.PermanentError
	if errors.As(err, &p) {
		err = p.Err
	}
	return m, err
}

func typeOf(v model.Value) string {
	if v == nil {
		return "nothing"
	}
	return v.Type().String()
}

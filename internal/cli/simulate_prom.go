package cli

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source/prometheus"
)

// promHistory range-reads, from the Prometheus at url (each source's own
// url when empty), every signal the configuration reads through a
// prometheus source, from start to end, one value per step, and writes
// them as a signals CSV for the replay: t in seconds from start, then one
// column per signal. Groups sharing a query and label cost one range query
// for all of them. A signal that Prometheus does not hold — pushed, or
// read from another kind — has no history to replay: an error names each.
func promHistory(ctx context.Context, f *config.File, url string, start, end time.Time, step time.Duration) ([]byte, error) {
	type read struct {
		conn   *prometheus.Conn
		query  *prometheus.Query
		groups []string
		cols   map[string]string // group → its column
	}
	reads := map[string]*read{} // by source, query, label and value
	var keys []string
	var errs []error
	var columns []string
	multi := len(f.Groups) > 1
	for _, g := range f.Groups {
		for _, name := range slices.Sorted(maps.Keys(g.Signals)) {
			s := g.Signals[name]
			switch {
			case s.Expr != "":
				continue
			case !s.Read.IsSet():
				errs = append(errs, fmt.Errorf("group %s, signal %s is pushed: Prometheus holds no history of it", g.Name, name))
				continue
			case s.Read.Kind != "prometheus":
				errs = append(errs, fmt.Errorf("group %s, signal %s reads from %s, not Prometheus: nothing to replay it from", g.Name, name, s.Read.Kind))
				continue
			}
			q := s.Read.Config.(*prometheus.Query)
			conn := *f.Sources[s.Source].Config.(*prometheus.Conn)
			if url != "" {
				conn.URL = url
			}
			key := s.Source + "\x00" + q.Query + "\x00" + q.Label + "\x00" + q.Value
			r := reads[key]
			if r == nil {
				r = &read{conn: &conn, query: q, cols: map[string]string{}}
				reads[key] = r
				keys = append(keys, key)
			}
			col := name
			if multi {
				col = g.Name + "/" + name
			}
			r.groups = append(r.groups, g.Name)
			r.cols[g.Name] = col
			columns = append(columns, col)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(columns) == 0 {
		return nil, errors.New("the configuration reads no signal from a prometheus source: nothing to replay")
	}
	values := map[int64]map[string]float64{} // unix ms → column → value
	for _, key := range keys {
		r := reads[key]
		got, err := prometheus.Range(ctx, r.conn, r.query, r.groups, start, end, step)
		if err != nil {
			return nil, fmt.Errorf("read %s from %s: %w", r.query.Query, r.conn.URL, err)
		}
		for g, points := range got {
			for _, p := range points {
				ms := p.T.UnixMilli()
				if values[ms] == nil {
					values[ms] = map[string]float64{}
				}
				values[ms][r.cols[g]] = p.V
			}
		}
	}
	if len(values) == 0 {
		return nil, fmt.Errorf("Prometheus has no samples for these signals between %s and %s",
			start.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339))
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(append([]string{"t"}, columns...)); err != nil {
		return nil, err
	}
	for _, ms := range slices.Sorted(maps.Keys(values)) {
		row := []string{strconv.FormatFloat(float64(ms-start.UnixMilli())/1000, 'f', -1, 64)}
		for _, c := range columns {
			v, ok := values[ms][c]
			cell := ""
			if ok {
				cell = strconv.FormatFloat(v, 'g', -1, 64)
			}
			row = append(row, cell)
		}
		if err := w.Write(row); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return b.Bytes(), w.Error()
}

package sim

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/engine"
)

// column maps a CSV column to a group's pushed signal.
type column struct {
	group  int
	signal int
}

// Signals is a parsed signals CSV: a column t in seconds, then one column per
// signal, named "signal" when there is one group and "group/signal" otherwise.
// An empty cell means no value at that time.
type Signals struct {
	T       []float64
	columns []column
	cells   [][]float64 // [row][column]; NaN: empty
}

// ReadSignals parses a signals CSV against the groups it feeds. Every problem
// is reported with its line (and column) in name.
func ReadSignals(name string, r io.Reader, groups []*engine.Group) (*Signals, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%s: empty file: want a header such as t,cpu,queue", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	s := &Signals{}
	var errs []error
	if strings.TrimSpace(header[0]) != "t" {
		errs = append(errs, fmt.Errorf("%s:1:1: first column must be t (seconds), not %q", name, header[0]))
	}
	seen := map[column]string{}
	for j, h := range header[1:] {
		c, err := resolve(strings.TrimSpace(h), groups)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s:1:%d: column %q: %w", name, j+2, h, err))
			continue
		}
		if prev, dup := seen[c]; dup {
			errs = append(errs, fmt.Errorf("%s:1:%d: column %q feeds the same signal as %q", name, j+2, h, prev))
		}
		seen[c] = h
		s.columns = append(s.columns, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			// FieldPos panics after a read error: the error says where.
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			break
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != len(header) {
			errs = append(errs, fmt.Errorf("%s:%d: has %d fields, want %d like the header", name, line, len(rec), len(header)))
			continue
		}
		t, err := strconv.ParseFloat(strings.TrimSpace(rec[0]), 64)
		switch {
		case err != nil || math.IsNaN(t) || math.IsInf(t, 0):
			errs = append(errs, fmt.Errorf("%s:%d:1: t must be a number of seconds, not %q", name, line, rec[0]))
			continue
		case len(s.T) > 0 && t <= s.T[len(s.T)-1]:
			errs = append(errs, fmt.Errorf("%s:%d:1: t %v is not after the previous row's %v", name, line, t, s.T[len(s.T)-1]))
			continue
		}
		row := make([]float64, len(s.columns))
		for j, cell := range rec[1:] {
			cell = strings.TrimSpace(cell)
			if cell == "" {
				row[j] = math.NaN()
				continue
			}
			v, err := strconv.ParseFloat(cell, 64)
			if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
				errs = append(errs, fmt.Errorf("%s:%d:%d: %s must be a number or empty, not %q", name, line, j+2, header[j+1], cell))
				continue
			}
			row[j] = v
		}
		s.T = append(s.T, t)
		s.cells = append(s.cells, row)
		if len(errs) > 20 {
			break
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(s.T) == 0 {
		return nil, fmt.Errorf("%s: no rows after the header", name)
	}
	return s, nil
}

// resolve finds the group and pushed signal a column header names.
func resolve(h string, groups []*engine.Group) (column, error) {
	gname, sname, qualified := strings.Cut(h, "/")
	if !qualified {
		if len(groups) != 1 {
			return column{}, fmt.Errorf("name it group/signal: the config has %d groups", len(groups))
		}
		sname = gname
		gname = groups[0].Name
	}
	for gi, g := range groups {
		if g.Name != gname {
			continue
		}
		si, ok := g.SignalIndex(sname)
		if !ok {
			return column{}, fmt.Errorf("group %s has no signal %q (signals: %s)", gname, sname, strings.Join(g.SignalNames(), ", "))
		}
		if !g.Pushed(si) {
			return column{}, fmt.Errorf("signal %s of group %s is derived from an expression; give its inputs instead", sname, gname)
		}
		return column{group: gi, signal: si}, nil
	}
	return column{}, fmt.Errorf("no group %q", gname)
}

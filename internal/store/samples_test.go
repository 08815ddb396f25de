package store

import (
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestAppendSamplesRejects(t *testing.T) {
	tests := []struct {
		name    string
		group   string
		t       time.Time
		values  map[string]float64
		wantErr string
	}{
		{name: "NaN", group: "web", t: t0, values: map[string]float64{"cpu": 1, "mem": math.NaN()}, wantErr: "signal mem: value NaN is not finite"},
		{name: "+Inf", group: "web", t: t0, values: map[string]float64{"cpu": 1, "mem": math.Inf(1)}, wantErr: "signal mem: value +Inf is not finite"},
		{name: "-Inf", group: "web", t: t0, values: map[string]float64{"cpu": 1, "mem": math.Inf(-1)}, wantErr: "signal mem: value -Inf is not finite"},
		{name: "empty signal name", group: "web", t: t0, values: map[string]float64{"cpu": 1, "": 2}, wantErr: "signal name is empty"},
		{name: "empty group", t: t0, values: map[string]float64{"cpu": 1}, wantErr: "append samples to group : group name is empty"},
		{name: "zero time", group: "web", values: map[string]float64{"cpu": 1}, wantErr: "time 0001-01-01T00:00:00Z: outside the years 1678–2262 the store can key"},
		{
			name: "every problem at once, sorted by signal",
			t:    t0, values: map[string]float64{"b": math.NaN(), "a": math.Inf(1)},
			wantErr: "append samples to group : group name is empty\nsignal a: value +Inf is not finite\nsignal b: value NaN is not finite",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{})
			err := s.Update(func(tx *Tx) error {
				err := tx.AppendSamples(tt.group, tt.t, tt.values)
				checkErr(t, err, tt.wantErr)
				// Nothing was written, even in this transaction.
				got, serr := tx.Samples(tt.group, "cpu", time.Time{})
				if serr != nil || len(got) != 0 {
					t.Errorf("samples after a rejected append: %v, %v", got, serr)
				}
				return err
			})
			if err == nil {
				t.Fatal("Update did not fail")
			}
		})
	}
}

func TestSamples(t *testing.T) {
	s := openTemp(t, Options{})
	mustUpdate(t, s, func(tx *Tx) error {
		return firstErr(
			tx.AppendSamples("web", t0, map[string]float64{"cpu": 0.5, "mem": 10}),
			tx.AppendSamples("web", t0.Add(time.Minute), map[string]float64{"cpu": 0.75}),
			tx.AppendSamples("web", t0.Add(2*time.Minute), map[string]float64{"cpu": -1, "mem": 0}),
			tx.AppendSamples("api", t0.Add(time.Minute), map[string]float64{"cpu": 9}),
			// The same time again replaces the value.
			tx.AppendSamples("web", t0.Add(time.Minute), map[string]float64{"cpu": 0.8}),
		)
	})
	tests := []struct {
		name          string
		group, signal string
		since         time.Time
		want          []Sample
	}{
		{
			name: "all, oldest first", group: "web", signal: "cpu",
			want: []Sample{{t0, 0.5}, {t0.Add(time.Minute), 0.8}, {t0.Add(2 * time.Minute), -1}},
		},
		{
			name: "since is inclusive", group: "web", signal: "cpu", since: t0.Add(time.Minute),
			want: []Sample{{t0.Add(time.Minute), 0.8}, {t0.Add(2 * time.Minute), -1}},
		},
		{
			name: "since between samples", group: "web", signal: "mem", since: t0.Add(time.Second),
			want: []Sample{{t0.Add(2 * time.Minute), 0}},
		},
		{name: "since after the last", group: "web", signal: "cpu", since: t0.Add(time.Hour)},
		{name: "since beyond the key range", group: "web", signal: "cpu", since: time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)},
		{name: "other group's signal", group: "api", signal: "cpu", want: []Sample{{t0.Add(time.Minute), 9}}},
		{name: "unknown signal", group: "web", signal: "rps"},
		{name: "unknown group", group: "db", signal: "cpu"},
		{name: "empty signal", group: "web"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Samples(tt.group, tt.signal, tt.since)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("samples (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

func TestSampleRetention(t *testing.T) {
	type appended struct {
		group  string
		at     time.Duration // after t0
		values map[string]float64
	}
	tests := []struct {
		name          string
		signalAge     time.Duration
		appends       []appended
		group, signal string
		want          []Sample
		wantSignals   []string // left in the group's bucket
	}{
		{
			name:      "older than the age go, at the bound stays",
			signalAge: 10 * time.Minute,
			appends: []appended{
				{"web", 0, map[string]float64{"cpu": 1}},
				{"web", 5 * time.Minute, map[string]float64{"cpu": 2}},
				{"web", 15 * time.Minute, map[string]float64{"cpu": 3}},
			},
			group: "web", signal: "cpu",
			want:        []Sample{{t0.Add(5 * time.Minute), 2}, {t0.Add(15 * time.Minute), 3}},
			wantSignals: []string{"cpu"},
		},
		{
			name:      "signals not appended are pruned too, and dropped when empty",
			signalAge: 10 * time.Minute,
			appends: []appended{
				{"web", 0, map[string]float64{"cpu": 1, "old": 1}},
				{"web", 20 * time.Minute, map[string]float64{"cpu": 2}},
			},
			group: "web", signal: "old",
			wantSignals: []string{"cpu"},
		},
		{
			name:      "other groups are left alone",
			signalAge: 10 * time.Minute,
			appends: []appended{
				{"api", 0, map[string]float64{"cpu": 1}},
				{"web", 20 * time.Minute, map[string]float64{"cpu": 2}},
			},
			group: "api", signal: "cpu",
			want:        []Sample{{t0, 1}},
			wantSignals: []string{"cpu"},
		},
		{
			name: "default age is 6h",
			appends: []appended{
				{"web", 0, map[string]float64{"cpu": 1}},
				{"web", time.Hour, map[string]float64{"cpu": 2}},
				{"web", 7 * time.Hour, map[string]float64{"cpu": 3}},
			},
			group: "web", signal: "cpu",
			want:        []Sample{{t0.Add(time.Hour), 2}, {t0.Add(7 * time.Hour), 3}},
			wantSignals: []string{"cpu"},
		},
		{
			name:      "an empty append still prunes",
			signalAge: time.Minute,
			appends: []appended{
				{"web", 0, map[string]float64{"cpu": 1}},
				{"web", time.Hour, nil},
			},
			group: "web", signal: "cpu",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openTemp(t, Options{SignalAge: tt.signalAge})
			for _, a := range tt.appends {
				mustUpdate(t, s, func(tx *Tx) error { return tx.AppendSamples(a.group, t0.Add(a.at), a.values) })
			}
			mustView(t, s, func(tx *Tx) error {
				got, err := tx.Samples(tt.group, tt.signal, time.Time{})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("samples (-want +got):\n%s", diff)
				}
				var signals []string
				err = tx.readSub(tt.group, bucketSignals).ForEachBucket(func(k []byte) error {
					signals = append(signals, string(k))
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.wantSignals, signals); diff != "" {
					t.Errorf("signals (-want +got):\n%s", diff)
				}
				return nil
			})
		})
	}
}

// FuzzSamples checks that any two finite samples come back in time order
// with their exact values, across the whole key range (before 1970
// included), and that non-finite values are refused.
func FuzzSamples(f *testing.F) {
	f.Add(int64(0), int64(1), 0.5, -0.5)
	f.Add(int64(-1), int64(1), math.MaxFloat64, math.SmallestNonzeroFloat64)
	f.Add(int64(math.MinInt64), int64(math.MaxInt64), math.NaN(), 1.0)
	f.Add(t0.UnixNano(), t0.UnixNano(), math.Inf(-1), math.Copysign(0, -1))
	// One file for all inputs; each input rolls its transaction back, so
	// none sees another's samples and no input pays for an fsync.
	const age = time.Duration(math.MaxInt64)
	// SignalMax as large: samples 1 ns apart are all kept.
	s, err := Open(filepath.Join(f.TempDir(), "ebb.db"), Options{SignalAge: age, SignalMax: math.MaxInt64})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, na, nb int64, va, vb float64) {
		ta, tb := time.Unix(0, na).UTC(), time.Unix(0, nb).UTC()
		err := s.Update(func(tx *Tx) error {
			errA := tx.AppendSamples("g", ta, map[string]float64{"s": va})
			errB := tx.AppendSamples("g", tb, map[string]float64{"s": vb})
			for _, c := range []struct {
				v   float64
				err error
			}{{va, errA}, {vb, errB}} {
				if finite := !math.IsNaN(c.v) && !math.IsInf(c.v, 0); finite != (c.err == nil) {
					t.Fatalf("value %v: error %v", c.v, c.err)
				}
			}
			var want []Sample
			switch {
			case errA != nil && errB != nil:
			case errA != nil:
				want = []Sample{{tb, vb}}
			case errB != nil:
				want = []Sample{{ta, va}}
			case na == nb, ta.Before(tb.Add(-age)):
				want = []Sample{{tb, vb}}
			case na < nb:
				want = []Sample{{ta, va}, {tb, vb}}
			default: // appended out of order: still read in time order
				want = []Sample{{tb, vb}, {ta, va}}
			}
			got, err := tx.Samples("g", "s", time.Unix(0, math.MinInt64))
			if err != nil {
				t.Fatal(err)
			}
			// Compare bits, not values: -0 must stay -0.
			if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool {
				return math.Float64bits(a) == math.Float64bits(b)
			})); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
			return errRollback
		})
		if !errors.Is(err, errRollback) {
			t.Fatal(err)
		}
	})
}

// However often a group is evaluated, a signal keeps about SignalMax
// samples: one per SignalAge ÷ SignalMax at most.
func TestSamplesBoundedBySize(t *testing.T) {
	s := openTemp(t, Options{SignalAge: time.Hour, SignalMax: 60})
	for i := range 4 * 3600 / 5 { // 4 hours every 5 s
		at := t0.Add(time.Duration(i) * 5 * time.Second)
		mustUpdate(t, s, func(tx *Tx) error { return tx.AppendSamples("g", at, map[string]float64{"s": float64(i)}) })
	}
	mustView(t, s, func(tx *Tx) error {
		got, err := tx.Samples("g", "s", time.Time{})
		if err != nil {
			return err
		}
		if len(got) < 59 || len(got) > 61 {
			t.Fatalf("%d samples kept; want about 60", len(got))
		}
		for i := 1; i < len(got); i++ {
			if gap := got[i].T.Sub(got[i-1].T); gap < time.Minute {
				t.Fatalf("samples %s apart; want at least a minute", gap)
			}
		}
		return nil
	})
}

package store

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// tick is what one daemon tick writes for n groups, in one Update, as
// internal/daemon's decide does: each group's state with the engine's
// memory, its decision (a new journal entry for one group in four, a
// repeat of the newest for the others, as groups mostly hold) and three
// signal samples.
type tick struct {
	groups []string
	mem    json.RawMessage
	dec    []json.RawMessage // [0] a change, [1] a hold
}

func newTick(n int) *tick {
	tk := &tick{
		mem: json.RawMessage(`{"windows":{"down":[{"t":"2025-03-01T12:00:00Z","v":4},{"t":"2025-03-01T12:00:15Z","v":4},` +
			`{"t":"2025-03-01T12:00:30Z","v":5}],"up":[]},"rate":{"scale_up":[],"scale_down":[]}}`),
		dec: []json.RawMessage{
			json.RawMessage(`{"group":"g","current":4,"desired":5,"outcome":"scale_up","reason":"queue 130 > 100 per instance",` +
				`"inputs":[{"name":"queue","value":650},{"name":"cpu","value":0.71},{"name":"rate","value":212.5}],` +
				`"policies":[{"name":"queue","desired":5},{"name":"cpu","desired":4}]}`),
			json.RawMessage(`{"group":"g","current":4,"desired":4,"outcome":"hold","reason":"within target",` +
				`"inputs":[{"name":"queue","value":390},{"name":"cpu","value":0.64},{"name":"rate","value":198.0}],` +
				`"policies":[{"name":"queue","desired":4},{"name":"cpu","desired":4}]}`),
		},
	}
	for i := range n {
		tk.groups = append(tk.groups, fmt.Sprintf("group-%05d", i))
	}
	return tk
}

// write is tick i (15 s apart) in one Update.
func (tk *tick) write(s *Store, i int) error {
	now := t0.Add(time.Duration(i) * 15 * time.Second)
	return s.Update(func(tx *Tx) error {
		for g, group := range tk.groups {
			gs, _, err := tx.GroupState(group)
			if err != nil {
				return err
			}
			gs.Desired, gs.Engine = 4+(g+i)%3, tk.mem
			if err := tx.PutGroupState(group, gs); err != nil {
				return err
			}
			if (g+i)%4 == 0 {
				_, err = tx.AppendDecision(group, now, tk.dec[0])
			} else {
				err = tx.RepeatDecision(group, now, tk.dec[1], 1)
			}
			if err != nil {
				return err
			}
			v := float64(g + i)
			if err := tx.AppendSamples(group, now, map[string]float64{"queue": v, "cpu": v / 1000, "rate": v / 10}); err != nil {
				return err
			}
		}
		return nil
	})
}

// warm ticks a few times, so every group, its journal and its signals
// exist before the measured ticks, as in a running ebb.
const warmTicks = 3

var tickSizes = []int{1_000, 10_000}

// BenchmarkPostgresTick measures one tick's Update: on a leader, whose
// Update also commits the tick's changes to PostgreSQL (tables and log, in
// one transaction), beside the same tick on a bbolt file store.
func BenchmarkPostgresTick(b *testing.B) {
	for _, n := range tickSizes {
		for _, kind := range []string{"file", "postgres"} {
			b.Run(fmt.Sprintf("groups=%d/store=%s", n, kind), func(b *testing.B) {
				var s *Store
				if kind == "file" {
					var err error
					if s, err = Open(filepath.Join(b.TempDir(), "ebb.db"), Options{}); err != nil {
						b.Fatal(err)
					}
					b.Cleanup(func() { s.Close() })
				} else {
					s = replicaOn(b, database(b), "a", func(o *PostgresOptions) { o.Lease = time.Hour; o.Timeout = time.Minute })
					lead(b, s)
				}
				tk := newTick(n)
				for i := range warmTicks {
					if err := tk.write(s, i); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				b.ResetTimer()
				for i := range b.N {
					if err := tk.write(s, warmTicks+i); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/group")
				if kind == "postgres" {
					var size int64
					if err := s.repl.pool.QueryRow(b.Context(), `SELECT length(changes) FROM ebb_log ORDER BY version DESC LIMIT 1`).Scan(&size); err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(size), "log-bytes/tick")
				}
			})
		}
	}
}

// BenchmarkPostgresFollow measures a follower bringing its copy up to date
// with one tick the leader committed, as its campaign does each tick: read
// the log's new change, apply it to the local copy, read the lease.
func BenchmarkPostgresFollow(b *testing.B) {
	for _, n := range tickSizes {
		b.Run(fmt.Sprintf("groups=%d", n), func(b *testing.B) {
			dsn := database(b)
			slow := func(o *PostgresOptions) { o.Lease = time.Hour; o.Timeout = time.Minute }
			leader := replicaOn(b, dsn, "a", slow)
			follower := replicaOn(b, dsn, "b", slow)
			lead(b, leader)
			tk := newTick(n)
			for i := range warmTicks {
				if err := tk.write(leader, i); err != nil {
					b.Fatal(err)
				}
			}
			follow(b, follower)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				if err := tk.write(leader, warmTicks+i); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				follow(b, follower)
			}
			b.StopTimer()
			if follower.repl.applied != leader.repl.applied {
				b.Fatalf("follower at version %d, leader at %d", follower.repl.applied, leader.repl.applied)
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/group")
		})
	}
}

package store

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// filledStore writes a state file with enough groups, instances and
// decisions to span many pages, closes it and returns its bytes and how
// many of them its pages use (the file may be longer: bbolt grows it
// ahead).
func filledStore(t *testing.T) ([]byte, int) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ebb.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for g := range 20 {
		group := fmt.Sprintf("g%02d", g)
		mustUpdate(t, s, func(tx *Tx) error {
			for i := range 30 {
				in := model.Instance{ID: fmt.Sprintf("%s-%04d", group, i), Group: group, State: model.InService, StateSince: t0, LaunchedAt: t0}
				if err := tx.PutInstance(in); err != nil {
					return err
				}
			}
			for i := range 50 {
				dec := fmt.Sprintf(`{"group":%q,"desired":%d,"reason":%q}`, group, i, strings.Repeat("x", 100))
				if _, err := tx.AppendDecision(group, t0, []byte(dec)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	var used int64
	if err := s.db.View(func(tx *bolt.Tx) error { used = tx.Size(); return nil }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b, int(used)
}

// openBytes writes b to a fresh file and opens it; the file's content
// afterwards is returned too.
func openBytes(t *testing.T, b []byte) (*Store, string, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ebb.db")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	return s, path, err
}

func TestOpenDamagedFileIsAnError(t *testing.T) {
	good, used := filledStore(t)
	pageSize := os.Getpagesize()
	tests := []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"truncated to half", func(b []byte) []byte { return b[:used/2] }},
		{"truncated to one page", func(b []byte) []byte { return b[:pageSize] }},
		{"truncated mid-page", func(b []byte) []byte { return b[:3*pageSize+100] }},
		{"both meta pages zeroed", func(b []byte) []byte {
			clear(b[:2*pageSize])
			return b
		}},
		{"not a store", func(b []byte) []byte { return bytes.Repeat([]byte("ebb\n"), 4096) }},
		{"every data page scribbled", func(b []byte) []byte {
			r := rand.New(rand.NewPCG(7, 7))
			for off := 2 * pageSize; off < used; off += pageSize {
				for i := range 64 {
					b[off+i] = byte(r.Uint32())
				}
			}
			return b
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := tt.damage(bytes.Clone(good))
			s, path, err := openBytes(t, bad)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded on a damaged file")
			}
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error is not ErrDamaged: %v", err)
			}
			for _, want := range []string{path, "will not start over it", "Restore it from a backup", "move it aside"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			after, rerr := os.ReadFile(path)
			if rerr != nil {
				t.Fatal(rerr)
			}
			if !bytes.Equal(after, bad) {
				t.Error("Open changed the damaged file")
			}
		})
	}
}

// TestOpenSurvivesRandomDamage truncates and scribbles a real state file at
// seeded random places: Open returns an error or a store that reads, and
// never panics or faults.
func TestOpenSurvivesRandomDamage(t *testing.T) {
	good, used := filledStore(t)
	good = good[:used] // what lies beyond is unused
	r := rand.New(rand.NewPCG(2026, 11))
	for i := range 60 {
		bad := bytes.Clone(good)
		kind := "scribble"
		if i%3 == 0 {
			kind = "truncate"
			bad = bad[:r.IntN(len(bad))]
		} else {
			off := r.IntN(len(bad))
			for j := off; j < min(len(bad), off+1+r.IntN(512)); j++ {
				bad[j] = byte(r.Uint32())
			}
		}
		t.Run(fmt.Sprintf("%02d-%s", i, kind), func(t *testing.T) {
			s, _, err := openBytes(t, bad)
			if err != nil {
				return // refused: what a damaged file should get
			}
			defer s.Close()
			// Opened: the damage hit nothing Open reads. Reading must
			// then not crash either.
			_ = s.View(func(tx *Tx) error {
				groups, err := tx.Groups()
				for _, g := range groups {
					tx.Instances(g)
					tx.Decisions(g, 0)
				}
				return err
			})
		})
	}
}

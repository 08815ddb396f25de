package store

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	bolt "go.etcd.io/bbolt"
)

// crashEnv names the store file a TestHelperProcess child writes to.
const crashEnv = "EBB_STORE_CRASH_HELPER_PATH"

const (
	// crashIterations bounds the child: it stops by itself if nobody kills it.
	crashIterations = 200
	// crashLines is how many commits the parent waits for before SIGKILL.
	crashLines = 5
)

// TestHelperProcess is the child of TestCrashSafety, not a test of its own:
// it commits an instance and its launch intent per transaction, and prints
// each intent's seq once its commit has returned.
func TestHelperProcess(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return
	}
	s, err := Open(path, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := range crashIterations {
		var seq uint64
		err := s.Update(func(tx *Tx) error {
			id := fmt.Sprintf("i-%03d", i)
			at := t0.Add(time.Duration(i) * time.Second)
			if err := tx.PutInstance(model.Instance{ID: id, Group: "web", State: model.Pending, LaunchedAt: at, StateSince: at}); err != nil {
				return err
			}
			in, err := tx.AddIntent(Intent{Group: "web", Instance: id, Kind: IntentLaunch, Created: at})
			seq = in.Seq
			return err
		})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Println(seq)
	}
	os.Exit(0)
}

// TestCrashSafety SIGKILLs a writer mid-stream, most likely inside a
// transaction, and checks the file it leaves: every commit the writer saw
// return is there, no transaction is half there, and the file is consistent.
func TestCrashSafety(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ebb.db")
	// The deadline for the whole exchange: CommandContext kills a child that
	// hangs, which ends the read below.
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var printed []uint64
	sc := bufio.NewScanner(stdout)
	for len(printed) < crashLines && sc.Scan() {
		seq, err := strconv.ParseUint(sc.Text(), 10, 64)
		if err != nil {
			t.Errorf("child printed %q", sc.Text())
			break
		}
		printed = append(printed, seq)
	}
	// SIGKILL: no deferred code, no Close, wherever the child is.
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		t.Fatal(err)
	}
	waitErr := cmd.Wait()
	if len(printed) < crashLines {
		t.Fatalf("child printed %d seqs, want %d: %v\n%s", len(printed), crashLines, waitErr, stderr.String())
	}

	s, err := Open(path, Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	var last uint64
	mustView(t, s, func(tx *Tx) error {
		intents, err := tx.OpenIntents("web")
		if err != nil {
			t.Fatal(err)
		}
		have := make(map[uint64]bool)
		for i, in := range intents {
			have[in.Seq] = true
			// Seqs are dense: a transaction is all there or not at all.
			if in.Seq != uint64(i+1) {
				t.Errorf("intent %d has seq %d", i, in.Seq)
			}
			if _, found, err := tx.Instance(in.Group, in.Instance); err != nil || !found {
				t.Errorf("intent %d: instance %s found=%v err=%v", in.Seq, in.Instance, found, err)
			}
			last = in.Seq
		}
		for _, seq := range printed {
			if !have[seq] {
				t.Errorf("committed seq %d is missing", seq)
			}
		}
		insts, err := tx.Instances("web")
		if err != nil {
			t.Fatal(err)
		}
		if len(insts) != len(intents) {
			t.Errorf("%d instances for %d intents", len(insts), len(intents))
		}
		t.Logf("child printed %d seqs; the file holds %d", len(printed), len(intents))
		return nil
	})
	err = s.db.View(func(btx *bolt.Tx) error {
		for err := range btx.Check() {
			t.Errorf("check: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The daemon resumes: the next intent follows the last committed one.
	mustUpdate(t, s, func(tx *Tx) error {
		in, err := tx.AddIntent(launch("web", "i-next"))
		if in.Seq != last+1 {
			t.Errorf("seq after reopen = %d, want %d", in.Seq, last+1)
		}
		return err
	})
}

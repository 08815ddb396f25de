package cli

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider/local"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// crashScript is an instance that logs how it was stopped: "drained" on
// SIGUSR1 (the drain, which takes it 1.5 s, so kills land mid-drain),
// "term" on SIGTERM (a termination). It exits by itself after two minutes
// so a failed test cannot leak it.
const crashScript = `trap 'sleep 1.5; echo drained; exit 0' USR1; trap 'echo term; exit 0' TERM; echo started; i=0; while [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done`

func crashConfig(dir, group string, port int) string {
	return fmt.Sprintf(`store: {path: %[1]s/ebb.db}
api: {listen: "127.0.0.1:%[3]d"}
groups:
  - name: %[2]s
    capacity: {min: 0, max: 8}
    interval: 1s
    signals: {want: {stale: 1h}}
    policies: [{queue: {signal: want, per_instance: 1}}]
    behavior: {up: {limits: []}, down: {window: 0s, limits: []}}
    provider:
      local: {command: [/bin/sh, -c, %[4]q], log_dir: %[1]s/logs, grace: 5s}
    lifecycle:
      launch: {max_concurrent: 3}
      drain: {signal: SIGUSR1, heartbeat: 1s}
`, dir, group, port, crashScript)
}

// ebbProcess runs `ebb run` as a child process: this test binary acting as
// ebb, so SIGKILL hits a real, separate process.
func ebbProcess(t *testing.T, cfg, token string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "run", "-c", cfg, "--log-level", "warn")
	cmd.Env = append(os.Environ(), asEbb+"=1", "EBB_TOKEN="+token)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("ebb's log:\n%s", logs.String())
		}
	})
	return cmd
}

// TestCrashSafety kills ebb with SIGKILL at random moments while it
// launches and drains, restarts it each time, and finally lets it settle.
// No instance may be terminated twice or drained and then killed, none may
// be orphaned (running but unknown to ebb, or known but not running), every
// drain must complete, and the group must end at the desired capacity.
func TestCrashSafety(t *testing.T) {
	seed := uint64(1)
	if s := os.Getenv("EBB_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set EBB_CRASH_SEED to try another)", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	dir := t.TempDir()
	group := fmt.Sprintf("crash%d", seed%100000)
	port := freeTCPPort(t)
	cfg := filepath.Join(dir, "ebb.yaml")
	if err := os.WriteFile(cfg, []byte(crashConfig(dir, group, port)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { killMarked(group) })
	c := client.New(fmt.Sprintf("http://127.0.0.1:%d", port), "tok")
	push := func(want int) {
		t.Helper()
		eventually(t, 20*time.Second, "ebb to accept a push", func() bool {
			return c.Push(context.Background(), group, time.Time{}, map[string]float64{"want": float64(want)}) == nil
		})
	}

	for round := 0; round < 12; round++ {
		cmd := ebbProcess(t, cfg, "tok")
		// Alternate high and low, so every round launches or drains.
		if round%2 == 0 {
			push(4 + rng.IntN(5))
		} else {
			push(rng.IntN(3))
		}
		// Let it work for a random moment: mid-launch, mid-drain, idle.
		stop := time.NewTimer(time.Duration(800+rng.IntN(3000)) * time.Millisecond)
		<-stop.C
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}

	final := 1 + rng.IntN(5)
	cmd := ebbProcess(t, cfg, "tok")
	push(final)
	eventually(t, 60*time.Second, fmt.Sprintf("%d in service and nothing in flight", final), func() bool {
		var insts []model.Instance
		if c.Instances(context.Background(), group, false, &insts) != nil {
			return false
		}
		n := 0
		for _, in := range insts {
			if in.State != model.InService {
				return false
			}
			n++
		}
		return n == final
	})
	cmd.Process.Signal(syscall.SIGTERM) // a clean stop: instances stay
	cmd.Wait()

	st, err := store.Open(filepath.Join(dir, "ebb.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var insts []model.Instance
	var open []store.Intent
	var gs store.GroupState
	st.View(func(tx *store.Tx) error {
		insts, _ = tx.Instances(group)
		open, _ = tx.OpenIntents(group)
		gs, _, _ = tx.GroupState(group)
		return nil
	})
	if len(open) != 0 {
		t.Errorf("open intents after settling: %+v", open)
	}
	if gs.Desired != final {
		t.Errorf("desired %d, want %d", gs.Desired, final)
	}
	checkStoppedOnce(t, dir, group, insts)
	drained := 0
	for _, in := range insts {
		if in.Reason == "exited after draining" {
			drained++
		}
	}
	t.Logf("%d instances over the run, %d drained; %d in service at the end", len(insts), drained, final)
	if len(insts) < 8 || drained < 2 {
		t.Errorf("too little happened to test crash safety: %d instances, %d drains", len(insts), drained)
	}
}

// checkStoppedOnce checks a group's instances against their processes and
// logs (of crashScript or haScript): each started once and stopped at
// most once, a drained one terminated, an instance in service running and
// an ended one not, and no process of the group unknown to ebb.
func checkStoppedOnce(t *testing.T, dir, group string, insts []model.Instance) {
	t.Helper()
	running := markedProcesses(group)
	known := map[int]bool{}
	for _, in := range insts {
		log, _ := os.ReadFile(filepath.Join(dir, "logs", group, in.ID+".log"))
		text := string(log)
		terms, drains := strings.Count(text, "term\n"), strings.Count(text, "drained\n")
		if starts := strings.Count(text, "started\n"); starts > 1 {
			t.Errorf("%s started %d times: %q", in.ID, starts, text)
		}
		if terms > 1 || drains > 1 || terms+drains > 1 {
			t.Errorf("%s stopped more than once: %q", in.ID, text)
		}
		switch in.State {
		case model.InService:
			if in.Process == nil || !running[in.Process.PID] {
				t.Errorf("%s is in service but not running", in.ID)
			} else {
				known[in.Process.PID] = true
			}
		case model.Terminated, model.Failed:
			if in.Process != nil && running[in.Process.PID] {
				t.Errorf("%s is recorded %s but runs", in.ID, in.State)
			}
		default:
			t.Errorf("%s left %s", in.ID, in.State)
		}
		if drains == 1 && in.State != model.Terminated {
			t.Errorf("%s drained but is %s", in.ID, in.State)
		}
	}
	for pid := range running {
		if !known[pid] {
			t.Errorf("process %d of group %s runs but ebb does not know it: an orphan", pid, group)
		}
	}
	recorded := map[string]bool{}
	for _, in := range insts {
		recorded[in.ID+".log"] = true
	}
	logs, _ := os.ReadDir(filepath.Join(dir, "logs", group))
	for _, l := range logs {
		if !recorded[l.Name()] {
			t.Errorf("%s: an instance launched that ebb did not record", l.Name())
		}
	}
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// markedProcesses returns the PIDs of live instance processes of group,
// recorded or not, as the local provider finds them.
func markedProcesses(group string) map[int]bool {
	p, _ := local.New(local.Config{Command: []string{"x"}})
	insts, _ := p.List(context.Background(), group)
	out := map[int]bool{}
	for _, in := range insts {
		out[in.Process.PID] = true
	}
	return out
}

// killMarked SIGKILLs every process group of group's instances.
func killMarked(group string) {
	for pid := range markedProcesses(group) {
		syscall.Kill(-pid, syscall.SIGKILL)
	}
}

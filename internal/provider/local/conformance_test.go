package local_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
	"github.com/ebb-autoscaler/ebb/internal/provider/instancetest"
	"github.com/ebb-autoscaler/ebb/internal/provider/local"
)

// instanceScript is the instance the instance provider suite runs: it
// writes "signal NAME" for each signal the suite sends and exits on
// SIGTERM. $0 marks it as the suite's, and its arguments are ID GROUP, so
// the harness tells instances apart from /proc alone. It ends on its own
// after about a minute, so nothing outlives a crashed test by long.
const instanceScript = `
trap 'echo "signal USR1"' USR1
trap 'echo "signal USR2"' USR2
trap 'echo "signal WINCH"' WINCH
trap 'echo "signal TERM"; exit 0' TERM
echo ready
i=0
while [ $i -lt 1200 ]; do sleep 0.05; i=$((i+1)); done
`

const instanceMarker = "ebb-instancetest"

// The local provider passes the instance provider suite with real
// processes, observed through /proc and their own output.
func TestInstanceConformance(t *testing.T) {
	instancetest.Run(t, localHarness(t))
}

func localHarness(t *testing.T) instancetest.Harness {
	logDir := t.TempDir()
	command := []string{"/bin/sh", "-c", instanceScript, instanceMarker, "{{.ID}}", "{{.Group}}"}
	open := func(t *testing.T, dir string) *local.Provider {
		p, err := local.New(local.Config{Command: command, LogDir: logDir, Dir: dir, Grace: 5 * time.Second})
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		return p
	}
	logOf := func(inst model.Instance) string {
		return filepath.Join(logDir, inst.Group, inst.ID+".log")
	}
	running := func(t *testing.T, inst model.Instance) bool {
		if inst.Process == nil {
			t.Fatalf("instance %s has no process", inst.ID)
		}
		st, ok := procStat(inst.Process.PID)
		if !ok || st.start != inst.Process.StartTime || st.state == 'Z' || st.state == 'X' {
			return false
		}
		// An exiting process has released its memory, and with it its
		// command line, before it is a zombie: it runs until then.
		argv, ok := instanceArgs(inst.Process.PID)
		return (ok && argv[0] == inst.ID && argv[1] == inst.Group) || (!ok && argv == nil)
	}
	return instancetest.Harness{
		Open: func(t *testing.T) instancetest.Provider { return open(t, "") },
		// The instance's command, which the harness would see run, in a
		// working directory that does not exist.
		Refused: func(t *testing.T, group string) (provider.Launcher, provider.LaunchRequest) {
			return open(t, filepath.Join(logDir, "nonexistent")), provider.LaunchRequest{ID: "i-refused", Group: group}
		},
		Ready: func(t *testing.T, inst model.Instance) {
			waitFor(t, inst.ID+" is ready", func() bool {
				data, _ := os.ReadFile(logOf(inst))
				return bytes.Contains(data, []byte("ready\n"))
			})
		},
		Running: running,
		Census: func(t *testing.T, group string) []string {
			entries, err := os.ReadDir("/proc")
			if err != nil {
				t.Fatalf("read /proc: %v", err)
			}
			var ids []string
			for _, e := range entries {
				pid, err := strconv.Atoi(e.Name())
				if err != nil {
					continue
				}
				argv, ok := instanceArgs(pid)
				if !ok || argv[1] != group {
					continue
				}
				// A fork of the script (before it execs sleep) has its
				// command line too, in the instance's process group.
				if st, ok := procStat(pid); ok && st.state != 'Z' && st.state != 'X' && st.pgrp == pid {
					ids = append(ids, argv[0])
				}
			}
			return ids
		},
		Signals: func(t *testing.T, inst model.Instance) []syscall.Signal {
			data, err := os.ReadFile(logOf(inst))
			if err != nil {
				t.Fatalf("read the output of %s: %v", inst.ID, err)
			}
			names := map[string]syscall.Signal{"USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2, "TERM": syscall.SIGTERM, "WINCH": syscall.SIGWINCH}
			var got []syscall.Signal
			for _, line := range strings.Split(string(data), "\n") {
				if name, ok := strings.CutPrefix(line, "signal "); ok {
					got = append(got, names[name])
				}
			}
			return got
		},
		Crash: func(t *testing.T, inst model.Instance) {
			if !running(t, inst) {
				return
			}
			if err := syscall.Kill(-inst.Process.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
				t.Fatalf("kill %s: %v", inst.ID, err)
			}
		},
		Recycled: func(_ *testing.T, inst model.Instance) model.Instance {
			inst.Process = &model.Process{PID: inst.Process.PID, StartTime: inst.Process.StartTime + 1}
			return inst
		},
		// The PID of a process run to completion, with a start time no
		// later process can have.
		Unlaunched: func(t *testing.T, req provider.LaunchRequest) model.Instance {
			cmd := exec.Command("/bin/true")
			if err := cmd.Run(); err != nil {
				t.Fatalf("run /bin/true: %v", err)
			}
			return model.Instance{ID: req.ID, Group: req.Group, Zone: req.Zone, State: model.Launching,
				Process: &model.Process{PID: cmd.ProcessState.Pid(), StartTime: 1}}
		},
	}
}

type stat struct {
	state byte
	pgrp  int
	start uint64
}

// procStat reads fields 3 (state), 5 (process group) and 22 (start time)
// of /proc/PID/stat.
func procStat(pid int) (stat, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return stat{}, false
	}
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 20 {
		return stat{}, false
	}
	pgrp, err := strconv.Atoi(fields[2])
	if err != nil {
		return stat{}, false
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	return stat{state: fields[0][0], pgrp: pgrp, start: start}, err == nil
}

// instanceArgs returns the ID and group a process of instanceScript was
// started with, and false for any other process; the arguments are nil
// too when the process has no command line (it is exiting) or is gone.
func instanceArgs(pid int) ([]string, bool) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil || len(data) == 0 {
		return nil, false
	}
	argv := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
	if len(argv) != 6 || argv[2] != instanceScript || argv[3] != instanceMarker {
		return []string{}, false
	}
	return argv[4:], true
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(10 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("waited 10s for: %s", what)
		case <-tick.C:
		}
	}
}

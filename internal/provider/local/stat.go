package local

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"syscall"
)

// procStat is what ebb needs from /proc/PID/stat.
type procStat struct {
	// State is field 3: R, S, D, Z (zombie), T, t, X (dead), I, ...
	State byte
	// StartTime is field 22: when the process started, in clock ticks
	// since boot. With the PID it identifies a process across PID reuse.
	StartTime uint64
}

// running reports whether the process still runs: a zombie has exited and
// only waits to be reaped.
func (s procStat) running() bool {
	switch s.State {
	case 'Z', 'X', 'x':
		return false
	}
	return true
}

// readStat reads /proc/PID/stat. found is false when no process has that PID.
func readStat(pid int) (st procStat, found bool, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		// ESRCH: the process was reaped between open and read.
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
			return procStat{}, false, nil
		}
		return procStat{}, false, fmt.Errorf("read process status: %w", err)
	}
	st, err = parseStat(data)
	if err != nil {
		return procStat{}, false, fmt.Errorf("read /proc/%d/stat: %w", pid, err)
	}
	return st, true, nil
}

// parseStat parses the contents of /proc/PID/stat: "PID (COMM) STATE PPID ...".
// COMM is the executable name, which may hold spaces and parentheses, so the
// fields are counted from the last ')'.
func parseStat(data []byte) (procStat, error) {
	end := bytes.LastIndexByte(data, ')')
	if end < 0 || bytes.IndexByte(data[:end], '(') < 0 {
		return procStat{}, errors.New("no command name in parentheses")
	}
	// fields[0] is field 3 (state), so field N is fields[N-3].
	fields := bytes.Fields(data[end+1:])
	const startTime = 22 - 3
	if len(fields) <= startTime {
		return procStat{}, fmt.Errorf("%d fields after the command name, want at least %d", len(fields), startTime+1)
	}
	if len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("state %q is not one character", fields[0])
	}
	start, err := strconv.ParseUint(string(fields[startTime]), 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("start time: %w", err)
	}
	return procStat{State: fields[0][0], StartTime: start}, nil
}

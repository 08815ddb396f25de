package local

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Environment variables every instance gets.
const (
	envInstance = "EBB_INSTANCE" // GROUP/ID
	envAddr     = "EBB_ADDR"     // host:port the instance was given
)

// Find looks for the running process launched for group/id, by the
// EBB_INSTANCE variable in its environment. A restarted ebb uses it to
// adopt a launch whose outcome a crash left unrecorded, instead of leaving
// an orphan or launching twice.
func (p *Provider) Find(ctx context.Context, group, id string) (model.Instance, bool, error) {
	if err := checkRequest(provider.LaunchRequest{ID: id, Group: group}); err != nil {
		return model.Instance{}, false, fmt.Errorf("find %s/%s: %w", group, id, err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return model.Instance{}, false, fmt.Errorf("find %s/%s: %w", group, id, err)
	}
	marker := []byte(envInstance + "=" + group + "/" + id)
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return model.Instance{}, false, fmt.Errorf("find %s/%s: %w", group, id, err)
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 {
			continue
		}
		environ, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil { // gone, or not ours to read
			continue
		}
		vars := bytes.Split(environ, []byte{0})
		var addr string
		found := false
		for _, v := range vars {
			if bytes.Equal(v, marker) {
				found = true
			}
			if a, ok := bytes.CutPrefix(v, []byte(envAddr+"=")); ok {
				addr = string(a)
			}
		}
		if !found {
			continue
		}
		st, ok, err := readStat(pid)
		if err != nil || !ok || st.State == 'Z' || st.State == 'X' {
			continue
		}
		proc := model.Process{PID: pid, StartTime: st.StartTime}
		return model.Instance{ID: id, Group: group, Addr: addr, State: model.Launching, Process: &proc}, true, nil
	}
	return model.Instance{}, false, nil
}

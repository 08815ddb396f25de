package local

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Environment variables every instance gets.
const (
	envInstance = "EBB_INSTANCE" // GROUP/ID
	envAddr     = "EBB_ADDR"     // host:port the instance was given
	envOwner    = "EBB_OWNER"    // Config.Owner, when set
)

// Find looks for the running process launched for group/id, by the
// EBB_INSTANCE variable in its environment. A restarted ebb uses it to
// adopt a launch whose outcome a crash left unrecorded, instead of leaving
// an orphan or launching twice.
func (p *Provider) Find(ctx context.Context, group, id string) (model.Instance, bool, error) {
	if err := checkRequest(provider.LaunchRequest{ID: id, Group: group}); err != nil {
		return model.Instance{}, false, fmt.Errorf("find %s/%s: %w", group, id, err)
	}
	found, err := p.scan(ctx, group, id)
	if err != nil || len(found) == 0 {
		return model.Instance{}, false, err
	}
	return found[0], true, nil
}

// List returns every running instance of group on this machine, recorded or
// not: what an operator (or a test) checks for orphans.
func (p *Provider) List(ctx context.Context, group string) ([]model.Instance, error) {
	if err := checkRequest(provider.LaunchRequest{ID: "x", Group: group}); err != nil {
		return nil, fmt.Errorf("list %s: %w", group, err)
	}
	return p.scan(ctx, group, "")
}

// scan reads /proc for live instance processes of group (and of id, when
// given) launched by a provider of the same owner. Only process group
// leaders count: an instance runs in a session of its own, and its
// children inherit the marker too.
func (p *Provider) scan(ctx context.Context, group, id string) ([]model.Instance, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("scan processes: %w", err)
	}
	prefix := []byte(envInstance + "=" + group + "/")
	var out []model.Instance
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("scan processes: %w", err)
		}
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 1 {
			continue
		}
		if pgid, err := syscall.Getpgid(pid); err != nil || pgid != pid {
			continue
		}
		environ, err := os.ReadFile("/proc/" + e.Name() + "/environ")
		if err != nil { // gone, or not ours to read
			continue
		}
		var gotID, addr, owner string
		for _, v := range bytes.Split(environ, []byte{0}) {
			if rest, ok := bytes.CutPrefix(v, prefix); ok {
				gotID = string(rest)
			}
			if a, ok := bytes.CutPrefix(v, []byte(envAddr+"=")); ok {
				addr = string(a)
			}
			if o, ok := bytes.CutPrefix(v, []byte(envOwner+"=")); ok {
				owner = string(o)
			}
		}
		if gotID == "" || strings.Contains(gotID, "/") || (id != "" && gotID != id) || (p.owner != "" && owner != p.owner) {
			continue
		}
		st, ok, err := readStat(pid)
		if err != nil || !ok || st.State == 'Z' || st.State == 'X' {
			continue
		}
		proc := model.Process{PID: pid, StartTime: st.StartTime}
		out = append(out, model.Instance{ID: gotID, Group: group, Addr: addr, State: model.Launching, Process: &proc})
	}
	return out, nil
}

package capacitytest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/provider"
)

// Memory is a system owning its instances, kept in memory: a stand-in for a
// Kubernetes ReplicaSet or an Auto Scaling group in tests of what drives a
// capacity provider. Converge is its controller: it launches up to the
// desired count, ready at once. It records every call, in order. It
// passes the suite (see its test).
type Memory struct {
	// Prefix starts the IDs of the instances it launches ("i-" when empty);
	// Now stamps their launch (the zero time when nil).
	Prefix string
	Now    func() time.Time

	mu      sync.Mutex
	desired int
	insts   []provider.Instance
	next    int
	calls   []string
}

var _ provider.Capacity = (*Memory)(nil)

// Observe returns the system's count and instances.
func (m *Memory) Observe(ctx context.Context) (provider.Observed, error) {
	if err := ctx.Err(); err != nil {
		return provider.Observed{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return provider.Observed{Desired: m.desired, Instances: slices.Clone(m.insts), Min: -1, Max: -1}, nil
}

// SetDesired sets the count, recorded as "set N".
func (m *Memory) SetDesired(ctx context.Context, n int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, fmt.Sprintf("set %d", n))
	m.desired = n
	return nil
}

// Remove takes the named instances out, lowering the count for each still
// there, recorded as "remove ID".
func (m *Memory) Remove(ctx context.Context, victims []provider.Victim) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range victims {
		m.calls = append(m.calls, "remove "+v.ID)
		if i := slices.IndexFunc(m.insts, func(in provider.Instance) bool { return in.ID == v.ID }); i >= 0 {
			m.insts = slices.Delete(m.insts, i, i+1)
			m.desired--
		}
	}
	return nil
}

// Converge launches instances up to the count, ready at once, and stops
// the newest beyond it.
func (m *Memory) Converge() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.insts) > m.desired {
		m.insts = m.insts[:max(0, m.desired)]
	}
	prefix := m.Prefix
	if prefix == "" {
		prefix = "i-"
	}
	for len(m.insts) < m.desired {
		m.next++
		var at time.Time
		if m.Now != nil {
			at = m.Now().Add(time.Duration(m.next) * time.Millisecond)
		}
		m.insts = append(m.insts, provider.Instance{ID: fmt.Sprintf("%s%d", prefix, m.next), Addr: "127.0.0.1:1", Ready: true, LaunchedAt: at})
	}
}

// Calls returns the calls made since the last Calls, in order.
func (m *Memory) Calls() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.calls
	m.calls = nil
	return out
}

// Desired is the system's count.
func (m *Memory) Desired() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.desired
}

// Edit changes the system behind its callers' backs, as an operator, or
// the system on its own, would: f gets the count and the instances.
func (m *Memory) Edit(f func(desired *int, insts *[]provider.Instance)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(&m.desired, &m.insts)
}

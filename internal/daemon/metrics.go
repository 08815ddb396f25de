package daemon

import (
	"fmt"
	"io"
	"sort"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// metrics counts what ebb did, for /metrics.
type metrics struct {
	decisions      map[string]map[model.Direction]int
	reloads        int
	reloadFailures int
}

func (m *metrics) decided(d *model.Decision) {
	if m.decisions == nil {
		m.decisions = map[string]map[model.Direction]int{}
	}
	if m.decisions[d.Group] == nil {
		m.decisions[d.Group] = map[model.Direction]int{}
	}
	m.decisions[d.Group][d.Direction]++
}

// WriteMetrics writes ebb's own metrics in the Prometheus text format.
func (d *Daemon) WriteMetrics(w io.Writer) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, 0, len(d.groups))
	for n := range d.groups {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	add("# HELP ebb_group_desired_capacity The capacity the engine decided.")
	add("# TYPE ebb_group_desired_capacity gauge")
	for _, n := range names {
		add("ebb_group_desired_capacity{group=%q} %d", n, d.eng.States[d.groups[n].index].Desired)
	}
	add("# HELP ebb_group_instances Instances by lifecycle state.")
	add("# TYPE ebb_group_instances gauge")
	for _, n := range names {
		g := d.groups[n]
		if g.rec == nil {
			continue
		}
		for _, s := range []struct {
			state string
			n     int
		}{{"launching", g.status.Launching}, {"in_service", g.status.InService}, {"draining", g.status.Draining}, {"terminating", g.status.Terminating}} {
			add("ebb_group_instances{group=%q,state=%q} %d", n, s.state, s.n)
		}
	}
	add("# HELP ebb_decisions_total Decisions made, by direction.")
	add("# TYPE ebb_decisions_total counter")
	for _, n := range names {
		for _, dir := range []model.Direction{model.Up, model.Down, model.Hold} {
			add("ebb_decisions_total{group=%q,direction=%q} %d", n, dir, d.metrics.decisions[n][dir])
		}
	}
	add("# HELP ebb_config_reloads_total Configuration reloads, by result.")
	add("# TYPE ebb_config_reloads_total counter")
	add("ebb_config_reloads_total{result=\"ok\"} %d", d.metrics.reloads)
	add("ebb_config_reloads_total{result=\"rejected\"} %d", d.metrics.reloadFailures)
	for _, line := range out {
		if _, err := io.WriteString(w, line+"\n"); err != nil {
			return err
		}
	}
	return nil
}

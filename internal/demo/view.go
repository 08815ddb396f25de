package demo

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/daemon"
	"github.com/ebb-autoscaler/ebb/internal/demo/load"
	"github.com/ebb-autoscaler/ebb/internal/demo/queue"
)

// view samples the system every second, tracks the peak, and shows a status
// line.
type view struct {
	out  io.Writer
	live bool
	plan load.Plan

	start        time.Time
	lastShown    time.Time
	submitted    int64
	peak         int
	minAfterPeak int
	last         int // instances ready at the last sample
	width        int
}

func newView(out io.Writer, live bool, plan load.Plan) *view {
	return &view{out: out, live: live, plan: plan, minAfterPeak: math.MaxInt}
}

// watch samples until the load is done and the cool-down has passed, or ctx
// ends.
func (v *view) watch(ctx context.Context, api *client.Client, q *queue.Queue, loadDone <-chan load.Report, cool time.Duration) error {
	v.start = time.Now()
	fmt.Fprintf(v.out, "ebb demo: replaying World Cup 98 traffic compressed into %s (peak %.0f jobs/s, mean job %s); a fleet fixed for the peak at %.0f%% busy would need %d workers\n",
		v.plan.Duration, v.plan.PeakJobsPerSec, v.plan.ServiceMean, 100*targetBusy, load.FixedFleet(v.plan, targetBusy))
	var loadEnded time.Time
	for {
		if err := (clock.Real{}).Sleep(ctx, time.Second); err != nil {
			return err
		}
		select {
		case <-loadDone:
			loadEnded = time.Now()
			v.line("load finished; cooling down for " + cool.String())
		default:
		}
		v.sample(ctx, api, q)
		if !loadEnded.IsZero() && time.Since(loadEnded) >= cool {
			return nil
		}
	}
}

func (v *view) sample(ctx context.Context, api *client.Client, q *queue.Queue) {
	st := q.Stats()
	rate := float64(st.Submitted - v.submitted)
	v.submitted = st.Submitted
	var g daemon.GroupView
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	err := api.Group(cctx, "workers", &g)
	cancel()
	if err != nil || g.Fleet == nil {
		v.show(fmt.Sprintf("%5.0fs  waiting for ebb: %v", time.Since(v.start).Seconds(), err))
		return
	}
	ready := g.Fleet.InService
	if ready > v.peak {
		v.peak, v.minAfterPeak = ready, ready
	}
	if ready < v.minAfterPeak {
		v.minAfterPeak = ready
	}
	reason := "-"
	if g.Decision != nil {
		reason = g.Decision.Reason
	}
	v.show(fmt.Sprintf("%5.0fs  arrivals %3.0f/s  queued %4d  in flight %3d  instances ready %2d launching %2d draining %2d  desired %2d  | %s",
		time.Since(v.start).Seconds(), rate, st.Queued, st.InFlight, ready, g.Fleet.Launching, g.Fleet.Draining, g.Desired, reason))
}

// show prints a status line: in place on a terminal, else every 10 s.
func (v *view) show(s string) {
	if v.live {
		pad := max(v.width-len(s), 0)
		fmt.Fprintf(v.out, "\r%s%s", s, strings.Repeat(" ", pad))
		v.width = len(s)
		return
	}
	if time.Since(v.lastShown) >= 10*time.Second {
		fmt.Fprintln(v.out, s)
		v.lastShown = time.Now()
	}
}

// line prints a message on its own line.
func (v *view) line(s string) {
	if v.live {
		fmt.Fprint(v.out, "\n")
		v.width = 0
	}
	fmt.Fprintln(v.out, s)
}

func (v *view) finish() {
	if v.live {
		fmt.Fprint(v.out, "\n")
	}
	if v.minAfterPeak == math.MaxInt {
		v.minAfterPeak = v.peak
	}
}

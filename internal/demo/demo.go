package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/ebb-autoscaler/ebb/client"
	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/demo/load"
	"github.com/ebb-autoscaler/ebb/internal/demo/queue"
	"github.com/ebb-autoscaler/ebb/internal/model"
	"github.com/ebb-autoscaler/ebb/internal/provider/local"
	"github.com/ebb-autoscaler/ebb/internal/store"
)

// Options configure a demo run.
type Options struct {
	// Duration is the wall time the trace is compressed into (default 3m).
	Duration time.Duration
	// Speed divides the jobs' service times: workers work faster (default 1).
	Speed float64
	// Seed makes the load; the same seed gives the same jobs.
	Seed int64
	// Executable is the ebb binary the worker processes run, with Env added
	// to their environment.
	Executable string
	Env        map[string]string
	// Dir holds the demo's state and logs; it must exist.
	Dir string
	// Start runs ebb with the config file at path, token as its API token,
	// and returns the API's address and a function that stops it.
	Start func(ctx context.Context, path, token string) (addr string, stop func(), err error)
	// Out gets the live view; Live redraws one line in place (a terminal)
	// instead of printing a line every 10 s.
	Out  io.Writer
	Live bool
}

// Summary is what a demo run did. JSON field names are the demo's contract.
type Summary struct {
	Seed                      int64   `json:"seed"`
	Seconds                   float64 `json:"seconds"`
	JobsSubmitted             int64   `json:"jobs_submitted"`
	JobsCompleted             int64   `json:"jobs_completed"`
	JobsPending               int     `json:"jobs_pending"`
	JobsLost                  int     `json:"jobs_lost"`
	WaitP50MS                 float64 `json:"wait_p50_ms"`
	WaitP99MS                 float64 `json:"wait_p99_ms"`
	PeakInstances             int     `json:"peak_instances"`
	MinInstancesAfterPeak     int     `json:"min_instances_after_peak"`
	Launched                  int     `json:"instances_launched"`
	Drained                   int     `json:"instances_drained"`
	InstanceSeconds           float64 `json:"instance_seconds"`
	FixedFleet                int     `json:"fixed_fleet"`
	FixedFleetInstanceSeconds float64 `json:"fixed_fleet_instance_seconds"`
}

// Run runs the demo until the load and the cool-down are over, or ctx ends;
// either way it stops every process it started, letting each worker finish
// its job first.
func Run(ctx context.Context, opt Options) (Summary, error) {
	if opt.Duration <= 0 {
		opt.Duration = 3 * time.Minute
	}
	if opt.Speed <= 0 {
		opt.Speed = 1
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	plan := load.Plan{Duration: opt.Duration, Seed: opt.Seed}.WithDefaults()
	plan.ServiceMean = time.Duration(float64(plan.ServiceMean) / opt.Speed)
	if err := plan.Validate(); err != nil {
		return Summary{}, err
	}
	sum := Summary{Seed: opt.Seed, FixedFleet: load.FixedFleet(plan, targetBusy)}

	q := queue.New()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return sum, fmt.Errorf("queue: %w", err)
	}
	qsrv := &http.Server{Handler: q.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go qsrv.Serve(ln)
	defer qsrv.Close()
	queueURL := "http://" + ln.Addr().String()

	api, _, stopEbb, err := startDemoEbb(opt, groupConfig(opt.Dir, queueURL, opt.Executable, opt.Speed, opt.Env))
	if err != nil {
		return sum, err
	}

	start := time.Now()
	loadDone := make(chan load.Report, 1)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	go func() {
		rep, _ := load.Run(loadCtx, plan, load.Submitter(queueURL, &http.Client{}), clock.Real{})
		loadDone <- rep
	}()

	v := newView(opt.Out, opt.Live, plan)
	err = v.watch(ctx, api, q, loadDone, cooldown(opt.Duration))
	stopLoad()
	v.finish()

	// Stop deciding, then stop every worker gracefully: ebb leaves its
	// instances running by design, so the demo drains them itself.
	stopEbb()
	procs, err2 := instancesOf(filepath.Join(opt.Dir, "ebb.db"), "workers")
	err3 := stopInstances(opt.Executable, procs, syscall.SIGUSR1)

	st := q.Stats()
	sum.Seconds = time.Since(start).Seconds()
	sum.JobsSubmitted, sum.JobsCompleted, sum.JobsPending = st.Submitted, st.Completed, st.Queued
	sum.JobsLost = st.InFlight // taken by a worker that is gone, never done
	sum.WaitP50MS, sum.WaitP99MS = st.WaitP50MS, st.WaitP99MS
	sum.PeakInstances, sum.MinInstancesAfterPeak = v.peak, v.minAfterPeak
	sum.FixedFleetInstanceSeconds = float64(sum.FixedFleet) * sum.Seconds
	end := time.Now()
	for _, in := range procs {
		sum.Launched++
		until := end
		if in.State.Ended() {
			until = in.StateSince
		}
		sum.InstanceSeconds += until.Sub(in.LaunchedAt).Seconds()
		if in.Reason == "exited after draining" || in.Reason == "drained" {
			sum.Drained++
		}
	}
	return sum, errors.Join(ignoreCancel(err), err2, err3)
}

// startDemoEbb writes the demo's config and starts ebb on it with a fresh
// token. ebb runs on a context of its own: it must outlive a cancelled
// demo long enough for the instances to drain. stop stops it.
func startDemoEbb(opt Options, cfg string) (api *client.Client, addr string, stop func(), err error) {
	path := filepath.Join(opt.Dir, "ebb.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		return nil, "", nil, fmt.Errorf("write demo config: %w", err)
	}
	token := randomToken()
	ctx, cancel := context.WithCancel(context.Background())
	addr, stopEbb, err := opt.Start(ctx, path, token)
	if err != nil {
		cancel()
		return nil, "", nil, fmt.Errorf("start ebb: %w", err)
	}
	// The token is the demo's own, made for this run, on loopback: shown so
	// the dashboard's actions (scale, suspend, drain) can be tried.
	fmt.Fprintf(opt.Out, "dashboard: http://%s/ (actions ask for the token %s)\n", addr, token)
	return client.New("http://"+addr, token), addr, func() { stopEbb(); cancel() }, nil
}

// envYAML is a flow mapping of an instance's extra environment, for the
// demos' configs.
func envYAML(env map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(env)) {
		fmt.Fprintf(&b, "\n          %s: %q", k, env[k])
	}
	if b.Len() == 0 {
		return " {}"
	}
	return b.String()
}

func ignoreCancel(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func randomToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// instancesOf reads every instance ebb recorded of group, once ebb has
// stopped.
func instancesOf(path, group string) ([]model.Instance, error) {
	st, err := store.Open(path, store.Options{})
	if err != nil {
		return nil, err
	}
	defer st.Close()
	var out []model.Instance
	err = st.View(func(tx *store.Tx) error {
		var err error
		out, err = tx.Instances(group)
		return err
	})
	return out, err
}

// stopInstances asks every running instance to finish (a worker's
// SIGUSR1: the job in hand; a web instance's SIGTERM: the requests in
// hand) and waits for it; what is still there after a minute is
// terminated (SIGTERM, then SIGKILL).
func stopInstances(exe string, insts []model.Instance, sig syscall.Signal) error {
	p, err := local.New(local.Config{Command: []string{exe}, Grace: 5 * time.Second})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var live []model.Instance
	for _, in := range insts {
		if in.Process == nil || in.State.Ended() {
			continue
		}
		if err := p.Signal(ctx, in, sig); err == nil {
			live = append(live, in)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for len(live) > 0 && time.Now().Before(deadline) {
		clock.Real{}.Sleep(ctx, 50*time.Millisecond)
		live = slices.DeleteFunc(live, func(in model.Instance) bool {
			ok, _ := p.Alive(ctx, in)
			return !ok
		})
	}
	var errs []error
	for _, in := range live {
		errs = append(errs, p.Terminate(ctx, in))
	}
	return errors.Join(errs...)
}

package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/ebb-autoscaler/ebb/internal/demo/queue"
)

// Run works jobs from cfg.Queue until cfg.Drain is closed, then returns nil
// once the job in hand is done and reported. Cancelling ctx is a hard stop:
// Run returns ctx's cause at once, abandoning any job in hand. Run also
// returns early if cfg is invalid or its status server cannot serve.
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("check worker config: %w", err)
	}
	cfg = cfg.withDefaults()
	ln := cfg.Listener
	if ln == nil {
		var err error
		if ln, err = (&net.ListenConfig{}).Listen(ctx, "tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen for status on %s: %w", cfg.Listen, err)
		}
	}
	w := &worker{
		cfg:     cfg,
		log:     cfg.Logger.With("worker", cfg.ID),
		client:  &client{base: cfg.Queue, worker: cfg.ID, http: cfg.HTTPClient, timeout: cfg.RequestTimeout},
		backoff: newBackoff(cfg.BackoffMin, cfg.BackoffMax, cfg.Seed),
	}

	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	srv := &http.Server{Handler: w.status.handler(), ReadHeaderTimeout: cfg.RequestTimeout}
	served := make(chan struct{})
	go func() {
		defer close(served)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			stop(fmt.Errorf("serve status on %s: %w", ln.Addr(), err))
		}
	}()
	w.log.Info("worker started", "queue", cfg.Queue, "listen", ln.Addr().String(), "speed", cfg.Speed, "seed", cfg.Seed)

	err := w.loop(ctx)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.RequestTimeout)
	defer cancel()
	if errS := srv.Shutdown(sctx); errS != nil {
		w.log.Warn("stop status server", "err", errS)
		srv.Close()
	}
	<-served
	return err
}

type worker struct {
	cfg     Config
	log     *slog.Logger
	client  *client
	backoff *backoff
	status  status
}

// loop takes and works jobs until drained (nil) or hard-stopped (error).
func (w *worker) loop(ctx context.Context) error {
	// takeCtx ends on drain: it cuts a long poll short, never a job.
	takeCtx, stopTaking := context.WithCancel(ctx)
	defer stopTaking()
	go func() {
		select {
		case <-w.cfg.Drain:
			w.status.draining.Store(true)
			w.log.Info("draining")
			stopTaking()
		case <-takeCtx.Done():
		}
	}()

	for takeCtx.Err() == nil {
		job, err := w.client.take(takeCtx, w.cfg.Poll)
		if err != nil {
			if takeCtx.Err() != nil || w.retry(takeCtx, "take", err) != nil {
				break
			}
			continue
		}
		w.backoff.reset()
		if job != nil {
			if err := w.work(ctx, job); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		return fmt.Errorf("hard stop: %w", context.Cause(ctx))
	}
	w.releaseStray(ctx)
	w.log.Info("drained", "jobs_done", w.status.jobsDone.Load())
	return nil
}

// work does one job and reports it done, retrying the report until it
// lands; only a hard stop abandons the job.
func (w *worker) work(ctx context.Context, job *queue.Job) error {
	w.status.inFlight.Add(1)
	defer w.status.inFlight.Add(-1)
	d := w.cfg.serviceTime(job.ServiceMS)
	w.log.Debug("working", "job", job.ID, "service", d)
	if err := w.cfg.Clock.Sleep(ctx, d); err != nil {
		return fmt.Errorf("hard stop while working on job %s: %w", job.ID, context.Cause(ctx))
	}
	for {
		err := w.client.done(ctx, job.ID)
		switch {
		case err == nil:
			w.backoff.reset()
			w.status.jobsDone.Add(1)
			return nil
		case errors.Is(err, errLost):
			w.backoff.reset()
			w.log.Warn("job taken away before it was reported done", "job", job.ID, "err", err)
			return nil
		}
		if ctx.Err() != nil || w.retry(ctx, "done", err) != nil {
			return fmt.Errorf("hard stop while reporting job %s done: %w", job.ID, context.Cause(ctx))
		}
	}
}

// retry logs a failed call to the queue and waits out the next backoff; it
// returns ctx's error if ctx ends first.
func (w *worker) retry(ctx context.Context, call string, err error) error {
	d := w.backoff.next()
	w.log.Warn("queue call failed, retrying", "call", call, "err", err, "attempt", w.backoff.failures, "delay", d)
	return w.cfg.Clock.Sleep(ctx, d)
}

// releaseStray hands back any job the queue counts as ours though we never
// saw it: one whose take response was cut off by the drain. Best effort.
func (w *worker) releaseStray(ctx context.Context) {
	ids, err := w.client.release(ctx)
	if err != nil {
		w.log.Warn("release stray jobs after draining", "err", err)
		return
	}
	if len(ids) > 0 {
		w.log.Warn("released jobs the queue counted as ours", "jobs", ids)
	}
}

package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/demo/queue"
)

// SubmitTimeout bounds each call Run makes to submit: a stuck queue delays
// the schedule by at most this per job (later jobs then go out at once to
// catch up).
const SubmitTimeout = 5 * time.Second

// Report says what Run did.
type Report struct {
	Jobs      int // scheduled
	Submitted int // submit returned nil
	Failed    int // submit returned an error
	// MaxLag is the longest a job went out after its offset.
	MaxLag time.Duration
}

// Run submits every job of Schedule(p), one at a time, each once clk has
// run for its offset since Run started. It stops early only when ctx ends;
// jobs that fail to submit are counted and skipped. The error says why Run
// stopped early or how many jobs failed, nil if every job was submitted.
func Run(ctx context.Context, p Plan, submit func(context.Context, Job) error, clk clock.Clock) (Report, error) {
	if err := p.Validate(); err != nil {
		return Report{}, fmt.Errorf("check load plan: %w", err)
	}
	jobs := Schedule(p)
	r := Report{Jobs: len(jobs)}
	var firstErr error
	start := clk.Now()
	for i, j := range jobs {
		if wait := j.Offset - clk.Now().Sub(start); wait > 0 {
			if err := clk.Sleep(ctx, wait); err != nil {
				return r, fmt.Errorf("replay stopped after %d of %d jobs: %w", i, len(jobs), err)
			}
		}
		if ctx.Err() != nil {
			return r, fmt.Errorf("replay stopped after %d of %d jobs: %w", i, len(jobs), ctx.Err())
		}
		r.MaxLag = max(r.MaxLag, clk.Now().Sub(start)-j.Offset)
		sctx, cancel := context.WithTimeout(ctx, SubmitTimeout)
		err := submit(sctx, j)
		cancel()
		if err != nil {
			r.Failed++
			if firstErr == nil {
				firstErr = fmt.Errorf("submit job %d at %s: %w", i, j.Offset, err)
			}
			continue
		}
		r.Submitted++
	}
	if firstErr != nil {
		return r, fmt.Errorf("%d of %d jobs failed, the first: %w", r.Failed, r.Jobs, firstErr)
	}
	return r, nil
}

// Submitter returns a submit function for Run that posts jobs to the demo
// queue at base (e.g. http://127.0.0.1:7070) with c.
func Submitter(base string, c *http.Client) func(context.Context, Job) error {
	url := strings.TrimSuffix(base, "/") + "/v1/jobs"
	return func(ctx context.Context, j Job) error {
		ms := j.Service.Milliseconds()
		body, err := json.Marshal(queue.SubmitRequest{ServiceMS: &ms})
		if err != nil {
			return err
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, queue.MaxBodyBytes))
		if resp.StatusCode != http.StatusCreated {
			var e queue.ErrorResponse
			if json.Unmarshal(b, &e) != nil || e.Error == "" {
				e.Error = strings.TrimSpace(string(b))
			}
			return fmt.Errorf("queue answered %s: %s", resp.Status, e.Error)
		}
		return nil
	}
}

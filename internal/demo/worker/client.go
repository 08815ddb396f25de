package worker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ebb-autoscaler/ebb/internal/demo/queue"
)

// errLost means the queue no longer counts a job as ours (it was released,
// say): reporting it again cannot succeed.
var errLost = errors.New("job no longer held")

// client speaks the queue's HTTP API for one worker.
type client struct {
	base    string
	worker  string
	http    *http.Client
	timeout time.Duration // beyond a call's long poll
}

// take long-polls for a job; nil, nil means none came within wait.
func (c *client) take(ctx context.Context, wait time.Duration) (*queue.Job, error) {
	q := url.Values{"worker": {c.worker}, "wait": {wait.String()}}
	resp, err := c.post(ctx, wait, "/v1/take?"+q.Encode(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil, nil
	case http.StatusOK:
		var j queue.Job
		if err := json.NewDecoder(io.LimitReader(resp.Body, queue.MaxBodyBytes)).Decode(&j); err != nil {
			return nil, fmt.Errorf("decode taken job: %w", err)
		}
		return &j, nil
	}
	return nil, statusError("take", resp)
}

// done reports job id finished; errLost if the queue says it is not ours.
func (c *client) done(ctx context.Context, id string) error {
	body, _ := json.Marshal(queue.DoneRequest{ID: id, Worker: c.worker})
	resp, err := c.post(ctx, 0, "/v1/done", body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNoContent:
		return nil
	case http.StatusConflict:
		return fmt.Errorf("report %s done: %w: %w", id, errLost, statusError("done", resp))
	}
	return statusError("done", resp)
}

// release hands back whatever the queue thinks this worker holds.
func (c *client) release(ctx context.Context) ([]string, error) {
	resp, err := c.post(ctx, 0, "/v1/release?"+url.Values{"worker": {c.worker}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, statusError("release", resp)
	}
	var r queue.ReleaseResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, queue.MaxBodyBytes)).Decode(&r); err != nil {
		return nil, fmt.Errorf("decode release: %w", err)
	}
	return r.Released, nil
}

// post makes one call bounded by poll plus the client's timeout. The
// response body stays readable until the caller closes it.
func (c *client) post(ctx context.Context, poll time.Duration, path string, body []byte) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(ctx, poll+c.timeout)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.base, "/")+path, bytes.NewReader(body))
	if err != nil {
		cancel()
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		return nil, err
	}
	resp.Body = cancelOnClose{resp.Body, cancel}
	return resp, nil
}

type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// statusError describes an unexpected answer, with the queue's own message.
func statusError(call string, resp *http.Response) error {
	var e queue.ErrorResponse
	b, _ := io.ReadAll(io.LimitReader(resp.Body, queue.MaxBodyBytes))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	return fmt.Errorf("%s: queue answered %s: %s", call, resp.Status, e.Error)
}

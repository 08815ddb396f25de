package registry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
)

// Request is what Do sends to an instance of an app.
type Request struct {
	Method string // default GET
	// Path is joined to the instance's BaseURL: "/orders/42?full=1".
	Path   string
	Header http.Header
	// Body is sent to every instance tried, whole, so it is bytes.
	Body []byte
}

// idempotent methods may be sent again after a failure that may have
// come after the instance received them.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete, http.MethodTrace:
		return true
	}
	return false
}

// Do sends req to one of the app's UP instances, chosen as Next does, and
// on failure to the next ones, each instance at most once, so at most as
// many attempts as the app has UP instances. A failure is a 5xx answer, no
// connection (always tried elsewhere: the instance got nothing), or, for
// an idempotent method (GET, HEAD, OPTIONS, PUT, DELETE, TRACE), a
// connection that broke or an attempt that ran out of Options.Timeout. Any
// other answer is returned, 4xx included; the caller closes its Body, which
// must be read before the attempt's timeout ends. When every instance
// fails, Do returns the last failure (a 5xx as *HTTPError). It fails at
// once, with ErrNoInstance, when the cache has no UP instance of app.
func (c *Client) Do(ctx context.Context, app string, req Request) (*http.Response, error) {
	method := cmpMethod(req.Method)
	ins, err := c.cache.take(normalizeApp(app), math.MaxInt)
	if err != nil {
		return nil, fmt.Errorf("%s %s to %s: %w", method, req.Path, normalizeApp(app), err)
	}
	var last error
	for _, in := range ins {
		resp, err := c.attempt(ctx, in, method, req)
		if err == nil {
			return resp, nil
		}
		last = fmt.Errorf("%s %s to %s/%s: %w", method, req.Path, in.App, in.ID(), err)
		if ctx.Err() != nil || !retryable(method, err) {
			return nil, last
		}
		c.log.Debug("instance failed, trying another", "app", in.App, "instance", in.ID(), "err", err)
	}
	return nil, fmt.Errorf("all %d UP instances failed: %w", len(ins), last)
}

func cmpMethod(m string) string {
	if m == "" {
		return http.MethodGet
	}
	return strings.ToUpper(m)
}

// errNoPort: an UP instance registered no enabled port; trying another is
// safe, as nothing was sent.
var errNoPort = errors.New("no enabled port")

func retryable(method string, err error) bool {
	var h *HTTPError
	var op *net.OpError
	switch {
	case errors.As(err, &h), errors.Is(err, errNoPort):
		return true
	case errors.As(err, &op) && op.Op == "dial":
		return true // no connection: the instance got nothing
	}
	return idempotent(method)
}

func (c *Client) attempt(ctx context.Context, in Instance, method string, req Request) (*http.Response, error) {
	base := in.BaseURL()
	if base == "" {
		return nil, errNoPort
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hreq, err := http.NewRequestWithContext(ctx, method, base+req.Path, body)
	if err != nil {
		cancel()
		return nil, err
	}
	for k, vs := range req.Header {
		hreq.Header[k] = append([]string(nil), vs...)
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		cancel()
		return nil, unwrapURLError(err)
	}
	if resp.StatusCode >= 500 {
		defer cancel()
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return nil, httpError(hreq.URL.String(), resp.StatusCode, data)
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends an attempt's timeout when its answer's body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// Package httpget is the HTTP client the HTTP source kinds (scrape,
// http_json) share: one connection pool per source, TLS from config, and
// credentials (headers, basic auth, a bearer token) revealed at each request
// and never put in an error. It is a thin layer over net/http, which already
// pools connections and bounds each request by its context.
package httpget

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"syscall"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// MaxBody bounds what a source reads from any endpoint.
const MaxBody = 4 << 20

// Auth is what a request carries besides its URL.
type Auth struct {
	Headers map[string]config.Secret
	Basic   *config.BasicAuth
	Bearer  *config.Secret
	// Accept is the Accept header, e.g. the Prometheus text format.
	Accept string
}

// Client gets documents over HTTP for one source.
type Client struct {
	http *http.Client
	auth Auth
	keys []string // header names, sorted, so requests are built the same way each time
}

// New builds a client with its own connection pool and TLS settings.
func New(tlsConf *config.TLS, auth Auth) (*Client, error) {
	tc, err := tlsConf.Config()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 16
	return &Client{http: &http.Client{Transport: tr}, auth: auth, keys: slices.Sorted(maps.Keys(auth.Headers))}, nil
}

// Close drops the client's idle connections.
func (c *Client) Close() error {
	c.http.CloseIdleConnections()
	return nil
}

// Get fetches rawURL and returns its body, at most MaxBody bytes. A non-2xx
// answer is a *source.StatusError (5xx, 408 and 429 are transient). Errors
// name the URL without any password in it, and never a credential.
func (c *Client) Get(ctx context.Context, rawURL string) ([]byte, error) {
	shown := Redact(rawURL)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s: invalid request", shown)
	}
	if err := c.authorize(req); err != nil {
		return nil, fmt.Errorf("get %s: %w", shown, err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", shown, unwrapURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, MaxBody)) // keep the connection
		return nil, fmt.Errorf("get %s: %w", shown, &source.StatusError{Code: resp.StatusCode, Status: resp.Status})
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", shown, err)
	}
	if len(body) > MaxBody {
		return nil, fmt.Errorf("read %s: answer larger than %d bytes", shown, MaxBody)
	}
	return body, nil
}

// authorize sets the request's headers and credentials. A secret that
// cannot be read is named by its header or role, never by value.
func (c *Client) authorize(req *http.Request) error {
	if c.auth.Accept != "" {
		req.Header.Set("Accept", c.auth.Accept)
	}
	for _, k := range c.keys {
		s := c.auth.Headers[k]
		v, err := s.Reveal()
		if err != nil {
			return fmt.Errorf("header %s: %w", k, err)
		}
		req.Header.Set(k, v)
	}
	if b := c.auth.Basic; b != nil {
		pw, err := b.Password.Reveal()
		if err != nil {
			return fmt.Errorf("basic_auth.password: %w", err)
		}
		req.SetBasicAuth(b.Username, pw)
	}
	if c.auth.Bearer.IsSet() {
		tok, err := c.auth.Bearer.Reveal()
		if err != nil {
			return fmt.Errorf("bearer_token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// unwrapURL drops net/http's *url.Error wrapper, whose text repeats the
// method and URL the caller already names. The cause stays visible to
// source.Transient (a net error, a timeout); a connection the server closed
// mid-answer is marked retryable, since the wrapper that said so is gone.
func unwrapURL(err error) error {
	ue, ok := err.(*url.Error)
	if !ok {
		return err
	}
	if errors.Is(ue.Err, io.EOF) || errors.Is(ue.Err, io.ErrUnexpectedEOF) || errors.Is(ue.Err, syscall.ECONNRESET) {
		return source.Retryable(ue.Err)
	}
	return ue.Err
}

// Redact returns rawURL with any password replaced, for messages.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

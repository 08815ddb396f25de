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

	"golang.org/x/net/http/httpguts"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// MaxBody bounds what a source reads from any endpoint.
const MaxBody = 4 << 20

// Settings are the connection settings every HTTP source kind shares
// (scrape, http_json, prometheus): its Conn embeds them inline.
type Settings struct {
	Headers     map[string]config.Secret `yaml:"headers" doc:"Headers sent with every request, e.g. X-Trino-User: {value: ebb} or a tenant ID; each value from value, env or a file."`
	BasicAuth   *config.BasicAuth        `yaml:"basic_auth" doc:"HTTP basic auth sent with every request; the password from env or a file."`
	BearerToken *config.Secret           `yaml:"bearer_token" doc:"A token sent as Authorization: Bearer TOKEN with every request, from env or a file; not with basic_auth."`
	TLS         *config.TLS              `yaml:"tls" doc:"TLS for https URLs: the authorities to trust, a client certificate."`
}

// Validate checks the headers, credentials and TLS settings.
func (s *Settings) Validate() error {
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(s.Headers)) {
		hp := "headers." + k
		if !httpguts.ValidHeaderFieldName(k) {
			errs = append(errs, config.Problem("headers", "%q is not a valid header name", k))
			continue
		}
		if http.CanonicalHeaderKey(k) == "Authorization" && (s.BasicAuth != nil || s.BearerToken != nil) {
			errs = append(errs, config.Problem(hp, "set Authorization here or basic_auth/bearer_token, not both"))
		}
		v := s.Headers[k]
		errs = append(errs, config.Under(hp, v.Validate()))
	}
	if s.TLS != nil {
		errs = append(errs, config.Under("tls", s.TLS.Validate()))
	}
	if s.BasicAuth != nil {
		errs = append(errs, config.Under("basic_auth", s.BasicAuth.Validate()))
	}
	if s.BearerToken != nil {
		errs = append(errs, config.Under("bearer_token", s.BearerToken.Validate()))
	}
	if s.BasicAuth != nil && s.BearerToken != nil {
		errs = append(errs, config.Problem("bearer_token", "set basic_auth or bearer_token, not both"))
	}
	return errors.Join(errs...)
}

// Authorize sets a request's headers and credentials, revealing the
// secrets now (a rotated file is picked up). A secret that cannot be read
// is named by its header or role, never by value.
func (s *Settings) Authorize(req *http.Request) error {
	for _, k := range slices.Sorted(maps.Keys(s.Headers)) {
		h := s.Headers[k]
		v, err := h.Reveal()
		if err != nil {
			return fmt.Errorf("header %s: %w", k, err)
		}
		req.Header.Set(k, v)
	}
	if b := s.BasicAuth; b != nil {
		pw, err := b.Password.Reveal()
		if err != nil {
			return fmt.Errorf("basic_auth.password: %w", err)
		}
		req.SetBasicAuth(b.Username, pw)
	}
	if s.BearerToken.IsSet() {
		tok, err := s.BearerToken.Reveal()
		if err != nil {
			return fmt.Errorf("bearer_token: %w", err)
		}
		if tok == "" {
			return fmt.Errorf("bearer_token %s is empty", s.BearerToken)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// Transport is an HTTP transport of its own (one connection pool per
// source) with the settings' TLS.
func (s *Settings) Transport() (*http.Transport, error) {
	tc, err := s.TLS.Config()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.MaxIdleConnsPerHost = 16
	return tr, nil
}

// Client gets documents over HTTP for one source.
type Client struct {
	http   *http.Client
	set    *Settings
	accept string
}

// New builds a client with its own connection pool; accept is the Accept
// header its requests carry.
func New(s *Settings, accept string) (*Client, error) {
	tr, err := s.Transport()
	if err != nil {
		return nil, err
	}
	return &Client{http: &http.Client{Transport: tr}, set: s, accept: accept}, nil
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

// authorize sets the request's Accept header, headers and credentials.
func (c *Client) authorize(req *http.Request) error {
	if c.accept != "" {
		req.Header.Set("Accept", c.accept)
	}
	return c.set.Authorize(req)
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

// Package client is a Go client for ebb's HTTP API (ebb run). It is what the
// ebb command line uses; other programs may use it too.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client talks to one ebb.
type Client struct {
	// Base is the API's address, e.g. http://127.0.0.1:7070.
	Base string
	// Token is the bearer token for mutations.
	Token string
	HTTP  *http.Client
}

// New returns a client for base with a 30 s timeout per call.
func New(base, token string) *Client {
	return &Client{Base: strings.TrimRight(base, "/"), Token: token, HTTP: &http.Client{Timeout: 30 * time.Second}}
}

// Error is an error answer from the API.
type Error struct {
	Status  int
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("ebb api: %s (%d)", e.Message, e.Status) }

// do sends a request and decodes a JSON answer into out (if not nil).
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" && method != http.MethodGet {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: e.Error}
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if s, ok := out.(*string); ok {
		*s = string(data)
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

func groupPath(group string, rest ...string) string {
	p := "/v1/groups/" + url.PathEscape(group)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

// Groups lists every group (GET /v1/groups). The answer is decoded into
// out, so callers choose their own types; json.RawMessage works.
func (c *Client) Groups(ctx context.Context, out any) error {
	return c.do(ctx, http.MethodGet, "/v1/groups", nil, out)
}

// Group shows one group.
func (c *Client) Group(ctx context.Context, group string, out any) error {
	return c.do(ctx, http.MethodGet, groupPath(group), nil, out)
}

// Instances lists a group's instances; all includes terminated ones.
func (c *Client) Instances(ctx context.Context, group string, all bool, out any) error {
	return c.do(ctx, http.MethodGet, groupPath(group, "instances")+"?all="+strconv.FormatBool(all), nil, out)
}

// Activities returns a group's newest decisions and lifecycle actions.
func (c *Client) Activities(ctx context.Context, group string, limit int, out any) error {
	return c.do(ctx, http.MethodGet, groupPath(group, "activities")+"?limit="+strconv.Itoa(limit), nil, out)
}

// Explain returns the group's latest decision as JSON (out) or, with out a
// *string, as text.
func (c *Client) Explain(ctx context.Context, group string, out any) error {
	p := groupPath(group, "explain")
	if _, text := out.(*string); text {
		p += "?format=text"
	}
	return c.do(ctx, http.MethodGet, p, nil, out)
}

// Scale sets desired capacity and returns what it was set to (clamped to
// the group's bounds).
func (c *Client) Scale(ctx context.Context, group string, desired int) (int, error) {
	var out struct {
		Desired int `json:"desired"`
	}
	err := c.do(ctx, http.MethodPost, groupPath(group, "scale"), map[string]int{"desired": desired}, &out)
	return out.Desired, err
}

// Suspend suspends processes (launch, terminate, all) of a group.
func (c *Client) Suspend(ctx context.Context, group string, processes []string, out any) error {
	return c.do(ctx, http.MethodPost, groupPath(group, "suspend"), map[string][]string{"processes": processes}, out)
}

// Resume resumes processes of a group.
func (c *Client) Resume(ctx context.Context, group string, processes []string, out any) error {
	return c.do(ctx, http.MethodPost, groupPath(group, "resume"), map[string][]string{"processes": processes}, out)
}

// Drain drains one instance now; a replacement is launched.
func (c *Client) Drain(ctx context.Context, group, id string) error {
	return c.do(ctx, http.MethodPost, groupPath(group, "instances", url.PathEscape(id), "drain"), struct{}{}, nil)
}

// Push sends signal values for a group; t zero means now.
func (c *Client) Push(ctx context.Context, group string, t time.Time, values map[string]float64) error {
	body := map[string]any{"values": values}
	if !t.IsZero() {
		body["time"] = t
	}
	return c.do(ctx, http.MethodPost, groupPath(group, "signals"), body, nil)
}

// Raw GETs a path (such as /metrics) and returns the body as text.
func (c *Client) Raw(ctx context.Context, path string, out *string) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

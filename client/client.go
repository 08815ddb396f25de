// Package client is a Go client for ebb's HTTP API (ebb run). It is what the
// ebb command line uses; other programs may use it too.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
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

// Error is an error answer from the API: 4xx for a request refused (bad
// body, token, unknown group), 5xx for a failure inside ebb.
type Error struct {
	Status  int
	Message string
	// Refused lists every bad sample of a refused PushMany.
	Refused []RefusedSample
}

// RefusedSample is one sample of a PushMany the API refused, and why. A
// group refused whole (unknown, or with no values) has no Signal.
type RefusedSample struct {
	Group  string `json:"group"`
	Signal string `json:"signal,omitempty"`
	Reason string `json:"reason"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d %s)", e.Message, e.Status, http.StatusText(e.Status))
}

// UnreachableError is returned when no connection to the API could be made:
// nothing listens at Base, its name does not resolve, or the dial timed out.
type UnreachableError struct {
	// Base is the address tried.
	Base string
	// Err is the dial's error.
	Err error
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("cannot reach ebb at %s (%v)", e.Base, dialCause(e.Err))
}

func (e *UnreachableError) Unwrap() error { return e.Err }

// dialCause is the innermost useful part of a dial error: "connection
// refused" rather than "dial tcp 127.0.0.1:7070: connect: connection refused".
func dialCause(err error) error {
	var sys *os.SyscallError
	if errors.As(err, &sys) {
		return sys.Err
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return dns
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// transportError classifies an error of http.Client.Do: an UnreachableError
// when no connection was made, else the cause without url.Error's repeat
// of the method and URL.
func (c *Client) transportError(method, path string, err error) error {
	var op *net.OpError
	var dns *net.DNSError
	if (errors.As(err, &op) && op.Op == "dial") || errors.As(err, &dns) {
		return &UnreachableError{Base: c.Base, Err: err}
	}
	var u *url.Error
	if errors.As(err, &u) {
		err = u.Err
	}
	return fmt.Errorf("%s %s: %w", method, path, err)
}

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
		return c.transportError(method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error   string          `json:"error"`
			Refused []RefusedSample `json:"refused"`
		}
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &Error{Status: resp.StatusCode, Message: e.Error, Refused: e.Refused}
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

// Sources shows the health of the daemon's signal sources.
func (c *Client) Sources(ctx context.Context, out any) error {
	return c.do(ctx, http.MethodGet, "/v1/sources", nil, out)
}

// Leader says which ebb replica leads (GET /v1/leader): {"id", "addr",
// "epoch", "since", "self", "expired"}. A daemon on a state file always
// answers self.
func (c *Client) Leader(ctx context.Context, out any) error {
	return c.do(ctx, http.MethodGet, "/v1/leader", nil, out)
}

// Registry shows the service registry: apps, instances, leases and
// self-preservation (GET /v1/registry). Eureka clients use /eureka itself;
// see the client/registry package.
func (c *Client) Registry(ctx context.Context, out any) error {
	return c.do(ctx, http.MethodGet, "/v1/registry", nil, out)
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

// ScaleAnswer is the answer of Scale.
type ScaleAnswer struct {
	// Desired is the capacity set: Asked within the group's min and max.
	Desired int `json:"desired"`
	Asked   int `json:"asked"`
	// Message says why Desired is not Asked ("clamped to max 10").
	Message string `json:"message,omitempty"`
}

// Scale sets desired capacity; the answer, a ScaleAnswer, is decoded into
// out (json.RawMessage works). Policies go on deciding from the new value.
func (c *Client) Scale(ctx context.Context, group string, desired int, out any) error {
	return c.do(ctx, http.MethodPost, groupPath(group, "scale"), map[string]int{"desired": desired}, out)
}

// Suspend suspends processes (launch, terminate, all) of a group.
func (c *Client) Suspend(ctx context.Context, group string, processes []string, out any) error {
	return c.do(ctx, http.MethodPost, groupPath(group, "suspend"), map[string][]string{"processes": processes}, out)
}

// Resume resumes processes of a group.
func (c *Client) Resume(ctx context.Context, group string, processes []string, out any) error {
	return c.do(ctx, http.MethodPost, groupPath(group, "resume"), map[string][]string{"processes": processes}, out)
}

// Drain drains one instance now; a replacement is launched. The answer
// ({"draining": id}) is decoded into out, if not nil.
func (c *Client) Drain(ctx context.Context, group, id string, out any) error {
	return c.do(ctx, http.MethodPost, instancePath(group, id, "drain"), struct{}{}, out)
}

// TerminateRequest says how Terminate ends an instance.
type TerminateRequest struct {
	// Replace keeps desired capacity, so a replacement launches; without
	// it desired is lowered by one.
	Replace bool `json:"replace"`
	// Now ends a drain (a stuck one included) and stops the instance now.
	Now bool `json:"now"`
}

// Terminate drains an instance and stops it; the answer, the instance
// record, is decoded into out.
func (c *Client) Terminate(ctx context.Context, group, id string, req TerminateRequest, out any) error {
	return c.do(ctx, http.MethodPost, instancePath(group, id, "terminate"), req, out)
}

// Protect keeps an instance from being chosen for scale-in; the answer, the
// instance record, is decoded into out.
func (c *Client) Protect(ctx context.Context, group, id string, out any) error {
	return c.do(ctx, http.MethodPost, instancePath(group, id, "protect"), struct{}{}, out)
}

// Unprotect makes an instance a scale-in candidate again; the answer, the
// instance record, is decoded into out.
func (c *Client) Unprotect(ctx context.Context, group, id string, out any) error {
	return c.do(ctx, http.MethodPost, instancePath(group, id, "unprotect"), struct{}{}, out)
}

func instancePath(group, id, action string) string {
	return groupPath(group, "instances", url.PathEscape(id), action)
}

// Push sends signal values for a group; t zero means now.
func (c *Client) Push(ctx context.Context, group string, t time.Time, values map[string]float64) error {
	body := map[string]any{"values": values}
	if !t.IsZero() {
		body["time"] = t
	}
	return c.do(ctx, http.MethodPost, groupPath(group, "signals"), body, nil)
}

// PushManyRequest is the body of PushMany: many groups' signal values,
// group → signal → value, all taken at Time (zero means now).
type PushManyRequest struct {
	Time   time.Time                     `json:"time,omitzero"`
	Groups map[string]map[string]float64 `json:"groups"`
}

// PushManyAnswer is the answer of PushMany: what it kept.
type PushManyAnswer struct {
	Groups  int `json:"groups"`
	Samples int `json:"samples"`
}

// PushMany sends many groups' signal values in one request (POST
// /v1/signals), for exporters that feed thousands of groups. It is all or
// nothing: with any bad sample nothing is kept, and the *Error's Refused
// lists every bad one. The answer, a PushManyAnswer, is decoded into out
// (json.RawMessage works), if not nil.
func (c *Client) PushMany(ctx context.Context, req PushManyRequest, out any) error {
	return c.do(ctx, http.MethodPost, "/v1/signals", req, out)
}

// Raw GETs a path (such as /metrics) and returns the body as text.
func (c *Client) Raw(ctx context.Context, path string, out *string) error {
	return c.do(ctx, http.MethodGet, path, nil, out)
}

package rabbitmq

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/ebb-autoscaler/ebb/internal/source"
)

// maxBody bounds a queue listing: about 100 bytes a queue, so some 300,000
// queues.
const maxBody = 32 << 20

// counts lists what a read of value adds up from a queue; false for a
// value that is none of the four.
func counts(q *queue, value string) ([]*float64, bool) {
	switch value {
	case "ready":
		return []*float64{q.Ready}, true
	case "unacked":
		return []*float64{q.Unacked}, true
	case "messages":
		return []*float64{q.Ready, q.Unacked}, true
	case "consumers":
		return []*float64{q.Consumers}, true
	}
	return nil, false
}

// queue is one queue of GET /api/queues/{vhost}. A field is absent until the
// node has collected the queue's statistics once.
type queue struct {
	Name      string   `json:"name"`
	Ready     *float64 `json:"messages_ready"`
	Unacked   *float64 `json:"messages_unacknowledged"`
	Consumers *float64 `json:"consumers"`
}

// backend lists the vhost's queues once per call and answers every read
// from the listing.
type backend struct {
	conn   *Conn
	list   string // the listing's URL
	client *http.Client

	mu   sync.Mutex
	tmpl source.Templates
}

var _ source.Backend[Query] = (*backend)(nil)
var _ io.Closer = (*backend)(nil)

func open(c *Conn, deps source.Deps) (source.Backend[Query], error) {
	return openWith(c, nil)
}

// openWith is open with a hook around the HTTP transport (tests count the
// requests with it).
func openWith(c *Conn, wrap func(http.RoundTripper) http.RoundTripper) (*backend, error) {
	tlsc, err := c.TLS.Config()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tlsc
	var rt http.RoundTripper = tr
	if wrap != nil {
		rt = wrap(rt)
	}
	base := strings.TrimRight(c.URL, "/")
	return &backend{
		conn:   c,
		list:   base + "/api/queues/" + url.PathEscape(c.VHost) + "?columns=name,messages_ready,messages_unacknowledged,consumers",
		client: &http.Client{Transport: rt},
	}, nil
}

// Plan: one call per vhost (one per source) answers every queue; a read
// asks for a queue's value.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	name, err := b.queue(r)
	if err != nil {
		return "", "", err
	}
	return b.conn.VHost, r.Query.Value + "\x00" + name, nil
}

// Call lists the vhost's queues and picks each read's.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	byName, err := b.listQueues(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]source.Value, len(reads))
	for i, r := range reads {
		name, err := b.queue(r)
		if err != nil {
			out[i] = source.Value{Err: err}
			continue
		}
		q := byName[name]
		if q == nil {
			out[i] = source.NoValue("no queue %q in vhost %q", name, b.conn.VHost)
			continue
		}
		fs, ok := counts(q, r.Query.Value)
		if !ok {
			out[i] = source.Value{Err: fmt.Errorf("value %q is not ready, unacked, messages or consumers", r.Query.Value)}
			continue
		}
		var v float64
		for _, f := range fs {
			if f == nil {
				v = -1
				break
			}
			v += *f
		}
		if v < 0 {
			out[i] = source.NoValue("no statistics yet for queue %q", name)
			continue
		}
		out[i] = source.Value{V: v}
	}
	return out, nil
}

func (b *backend) listQueues(ctx context.Context) (map[string]*queue, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.list, nil)
	if err != nil {
		return nil, fmt.Errorf("list queues: %w", err)
	}
	user, password := "guest", "guest"
	if a := b.conn.BasicAuth; a != nil {
		user = a.Username
		if password, err = a.Password.Reveal(); err != nil {
			return nil, fmt.Errorf("basic_auth.password (%s): %w", a.Password, err)
		}
	}
	req.SetBasicAuth(user, password)
	req.Header.Set("Accept", "application/json")
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("list queues of vhost %q: %w", b.conn.VHost, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("list queues: vhost %q not found (%s)", b.conn.VHost, resp.Status)
	case resp.StatusCode == http.StatusUnauthorized:
		return nil, fmt.Errorf("list queues of vhost %q as %s: %w", b.conn.VHost, user, &source.StatusError{Code: resp.StatusCode, Status: resp.Status})
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return nil, fmt.Errorf("list queues of vhost %q: %w", b.conn.VHost, &source.StatusError{Code: resp.StatusCode, Status: resp.Status})
	}
	var qs []*queue
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&qs); err != nil {
		return nil, fmt.Errorf("decode the queues of vhost %q: %w", b.conn.VHost, err)
	}
	byName := make(map[string]*queue, len(qs))
	for _, q := range qs {
		if q != nil {
			byName[q.Name] = q
		}
	}
	return byName, nil
}

// Close closes idle connections to the API.
func (b *backend) Close() error {
	b.client.CloseIdleConnections()
	return nil
}

// queue renders r's queue template.
func (b *backend) queue(r source.Read[Query]) (string, error) {
	q, err := b.tmpl.Render(r.Query.Queue, r.Group, nil)
	if err != nil {
		return "", fmt.Errorf("queue: %w", err)
	}
	return q, nil
}

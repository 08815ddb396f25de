package nats

import (
	"errors"
	"net/url"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Conn is a NATS server or cluster with JetStream: the value under
// sources.NAME.nats.
type Conn struct {
	URL          string         `yaml:"url" doc:"The server's URL, nats://host:port; several, comma-separated, for a cluster. Required."`
	User         string         `yaml:"user" doc:"The user, with password."`
	Password     *config.Secret `yaml:"password" doc:"The user's password, from env or a file."`
	Token        *config.Secret `yaml:"token" doc:"An authentication token, from env or a file; instead of user and password."`
	CredsFile    string         `yaml:"creds_file" doc:"A credentials file (user JWT and NKey seed); instead of user and token."`
	TLS          *config.TLS    `yaml:"tls" doc:"Connect with TLS."`
	config.Calls `yaml:",inline"`
}

// Validate reports every problem of the connection config.
func (c *Conn) Validate() error {
	var errs []error
	if c.URL == "" {
		errs = append(errs, config.Problem("url", "required"))
	}
	for u := range strings.SplitSeq(c.URL, ",") {
		if c.URL != "" {
			errs = append(errs, checkURL(strings.TrimSpace(u)))
		}
	}
	if (c.User != "") != c.Password.IsSet() {
		errs = append(errs, config.Problem("user", "user and password go together"))
	}
	errs = append(errs, secret("password", c.Password), secret("token", c.Token))
	if c.Token.IsSet() && c.User != "" {
		errs = append(errs, config.Problem("token", "a token is instead of user and password"))
	}
	if c.CredsFile != "" && (c.User != "" || c.Token.IsSet()) {
		errs = append(errs, config.Problem("creds_file", "a credentials file is instead of user and token"))
	}
	if c.TLS != nil {
		errs = append(errs, config.Under("tls", c.TLS.Validate()))
	}
	errs = append(errs, c.Calls.Validate())
	return errors.Join(errs...)
}

func checkURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return config.Problem("url", "must be nats://host:port, not %q", s)
	}
	switch u.Scheme {
	case "nats", "tls", "ws", "wss":
	default:
		return config.Problem("url", "scheme must be nats, tls, ws or wss, not %q", u.Scheme)
	}
	return nil
}

// secret checks a credential: from env or a file, never inline.
func secret(key string, s *config.Secret) error {
	if s == nil {
		return nil
	}
	if err := s.Validate(); err != nil {
		return config.Under(key, err)
	}
	if s.Value != "" {
		return config.Problem(key+".value", "a %s comes from env or file, not inline", key)
	}
	return nil
}

// What a signal reads of a consumer's state.
const (
	Pending    = "pending"     // messages not yet delivered to the consumer
	AckPending = "ack_pending" // delivered and not yet acknowledged
	Waiting    = "waiting"     // pull requests waiting for messages
	Backlog    = "backlog"     // pending + ack_pending
)

// Query is what one signal reads: the value under
// groups[].signals.NAME.nats. Stream and consumer may be templates of the
// group: "orders-{{.Group}}".
type Query struct {
	Stream   string `yaml:"stream" doc:"The JetStream stream. Required."`
	Consumer string `yaml:"consumer" doc:"The durable consumer's name. Required."`
	Value    string `yaml:"value" default:"pending" enum:"pending,ack_pending,waiting,backlog" doc:"What of the consumer: messages not yet delivered (pending), delivered and not acknowledged (ack_pending), pull requests waiting (waiting), or pending plus ack_pending (backlog)."`
}

// Validate reports every problem of the signal's config.
func (q *Query) Validate() error {
	var errs []error
	errs = append(errs, checkName("stream", q.Stream), checkName("consumer", q.Consumer))
	switch q.Value {
	case Pending, AckPending, Waiting, Backlog:
	default:
		errs = append(errs, config.Problem("value", "must be pending, ack_pending, waiting or backlog, not %q", q.Value))
	}
	return errors.Join(errs...)
}

func checkName(key, text string) error {
	switch {
	case text == "":
		return config.Problem(key, "required")
	case strings.Contains(text, "{{"):
		if err := source.GroupTemplate(key, text); err != nil {
			return config.Problem(key, "%v", err)
		}
	default:
		if err := validName(text); err != nil {
			return config.Problem(key, "%v", err)
		}
	}
	return nil
}

// validName checks a stream's or consumer's name as JetStream wants it:
// not a subject's wildcard or separator, no whitespace or path separator.
func validName(name string) error {
	if i := strings.IndexAny(name, ".*> \t\r\n/\\"); i >= 0 {
		return errors.New("a stream or consumer name has no '.', '*', '>', whitespace, '/' or '\\'")
	}
	return nil
}

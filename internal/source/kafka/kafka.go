package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Conn is the kafka source's connection config: the cluster to ask.
type Conn struct {
	config.Calls `yaml:",inline"`
	Brokers      []string    `yaml:"brokers" doc:"Bootstrap brokers, host:port. Required."`
	TLS          *config.TLS `yaml:"tls" doc:"TLS to the brokers; plaintext when absent."`
	SASL         *SASL       `yaml:"sasl" doc:"SASL authentication; none when absent."`
}

// SASL is a SASL user.
type SASL struct {
	Mechanism string         `yaml:"mechanism" default:"plain" enum:"plain,scram-sha-256,scram-sha-512" doc:"The SASL mechanism."`
	Username  string         `yaml:"username" doc:"The user. Required."`
	Password  *config.Secret `yaml:"password" doc:"The password, from env or a file. Required."`
}

// Validate checks the brokers, TLS and SASL.
func (c *Conn) Validate() error {
	errs := []error{c.Calls.Validate()}
	if len(c.Brokers) == 0 {
		errs = append(errs, config.Problem("brokers", "required: at least one host:port"))
	}
	for i, b := range c.Brokers {
		if c := strings.LastIndexByte(b, ':'); c <= 0 || c == len(b)-1 {
			errs = append(errs, config.Problem(fmt.Sprintf("brokers[%d]", i), "%q is not host:port", b))
		}
	}
	if c.TLS != nil {
		errs = append(errs, config.Under("tls", c.TLS.Validate()))
	}
	if c.SASL != nil {
		errs = append(errs, config.Under("sasl", c.SASL.Validate()))
	}
	return errors.Join(errs...)
}

// Validate checks the mechanism and that the user and password are given.
func (s *SASL) Validate() error {
	var errs []error
	switch s.Mechanism {
	case "plain", "scram-sha-256", "scram-sha-512":
	default:
		errs = append(errs, config.Problem("mechanism", "must be plain, scram-sha-256 or scram-sha-512, not %q", s.Mechanism))
	}
	if s.Username == "" {
		errs = append(errs, config.Problem("username", "required"))
	}
	if s.Password == nil {
		errs = append(errs, config.Problem("password", "required"))
	} else {
		errs = append(errs, config.Under("password", s.Password.Validate()))
	}
	return errors.Join(errs...)
}

// Query is one consumer group's lag.
type Query struct {
	Group string `yaml:"group" doc:"The consumer group, a template over {{.Group}}. Required."`
	Topic string `yaml:"topic" doc:"Only this topic's partitions; every topic the group commits to when empty."`
	Value string `yaml:"value" default:"total" enum:"total,max_partition" doc:"total: the lag summed over partitions; max_partition: the largest lag of one partition."`
}

// Validate checks the template and the value.
func (q *Query) Validate() error {
	var errs []error
	if q.Group == "" {
		errs = append(errs, config.Problem("group", "required: the consumer group"))
	} else if _, err := config.ParseTemplate("group", q.Group); err != nil {
		errs = append(errs, config.Problem("group", "%v", err))
	}
	switch q.Value {
	case "total", "max_partition":
	default:
		errs = append(errs, config.Problem("value", "must be total or max_partition, not %q", q.Value))
	}
	return errors.Join(errs...)
}

// Kind is the kafka source kind.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("kafka",
		"Reads consumer groups' lag (end offsets minus committed offsets) from a Kafka cluster.",
		source.Named, open)
}

type backend struct {
	client *kgo.Client
	admin  *kadm.Client
	cache  source.Templates
}

var _ source.Backend[Query] = (*backend)(nil)

func open(c *Conn, _ source.Deps) (source.Backend[Query], error) { return newBackend(c) }

// newBackend makes the client; it connects at the first call. extra is for
// tests (hooks that count requests).
func newBackend(c *Conn, extra ...kgo.Opt) (*backend, error) {
	opts := []kgo.Opt{kgo.SeedBrokers(c.Brokers...)}
	if c.TLS != nil {
		tc, err := c.TLS.Config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL != nil {
		opts = append(opts, kgo.SASL(mechanism(c.SASL)))
	}
	client, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("kafka client: %w", err)
	}
	return &backend{client: client, admin: kadm.NewClient(client)}, nil
}

// mechanism reveals the password at each authentication, never before.
func mechanism(s *SASL) sasl.Mechanism {
	password := func() (string, error) {
		p, err := s.Password.Reveal()
		if err != nil {
			return "", fmt.Errorf("sasl password: %w", err)
		}
		return p, nil
	}
	switch s.Mechanism {
	case "scram-sha-256", "scram-sha-512":
		auth := func(context.Context) (scram.Auth, error) {
			p, err := password()
			return scram.Auth{User: s.Username, Pass: p}, err
		}
		if s.Mechanism == "scram-sha-512" {
			return scram.Sha512(auth)
		}
		return scram.Sha256(auth)
	}
	return plain.Plain(func(context.Context) (plain.Auth, error) {
		p, err := password()
		return plain.Auth{User: s.Username, Pass: p}, err
	})
}

// Close closes the client's connections.
func (b *backend) Close() error {
	b.client.Close()
	return nil
}

// Plan puts every read of the source in one call: kadm's Lag asks all the
// groups' commits and the end offsets of their topics in a few requests per
// broker, however many groups there are.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	g, err := b.cache.Render(r.Query.Group, r.Group, nil)
	if err != nil {
		return "", "", err
	}
	return "", g + "\x00" + r.Query.Topic + "\x00" + r.Query.Value, nil
}

// Call asks the lag of every distinct group of reads at once.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	groups := make([]string, len(reads))
	for i, r := range reads {
		g, err := b.cache.Render(r.Query.Group, r.Group, nil)
		if err != nil {
			return nil, err
		}
		groups[i] = g
	}
	distinct := slices.Compact(slices.Sorted(slices.Values(groups)))
	lags, err := b.admin.Lag(ctx, distinct...)
	if err != nil {
		return nil, classify(fmt.Errorf("lag of consumer groups (%d): %w", len(distinct), err))
	}
	vals := make([]source.Value, len(reads))
	for i, r := range reads {
		vals[i] = value(lags, groups[i], r.Query)
	}
	return vals, nil
}

// value is one read's number from the groups' lags.
func value(lags kadm.DescribedGroupLags, group string, q *Query) source.Value {
	l, ok := lags[group]
	if !ok {
		return source.NoValue("consumer group %s", group)
	}
	if err := l.Error(); errors.Is(err, kerr.GroupIDNotFound) {
		return source.NoValue("commits of consumer group %s", group)
	} else if err != nil {
		return source.Value{Err: fmt.Errorf("consumer group %s: %w", group, err)}
	}
	var total, most int64
	var n int
	var firstErr error
	for _, ps := range l.Lag {
		for _, p := range ps {
			if q.Topic != "" && p.Topic != q.Topic {
				continue
			}
			if p.Err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("consumer group %s, %s/%d: %w", group, p.Topic, p.Partition, p.Err)
				}
				continue
			}
			n++
			lag := max(0, p.Lag)
			total += lag
			most = max(most, lag)
		}
	}
	switch {
	case n == 0 && firstErr != nil:
		return source.Value{Err: firstErr}
	case n == 0 && q.Topic != "":
		return source.NoValue("commits of consumer group %s on topic %s", group, q.Topic)
	case n == 0:
		return source.NoValue("commits of consumer group %s", group)
	case q.Value == "max_partition":
		return source.Value{V: float64(most)}
	}
	return source.Value{V: float64(total)}
}

// classify marks the errors a later attempt may not see: all but a refused
// authentication or authorisation, which only a config change mends.
func classify(err error) error {
	var auth *kadm.AuthError
	if errors.As(err, &auth) || errors.Is(err, kerr.SaslAuthenticationFailed) ||
		errors.Is(err, kerr.ClusterAuthorizationFailed) || errors.Is(err, kerr.GroupAuthorizationFailed) ||
		errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, context.Canceled) {
		return err
	}
	return source.Retryable(err)
}

package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Kind is the nats source kind, for the composition root to register.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("nats",
		"The backlog of a NATS JetStream consumer: messages not yet delivered, not yet acknowledged, or pull requests waiting; one consumer info request per consumer a tick.",
		source.Named, open)
}

var _ source.Backend[Query] = (*backend)(nil)

// backend asks JetStream for consumers' info over one connection, opened
// at the first call; nats.go reconnects it when the server goes away.
type backend struct {
	conn  *Conn
	deps  source.Deps
	names source.Templates

	mu sync.Mutex
	nc *nats.Conn
	js jetstream.JetStream
}

func open(c *Conn, deps source.Deps) (source.Backend[Query], error) {
	return &backend{conn: c, deps: deps}, nil
}

// Close closes the connection.
func (b *backend) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nc != nil {
		b.nc.Close()
		b.nc, b.js = nil, nil
	}
	return nil
}

// consumer is a read's stream and consumer, rendered for its group.
func (b *backend) consumer(r source.Read[Query]) (stream, consumer string, err error) {
	if stream, err = b.names.Render(r.Query.Stream, r.Group, nil); err != nil {
		return "", "", err
	}
	if consumer, err = b.names.Render(r.Query.Consumer, r.Group, nil); err != nil {
		return "", "", err
	}
	if err := validName(stream); err != nil {
		return "", "", fmt.Errorf("stream %q: %w", stream, err)
	}
	if err := validName(consumer); err != nil {
		return "", "", fmt.Errorf("consumer %q: %w", consumer, err)
	}
	return stream, consumer, nil
}

// Plan makes one call per consumer: every signal and group reading it
// shares one consumer info request.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	stream, consumer, err := b.consumer(r)
	if err != nil {
		return "", "", err
	}
	return stream + "\x00" + consumer, r.Query.Value, nil
}

// Call asks JetStream for one consumer's info and reads each value of it.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	stream, consumer, err := b.consumer(reads[0]) // all reads name the same consumer
	if err != nil {
		return nil, err
	}
	js, err := b.connect(ctx)
	if err != nil {
		return nil, err
	}
	info, err := consumerInfo(ctx, js, stream, consumer)
	out := make([]source.Value, len(reads))
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		for i := range out {
			out[i] = source.NoValue("no stream %s", stream)
		}
		return out, nil
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		for i := range out {
			out[i] = source.NoValue("no consumer %s on stream %s", consumer, stream)
		}
		return out, nil
	case err != nil:
		return nil, fmt.Errorf("consumer info %s/%s: %w", stream, consumer, b.callError(err))
	}
	for i, r := range reads {
		v, err := value(info, r.Query.Value)
		out[i] = source.Value{V: v, At: info.TimeStamp, Err: err}
	}
	return out, nil
}

// consumerInfo fetches a consumer's info in one request: a pull consumer's
// (the usual kind for a work queue); a push consumer's takes a second.
func consumerInfo(ctx context.Context, js jetstream.JetStream, stream, consumer string) (*jetstream.ConsumerInfo, error) {
	c, err := js.Consumer(ctx, stream, consumer)
	if errors.Is(err, jetstream.ErrNotPullConsumer) {
		pc, err := js.PushConsumer(ctx, stream, consumer)
		if err != nil {
			return nil, err
		}
		return pc.CachedInfo(), nil
	}
	if err != nil {
		return nil, err
	}
	return c.CachedInfo(), nil
}

func value(info *jetstream.ConsumerInfo, what string) (float64, error) {
	switch what {
	case Pending:
		return float64(info.NumPending), nil
	case AckPending:
		return float64(info.NumAckPending), nil
	case Waiting:
		return float64(info.NumWaiting), nil
	case Backlog:
		return float64(info.NumPending) + float64(info.NumAckPending), nil
	}
	return 0, fmt.Errorf("nats signal value %q is none of pending, ack_pending, waiting and backlog", what)
}

// callError marks the failures a later attempt may not meet: no answer in
// time, a connection being re-established, JetStream not answering (yet),
// or saying it is unavailable (a 5xx API error).
func (b *backend) callError(err error) error {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return source.Retryable(fmt.Errorf("%w (is JetStream enabled on %s?)", err, b.conn.URL))
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return source.Retryable(fmt.Errorf("no answer in time: %w", err))
	case errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrNoServers):
		return source.Retryable(err)
	case errors.As(err, &api) && api.Code >= 500:
		return source.Retryable(err)
	}
	return err
}

// connect returns the source's JetStream context, connecting first when
// there is no connection or nats.go gave it up. nats.Connect takes no
// context: its own timeout (the attempt's) bounds it, and a call that
// waited for another's attempt gives up if its time is gone.
func (b *backend) connect(ctx context.Context) (jetstream.JetStream, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.nc != nil && !b.nc.IsClosed() {
		return b.js, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, source.Retryable(fmt.Errorf("connect to %s: %w", b.conn.URL, err))
	}
	opts, err := b.options()
	if err != nil {
		return nil, err
	}
	nc, err := nats.Connect(b.conn.URL, opts...)
	if err != nil {
		err = fmt.Errorf("connect to %s: %w", b.conn.URL, err)
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) || errors.Is(err, nats.ErrAuthRevoked) {
			return nil, err
		}
		return nil, source.Retryable(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream on %s: %w", b.conn.URL, err)
	}
	b.nc, b.js = nc, js
	return js, nil
}

// options are the connection's: its name, limits, credentials (revealed
// now, at connection time) and TLS.
func (b *backend) options() ([]nats.Option, error) {
	c := b.conn
	opts := []nats.Option{
		nats.Name("ebb source " + b.deps.Name),
		// One attempt's time for the dial and the handshake.
		nats.Timeout(c.Timeout.D()),
		// The connection is kept for the source's life: nats.go
		// reconnects it for ever, and calls meanwhile time out.
		nats.MaxReconnects(-1),
	}
	if b.deps.Log != nil {
		log := b.deps.Log.With("source", b.deps.Name)
		opts = append(opts,
			nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
				if err != nil {
					log.Warn("nats disconnected", "err", err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "url", nc.ConnectedUrlRedacted()) }),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { log.Warn("nats error", "err", err) }))
	}
	if c.Password.IsSet() {
		p, err := c.Password.Reveal()
		if err != nil {
			return nil, fmt.Errorf("nats password (%s): %w", c.Password, err)
		}
		opts = append(opts, nats.UserInfo(c.User, p))
	}
	if c.Token.IsSet() {
		t, err := c.Token.Reveal()
		if err != nil {
			return nil, fmt.Errorf("nats token (%s): %w", c.Token, err)
		}
		opts = append(opts, nats.Token(t))
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.TLS != nil {
		tc, err := c.TLS.Config()
		if err != nil {
			return nil, fmt.Errorf("nats %s: %w", c.URL, err)
		}
		opts = append(opts, nats.Secure(tc))
	}
	return opts, nil
}

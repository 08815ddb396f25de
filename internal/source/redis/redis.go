package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	goredis "github.com/redis/go-redis/v9"

	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Kind is the redis source kind, for the composition root to register.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("redis",
		"Lengths of Redis lists, streams and sorted sets, and the pending entries and lag of stream consumer groups, all of a tick in one pipeline.",
		source.Named, open)
}

var _ source.Backend[Query] = (*backend)(nil)

// backend answers a tick's reads with one pipeline.
type backend struct {
	addr   string
	client *goredis.Client
	names  source.Templates
}

func open(c *Conn, deps source.Deps) (source.Backend[Query], error) {
	// go-redis logs dial failures to stderr through a logger of its own,
	// global to the process; the source reports them in its health and
	// ebb's log instead.
	quiet.Do(func() { goredis.SetLogger(silent{}) })
	return openWith(c, nil)
}

var quiet sync.Once

// silent is a go-redis logger that drops what it is given.
type silent struct{}

func (silent) Printf(context.Context, string, ...any) {}

// dialer opens a connection to the server; nil is go-redis's own. Tests
// count what goes through it.
type dialer func(ctx context.Context, network, addr string) (net.Conn, error)

func openWith(c *Conn, dial dialer) (*backend, error) {
	tlsConf, err := c.TLS.Config()
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", c.Addr, err)
	}
	t := c.Timeout.D()
	opts := &goredis.Options{
		Addr: c.Addr, DB: c.DB, TLSConfig: tlsConf, Dialer: dial,
		DialTimeout: t, ReadTimeout: t, WriteTimeout: t, ContextTimeoutEnabled: true,
		// The source retries with backoff and counts the attempts; the
		// client must not retry inside one.
		MaxRetries: -1, DialerRetries: 1,
		DisableIdentity: true,
		// Every call is a pipeline: one pool serves them.
		PipelinePoolSize: -1,
	}
	if c.Password.IsSet() {
		user, secret := c.Username, c.Password
		// Revealed for each new connection, so a rotated file is read.
		opts.CredentialsProviderContext = func(context.Context) (string, string, error) {
			p, err := secret.Reveal()
			if err != nil {
				return "", "", credentialError{fmt.Errorf("password (%s): %w", secret, err)}
			}
			return user, p, nil
		}
	}
	return &backend{addr: c.Addr, client: goredis.NewClient(opts)}, nil
}

// Close closes the client's connections.
func (b *backend) Close() error { return b.client.Close() }

// op is what a read asks Redis.
type op int

const (
	opLLen op = iota
	opXLen
	opZCard
	opPending
	opLag
)

var opNames = [...]string{opLLen: "llen", opXLen: "xlen", opZCard: "zcard", opPending: "xpending", opLag: "lag"}

// command is a read with its names rendered for its group.
type command struct {
	op         op
	key, group string
}

func (c command) String() string { return opNames[c.op] + "\x00" + c.key + "\x00" + c.group }

func (b *backend) command(r source.Read[Query]) (command, error) {
	q := r.Query
	render := func(o op, key, group string) (command, error) {
		k, err := b.names.Render(key, r.Group, nil)
		if err != nil {
			return command{}, err
		}
		g := ""
		if group != "" {
			if g, err = b.names.Render(group, r.Group, nil); err != nil {
				return command{}, err
			}
		}
		return command{op: o, key: k, group: g}, nil
	}
	switch {
	case q.List != "":
		return render(opLLen, q.List, "")
	case q.Stream != "":
		return render(opXLen, q.Stream, "")
	case q.SortedSet != "":
		return render(opZCard, q.SortedSet, "")
	case q.Pending != nil:
		return render(opPending, q.Pending.Stream, q.Pending.Group)
	case q.Lag != nil:
		return render(opLag, q.Lag.Stream, q.Lag.Group)
	}
	return command{}, errors.New("redis signal sets none of list, stream, sorted_set, pending and lag")
}

// Plan puts every read of a tick in one call, one pipeline; a key is asked
// once however many signals and groups read it.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	c, err := b.command(r)
	if err != nil {
		return "", "", err
	}
	return "", c.String(), nil
}

// pipeline is one tick's commands, each sent once.
type pipeline struct {
	pipe    goredis.Pipeliner
	counts  map[string]*goredis.IntCmd      // "llen\x00key" → LLEN key
	pending map[string]*goredis.XPendingCmd // stream\x00group → XPENDING
	groups  map[string]*goredis.Cmd         // stream → XINFO GROUPS
}

func (p *pipeline) count(o op, key string) *goredis.IntCmd {
	id := opNames[o] + "\x00" + key
	if c, ok := p.counts[id]; ok {
		return c
	}
	var c *goredis.IntCmd
	ctx := context.Background() // the pipeline's Exec carries the real one
	switch o {
	case opLLen:
		c = p.pipe.LLen(ctx, key)
	case opXLen:
		c = p.pipe.XLen(ctx, key)
	default:
		c = p.pipe.ZCard(ctx, key)
	}
	p.counts[id] = c
	return c
}

// Call sends every read's command in one pipeline and reads each answer.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	p := &pipeline{pipe: b.client.Pipeline(), counts: map[string]*goredis.IntCmd{},
		pending: map[string]*goredis.XPendingCmd{}, groups: map[string]*goredis.Cmd{}}
	cmds := make([]command, len(reads))
	for i, r := range reads {
		c, err := b.command(r)
		if err != nil {
			return nil, err // Plan rendered it a moment ago
		}
		cmds[i] = c
		switch c.op {
		case opLLen, opXLen, opZCard:
			p.count(c.op, c.key)
		case opPending:
			id := c.key + "\x00" + c.group
			if p.pending[id] == nil {
				p.pending[id] = p.pipe.XPending(ctx, c.key, c.group)
			}
		case opLag:
			if p.groups[c.key] == nil {
				p.groups[c.key] = p.pipe.Do(ctx, "xinfo", "groups", c.key)
			}
			p.count(opXLen, c.key) // for when Redis does not know the lag
		}
	}
	if sent, err := p.pipe.Exec(ctx); err != nil {
		if err := b.whole(sent, err); err != nil {
			return nil, err
		}
	}
	out := make([]source.Value, len(reads))
	for i, c := range cmds {
		out[i] = p.value(c)
	}
	return out, nil
}

// whole returns the error that fails the whole pipeline: the connection's
// (refused, timed out, reset), a wrong password, a bad db, or a server that
// is not serving (LOADING, BUSY); nil when only some commands failed
// (WRONGTYPE, NOGROUP), which fail their reads alone. err is Exec's: when
// the connection's setup failed, no command carries it.
func (b *backend) whole(sent []goredis.Cmder, err error) error {
	carried := false
	for _, c := range sent {
		if e := c.Err(); e != nil {
			carried = true
			if e := b.classify(e); e != nil {
				return e
			}
		}
	}
	if e := b.classify(err); e != nil || carried {
		return e
	}
	return fmt.Errorf("redis %s: %w", b.addr, err)
}

// classify returns the error that fails the whole call for one command's
// error, or nil when it fails that command alone.
func (b *backend) classify(err error) error {
	var rerr goredis.Error
	var cred credentialError
	var nerr net.Error
	switch {
	case errors.As(err, &cred), errors.Is(err, goredis.ErrClosed):
		return fmt.Errorf("redis %s: %w", b.addr, err)
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &nerr) && nerr.Timeout():
		return source.Retryable(fmt.Errorf("redis %s: no answer in time: %w", b.addr, err))
	case !errors.As(err, &rerr):
		return source.Retryable(fmt.Errorf("redis %s: %w", b.addr, err))
	case authError(err):
		return fmt.Errorf("redis %s: authenticate: %w", b.addr, rerr)
	case unavailable(err):
		return source.Retryable(fmt.Errorf("redis %s: %w", b.addr, rerr))
	}
	return nil
}

// authError reports whether a reply refuses the connection's credentials.
func authError(err error) bool {
	for _, p := range []string{"WRONGPASS", "NOAUTH", "AUTH", "invalid password", "invalid username-password"} {
		if goredis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// unavailable reports whether a reply says the server cannot serve now but
// may soon: loading its data, running a long script, failing over.
func unavailable(err error) bool {
	for _, p := range []string{"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "CLUSTERDOWN", "max number of clients"} {
		if goredis.HasErrorPrefix(err, p) {
			return true
		}
	}
	return false
}

// value reads c's answer from the executed pipeline.
func (p *pipeline) value(c command) source.Value {
	switch c.op {
	case opLLen, opXLen, opZCard:
		n, err := p.counts[opNames[c.op]+"\x00"+c.key].Result()
		if err != nil {
			return source.Value{Err: fmt.Errorf("%s %s: %w", opNames[c.op], c.key, err)}
		}
		return source.Value{V: float64(n)}
	case opPending:
		x, err := p.pending[c.key+"\x00"+c.group].Result()
		switch {
		case goredis.HasErrorPrefix(err, "NOGROUP"):
			return source.NoValue("no stream %s or no consumer group %s on it", c.key, c.group)
		case err != nil:
			return source.Value{Err: fmt.Errorf("xpending %s %s: %w", c.key, c.group, err)}
		}
		return source.Value{V: float64(x.Count)}
	}
	return p.lag(c)
}

// lag is the entries of c.key not yet delivered to group c.group: the lag
// XINFO GROUPS reports (Redis 7.0 and later); when Redis cannot tell
// (entries deleted after the group's last delivered one), the stream's
// length less the entries the group has read, a lower bound.
func (p *pipeline) lag(c command) source.Value {
	reply, err := p.groups[c.key].Result()
	switch {
	case goredis.HasErrorPrefix(err, "no such key"):
		return source.NoValue("no stream %s", c.key)
	case err != nil:
		return source.Value{Err: fmt.Errorf("xinfo groups %s: %w", c.key, err)}
	}
	groups, err := parseGroups(reply)
	if err != nil {
		return source.Value{Err: fmt.Errorf("xinfo groups %s: %w", c.key, err)}
	}
	g, ok := groups[c.group]
	switch {
	case !ok:
		return source.NoValue("no consumer group %s on stream %s", c.group, c.key)
	case g.lag != nil:
		return source.Value{V: float64(*g.lag)}
	case g.entriesRead == nil:
		return source.NoValue("redis does not know the lag of consumer group %s on stream %s (a server before 7.0, or a group created at an arbitrary ID)", c.group, c.key)
	}
	n, err := p.counts[opNames[opXLen]+"\x00"+c.key].Result()
	if err != nil {
		return source.Value{Err: fmt.Errorf("xlen %s: %w", c.key, err)}
	}
	return source.Value{V: float64(max(0, n-*g.entriesRead))}
}

// groupInfo is what ebb reads of a consumer group in XINFO GROUPS; nil
// where Redis answers nil or leaves the field out.
type groupInfo struct {
	lag, entriesRead *int64
}

// parseGroups reads an XINFO GROUPS reply: an array of maps (RESP3) or of
// flat field-value arrays (RESP2). go-redis's typed reply turns a nil
// entries-read into 0, which the lag fallback must not take for a count.
func parseGroups(reply any) (map[string]groupInfo, error) {
	list, ok := reply.([]any)
	if !ok {
		return nil, fmt.Errorf("reply is %T, not an array", reply)
	}
	out := make(map[string]groupInfo, len(list))
	for _, item := range list {
		fields := map[string]any{}
		switch g := item.(type) {
		case map[any]any:
			for k, v := range g {
				if s, ok := k.(string); ok {
					fields[s] = v
				}
			}
		case []any:
			for i := 0; i+1 < len(g); i += 2 {
				if s, ok := g[i].(string); ok {
					fields[s] = g[i+1]
				}
			}
		default:
			return nil, fmt.Errorf("group entry is %T, not a map", item)
		}
		name, ok := fields["name"].(string)
		if !ok {
			return nil, errors.New("group entry has no name")
		}
		out[name] = groupInfo{lag: intField(fields["lag"]), entriesRead: intField(fields["entries-read"])}
	}
	return out, nil
}

func intField(v any) *int64 {
	if n, ok := v.(int64); ok {
		return &n
	}
	return nil
}

// credentialError is a password that could not be read: a setting to fix,
// not a condition a retry mends.
type credentialError struct{ err error }

func (e credentialError) Error() string { return e.err.Error() }
func (e credentialError) Unwrap() error { return e.err }

package redis

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Conn is a Redis server: the value under sources.NAME.redis.
type Conn struct {
	Addr         string         `yaml:"addr" doc:"The server's host:port. Required."`
	Username     string         `yaml:"username" doc:"The ACL user, with password; the default user when empty."`
	Password     *config.Secret `yaml:"password" doc:"The password (requirepass or the ACL user's), from env or a file."`
	DB           int            `yaml:"db" default:"0" doc:"The database number."`
	TLS          *config.TLS    `yaml:"tls" doc:"Connect with TLS."`
	config.Calls `yaml:",inline"`
}

// Validate reports every problem of the connection config.
func (c *Conn) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, config.Problem("addr", "required"))
	} else if err := checkAddr(c.Addr); err != nil {
		errs = append(errs, err)
	}
	if c.Username != "" && !c.Password.IsSet() {
		errs = append(errs, config.Problem("username", "a user needs a password"))
	}
	if c.Password != nil {
		errs = append(errs, config.Under("password", c.Password.Validate()))
		if c.Password.Value != "" {
			errs = append(errs, config.Problem("password.value", "a password comes from env or file, not inline"))
		}
	}
	if c.DB < 0 {
		errs = append(errs, config.Problem("db", "must be >= 0, not %d", c.DB))
	}
	if c.TLS != nil {
		errs = append(errs, config.Under("tls", c.TLS.Validate()))
	}
	errs = append(errs, c.Calls.Validate())
	return errors.Join(errs...)
}

func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return config.Problem("addr", "must be host:port, not %q", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return config.Problem("addr", "port must be 1 to 65535, not %q", port)
	}
	if host == "" {
		return config.Problem("addr", "must name a host: %q", addr)
	}
	return nil
}

// Query is what one signal reads: the value under
// groups[].signals.NAME.redis. Exactly one of its keys is set. Keys and
// names may be templates of the group: "jobs:{{.Group}}".
type Query struct {
	List      string         `yaml:"list" doc:"A list whose length (LLEN) is the value; a missing list is 0."`
	Stream    string         `yaml:"stream" doc:"A stream whose length (XLEN) is the value; a missing stream is 0."`
	SortedSet string         `yaml:"sorted_set" doc:"A sorted set whose size (ZCARD) is the value; a missing set is 0."`
	Pending   *ConsumerGroup `yaml:"pending" doc:"A consumer group whose entries delivered and not yet acknowledged (XPENDING) are the value."`
	Lag       *ConsumerGroup `yaml:"lag" doc:"A consumer group whose entries not yet delivered (the lag of XINFO GROUPS) are the value."`
}

// ConsumerGroup names a stream's consumer group.
type ConsumerGroup struct {
	Stream string `yaml:"stream" doc:"The stream's key. Required."`
	Group  string `yaml:"group" doc:"The consumer group. Required."`
}

// Validate reports every problem of the signal's config.
func (q *Query) Validate() error {
	var errs []error
	set := 0
	name := func(key, what, text string) {
		if text == "" {
			return
		}
		set++
		if err := source.GroupTemplate(what, text); err != nil {
			errs = append(errs, config.Problem(key, "%v", err))
		}
	}
	name("list", "list", q.List)
	name("stream", "stream", q.Stream)
	name("sorted_set", "sorted set", q.SortedSet)
	group := func(key string, g *ConsumerGroup) {
		if g == nil {
			return
		}
		set++
		errs = append(errs, config.Under(key, g.validate()))
	}
	group("pending", q.Pending)
	group("lag", q.Lag)
	if set != 1 {
		// The whole query's problem: a plain error, which the decoder
		// places at the query itself.
		errs = append(errs, fmt.Errorf("exactly one of list, stream, sorted_set, pending and lag, not %d", set))
	}
	return errors.Join(errs...)
}

func (g *ConsumerGroup) validate() error {
	return errors.Join(requiredName("stream", "stream", g.Stream), requiredName("group", "consumer group", g.Group))
}

func requiredName(key, what, text string) error {
	if text == "" {
		return config.Problem(key, "required")
	}
	if err := source.GroupTemplate(what, text); err != nil {
		return config.Problem(key, "%v", err)
	}
	return nil
}

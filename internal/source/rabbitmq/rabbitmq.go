package rabbitmq

import (
	"errors"
	"net/url"
	"strings"

	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Conn is a rabbitmq source's connection config: the value under
// sources.NAME.rabbitmq.
type Conn struct {
	URL          string            `yaml:"url" doc:"The management API's base URL, such as http://127.0.0.1:15672 (the rabbitmq_management plugin). Required."`
	BasicAuth    *config.BasicAuth `yaml:"basic_auth" doc:"The management user (the monitoring tag is enough); guest/guest when absent, which RabbitMQ accepts only from loopback."`
	VHost        string            `yaml:"vhost" default:"/" doc:"The virtual host whose queues are read."`
	TLS          *config.TLS       `yaml:"tls" doc:"TLS settings for an https url."`
	config.Calls `yaml:",inline"`
}

// Validate reports every problem with the connection config.
func (c *Conn) Validate() error {
	errs := []error{c.Calls.Validate()}
	switch u, err := url.Parse(c.URL); {
	case c.URL == "":
		errs = append(errs, config.Problem("url", "required"))
	case err != nil:
		errs = append(errs, config.Problem("url", "does not parse: %v", err))
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		errs = append(errs, config.Problem("url", "must be http://host:port or https://host:port, not %q", c.URL))
	case u.User != nil:
		errs = append(errs, config.Problem("url", "holds a user: put it under basic_auth, with the password from env or a file"))
	case u.RawQuery != "" || u.Fragment != "":
		errs = append(errs, config.Problem("url", "must be the API's base URL, without a query"))
	}
	if c.VHost == "" {
		errs = append(errs, config.Problem("vhost", "required (the default one is /)"))
	}
	if c.BasicAuth != nil {
		errs = append(errs, config.Under("basic_auth", c.BasicAuth.Validate()))
	}
	if c.TLS != nil {
		errs = append(errs, config.Under("tls", c.TLS.Validate()))
	}
	return errors.Join(errs...)
}

// Query is a rabbitmq signal's config: the value under
// groups[].signals.NAME.rabbitmq.
type Query struct {
	Queue string `yaml:"queue" doc:"The queue, a template of {{.Group}}. Required."`
	Value string `yaml:"value" default:"ready" enum:"ready,unacked,messages,consumers" doc:"What is read: ready (messages waiting), unacked (delivered, not acknowledged), messages (both), consumers."`
}

// Validate reports every problem with the signal config.
func (q *Query) Validate() error {
	var errs []error
	if strings.TrimSpace(q.Queue) == "" {
		errs = append(errs, config.Problem("queue", "required"))
	} else if err := source.GroupTemplate("queue", q.Queue); err != nil {
		errs = append(errs, config.Problem("queue", "%v", err))
	}
	if _, ok := counts(&queue{}, q.Value); !ok {
		errs = append(errs, config.Problem("value", "must be ready, unacked, messages or consumers, not %q", q.Value))
	}
	return errors.Join(errs...)
}

// Kind is the rabbitmq source kind.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("rabbitmq",
		"A queue's depth or consumers from RabbitMQ's management API: one call per tick answers every queue of the vhost.",
		source.Named, open)
}

package sqs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/ebb-autoscaler/ebb/internal/awsconn"
	"github.com/ebb-autoscaler/ebb/internal/config"
	"github.com/ebb-autoscaler/ebb/internal/source"
)

// Conn is the sqs source's connection config.
type Conn struct {
	config.Calls `yaml:",inline"`
	awsconn.AWS  `yaml:",inline"`
}

// Validate checks the limits, region, endpoint and keys.
func (c *Conn) Validate() error { return errors.Join(c.Calls.Validate(), c.AWS.Validate()) }

// Query is one queue's depth.
type Query struct {
	Queue string   `yaml:"queue" doc:"The queue's URL or name, a template over {{.Group}}. Required."`
	Count []string `yaml:"count" default:"[visible]" doc:"The messages counted, summed: visible (waiting), not_visible (received, not yet deleted), delayed (not yet deliverable)."`
}

// attributes maps the count names to the queue attributes holding them.
var attributes = map[string]types.QueueAttributeName{
	"visible":     types.QueueAttributeNameApproximateNumberOfMessages,
	"not_visible": types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
	"delayed":     types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
}

// Validate checks the template and the counts.
func (q *Query) Validate() error {
	var errs []error
	if q.Queue == "" {
		errs = append(errs, config.Problem("queue", "required: the queue's URL or name"))
	} else if _, err := config.ParseTemplate("queue", q.Queue); err != nil {
		errs = append(errs, config.Problem("queue", "%v", err))
	}
	if len(q.Count) == 0 {
		errs = append(errs, config.Problem("count", "required: one or more of visible, not_visible, delayed"))
	}
	for i, c := range q.Count {
		if _, ok := attributes[c]; !ok {
			errs = append(errs, config.Problem(fmt.Sprintf("count[%d]", i), "must be visible, not_visible or delayed, not %q", c))
		} else if slices.Index(q.Count, c) != i {
			errs = append(errs, config.Problem(fmt.Sprintf("count[%d]", i), "%s is counted twice", c))
		}
	}
	return errors.Join(errs...)
}

// Kind is the sqs source kind.
func Kind() source.Kind {
	return source.NewKind[Conn, Query]("sqs",
		"Reads how many messages an Amazon SQS queue holds: visible, in flight, delayed.",
		source.Named, open)
}

type backend struct {
	client *sqs.Client
	cache  source.Templates

	mu   sync.Mutex
	urls map[string]string // queue name → URL, asked once
}

var _ source.Backend[Query] = (*backend)(nil)

func open(c *Conn, _ source.Deps) (source.Backend[Query], error) {
	cfg, err := c.AWS.Config(context.Background())
	if err != nil {
		return nil, err
	}
	client := sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = c.EndpointURL() })
	return &backend{client: client, urls: map[string]string{}}, nil
}

// Plan keys the call by queue: every group reading a queue shares one
// GetQueueAttributes a tick, asking the attributes all of them need.
func (b *backend) Plan(r source.Read[Query]) (string, string, error) {
	q, err := b.cache.Render(r.Query.Queue, r.Group, nil)
	if err != nil {
		return "", "", err
	}
	return q, strings.Join(r.Query.Count, ","), nil
}

// Call asks one queue's attributes for all reads of it.
func (b *backend) Call(ctx context.Context, reads []source.Read[Query]) ([]source.Value, error) {
	queue, err := b.cache.Render(reads[0].Query.Queue, reads[0].Group, nil)
	if err != nil {
		return nil, err
	}
	url, err := b.url(ctx, queue)
	if errors.Is(err, errNoQueue) {
		return noValues(len(reads), "queue %s", queue), nil
	}
	if err != nil {
		return nil, err
	}
	var names []types.QueueAttributeName
	for _, r := range reads {
		for _, c := range r.Query.Count {
			if a, ok := attributes[c]; ok && !slices.Contains(names, a) {
				names = append(names, a)
			}
		}
	}
	out, err := b.client.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: names})
	if missing(err) {
		b.forget(queue)
		return noValues(len(reads), "queue %s", queue), nil
	}
	if err != nil {
		return nil, classify(fmt.Errorf("get attributes of queue %s: %w", queue, err))
	}
	vals := make([]source.Value, len(reads))
	for i, r := range reads {
		vals[i] = sum(queue, out.Attributes, r.Query.Count)
	}
	return vals, nil
}

func sum(queue string, attrs map[string]string, counts []string) source.Value {
	var total float64
	for _, c := range counts {
		name := string(attributes[c])
		s, ok := attrs[name]
		if !ok {
			return source.NoValue("%s of queue %s", name, queue)
		}
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return source.Value{Err: fmt.Errorf("%s of queue %s is %q, not a number", name, queue, s)}
		}
		total += n
	}
	return source.Value{V: total}
}

var errNoQueue = errors.New("no such queue")

// url returns a queue's URL: a URL as it is, a name looked up once.
func (b *backend) url(ctx context.Context, queue string) (string, error) {
	if strings.HasPrefix(queue, "https://") || strings.HasPrefix(queue, "http://") {
		return queue, nil
	}
	b.mu.Lock()
	u, ok := b.urls[queue]
	b.mu.Unlock()
	if ok {
		return u, nil
	}
	out, err := b.client.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(queue)})
	if missing(err) {
		return "", errNoQueue
	}
	if err != nil {
		return "", classify(fmt.Errorf("get the URL of queue %s: %w", queue, err))
	}
	u = aws.ToString(out.QueueUrl)
	b.mu.Lock()
	b.urls[queue] = u
	b.mu.Unlock()
	return u, nil
}

// forget drops a queue's URL: the queue was deleted, and one made again
// under its name may have another URL.
func (b *backend) forget(queue string) {
	b.mu.Lock()
	delete(b.urls, queue)
	b.mu.Unlock()
}

// missing reports whether err says the queue does not exist.
func missing(err error) bool {
	if err == nil {
		return false
	}
	var nq *types.QueueDoesNotExist
	var api smithy.APIError
	return errors.As(err, &nq) ||
		(errors.As(err, &api) && (api.ErrorCode() == "AWS.SimpleQueueService.NonExistentQueue" || api.ErrorCode() == "QueueDoesNotExist"))
}

func noValues(n int, format string, args ...any) []source.Value {
	vals := make([]source.Value, n)
	for i := range vals {
		vals[i] = source.NoValue(format, args...)
	}
	return vals
}

// classify marks err retryable when the SDK's rules say a retry may cure it.
func classify(err error) error {
	if awsconn.Transient(err) {
		return source.Retryable(err)
	}
	return err
}

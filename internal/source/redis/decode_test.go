package redis

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ebb-autoscaler/ebb/internal/source"
)

// The example of doc.go and docs/fragments/redis.md, through the config
// decoder: the kind's types decode strictly, take their defaults and
// validate with positions.
func TestDecode(t *testing.T) {
	kinds := source.Registry([]source.Kind{Kind()})
	f, err := kinds.Parse("ebb.yaml", []byte(`sources:
  queues:
    redis:
      addr: redis.internal:6379
      password: {env: REDIS_PASSWORD}
      timeout: 2s
groups:
  - name: workers
    capacity: {max: 10}
    signals:
      backlog: {source: queues, redis: {list: "jobs:{{.Group}}"}}
      delayed: {source: queues, redis: {sorted_set: "delayed:{{.Group}}"}}
      unacked: {source: queues, redis: {pending: {stream: events, group: "{{.Group}}"}}}
      lag:     {source: queues, redis: {lag: {stream: events, group: "{{.Group}}"}}}
    policies: [{queue: {signal: backlog, per_instance: 10}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := f.Sources["queues"].Config.(*Conn)
	if !ok {
		t.Fatalf("sources.queues = %#v", f.Sources["queues"])
	}
	if c.Addr != "redis.internal:6379" || c.DB != 0 || c.Timeout.D().String() != "2s" || c.Tries != 3 || c.Concurrency != 4 || c.Password.String() != "env:REDIS_PASSWORD" {
		t.Errorf("conn = %+v", c)
	}
	lag, _ := f.Groups[0].Signals["lag"].Read.Config.(*Query)
	if diff := cmp.Diff(&Query{Lag: &ConsumerGroup{Stream: "events", Group: "{{.Group}}"}}, lag); diff != "" {
		t.Errorf("lag (-want +got):\n%s", diff)
	}

	_, err = kinds.Parse("ebb.yaml", []byte(`sources:
  q: {redis: {addr: nohost, password: {value: hunter2}, db: -1}}
groups:
  - name: w
    capacity: {max: 1}
    signals:
      a: {source: q, redis: {list: x, stream: y}}
      b: {source: q, redis: {lag: {stream: "{{.Nope}}"}}}
    policies: [{queue: {signal: a, per_instance: 1}}]
`))
	for _, want := range []string{
		`ebb.yaml:2:`, `sources.q.redis.addr: must be host:port, not "nohost"`,
		`sources.q.redis.password.value: a password comes from env or file, not inline`,
		`sources.q.redis.db: must be >= 0, not -1`,
		`ebb.yaml:7:22: groups[0].signals.a.redis: exactly one of list, stream, sorted_set, pending and lag, not 2`,
		`groups[0].signals.b.redis.lag.group: required`,
		`groups[0].signals.b.redis.lag.stream: invalid template`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Errorf("an error shows the password:\n%v", err)
	}
	if _, err := kinds.Schema(); err != nil {
		t.Errorf("schema: %v", err)
	}
	if ref := kinds.Reference(); !strings.Contains(ref, "`groups[].signals.NAME.redis.pending.stream`") {
		t.Errorf("reference lacks the pending stream:\n%s", ref)
	}
}

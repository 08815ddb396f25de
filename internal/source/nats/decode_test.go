package nats

import (
	"strings"
	"testing"

	"github.com/ebb-autoscaler/ebb/internal/source"
)

// The example of doc.go and docs/fragments/nats.md, through the config
// decoder: the kind's types decode strictly, take their defaults and
// validate with positions.
func TestDecode(t *testing.T) {
	kinds := source.Registry([]source.Kind{Kind()})
	f, err := kinds.Parse("ebb.yaml", []byte(`sources:
  bus:
    nats:
      url: nats://nats.internal:4222
      user: ebb
      password: {file: /run/secrets/nats-password}
groups:
  - name: orders
    capacity: {max: 10}
    signals:
      backlog: {source: bus, nats: {stream: ORDERS, consumer: "{{.Group}}-workers", value: backlog}}
      pending: {source: bus, nats: {stream: ORDERS, consumer: "{{.Group}}-workers"}}
    policies: [{queue: {signal: backlog, per_instance: 10}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	c, ok := f.Sources["bus"].Config.(*Conn)
	if !ok || c.URL != "nats://nats.internal:4222" || c.User != "ebb" || c.Timeout.D().String() != "5s" || c.Tries != 3 {
		t.Fatalf("sources.bus = %#v", f.Sources["bus"])
	}
	if q, _ := f.Groups[0].Signals["pending"].Read.Config.(*Query); q == nil || q.Value != Pending {
		t.Errorf("pending = %+v, want value pending by default", q)
	}

	_, err = kinds.Parse("ebb.yaml", []byte(`sources:
  bus: {nats: {url: "http://x:1", token: {value: abc}}}
groups:
  - name: w
    capacity: {max: 1}
    signals:
      a: {source: bus, nats: {stream: "A.B", value: lag}}
    policies: [{queue: {signal: a, per_instance: 1}}]
`))
	for _, want := range []string{
		`sources.bus.nats.url: scheme must be nats, tls, ws or wss, not "http"`,
		`sources.bus.nats.token.value: a token comes from env or file, not inline`,
		`groups[0].signals.a.nats.consumer: required`,
		`groups[0].signals.a.nats.stream: a stream or consumer name has no '.'`,
		`groups[0].signals.a.nats.value`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if _, err := kinds.Schema(); err != nil {
		t.Errorf("schema: %v", err)
	}
}

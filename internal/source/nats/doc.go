// Package nats is the nats source kind: the state of a NATS JetStream
// durable consumer, as its consumer info tells it: the messages not yet
// delivered to it (pending), those delivered and not yet acknowledged
// (ack_pending), the pull requests waiting for messages (waiting), or
// pending plus ack_pending (backlog).
//
// A tick costs one consumer info request per consumer: Plan makes the
// stream and consumer the call, so every signal and group reading one
// consumer shares one request, and the source runs the requests for
// different consumers side by side, at most its concurrency at once. A
// push consumer costs a second request (the jetstream package asks for a
// pull consumer first).
//
// The source keeps one connection, opened at its first call and closed by
// Close; nats.go reconnects it when the server goes away, and calls made
// meanwhile time out and are retried. A stream or consumer that does not
// exist has no value, and says so; no answer in time, a connection being
// re-established or JetStream not answering are transient; bad
// credentials are not.
//
// Example:
//
//	sources:
//	  bus:
//	    nats:
//	      url: nats://nats.internal:4222
//	      user: ebb
//	      password: {file: /run/secrets/nats-password}
//	groups:
//	  - name: orders
//	    capacity: {max: 20}
//	    policies:
//	      - queue: {signal: backlog, per_instance: 50}
//	    signals:
//	      backlog:
//	        source: bus
//	        nats:
//	          stream: ORDERS
//	          consumer: "{{.Group}}-workers"
//	          value: backlog
//
// Credentials (password, token) are read when the connection is opened.
package nats

// Package redis is the redis source kind: the length of a list (LLEN), a
// stream (XLEN) or a sorted set (ZCARD), the entries a stream consumer
// group has been delivered and not acknowledged (XPENDING), or the entries
// it has not been delivered yet (the lag of XINFO GROUPS).
//
// A tick costs one round trip: Plan puts every read of the source in one
// call, and Call sends each distinct command once in one pipeline, so
// 1,000 groups reading "jobs:{{.Group}}" are 1,000 LLENs in one write. A
// command's own failure (WRONGTYPE, a missing consumer group) fails its
// reads alone; the connection's (refused, timed out, a wrong password) or
// a server that cannot serve yet (LOADING, BUSY) fails the call, and the
// transient ones are retried by the source.
//
// Redis's meaning of a missing key holds: a list, stream or sorted set
// that does not exist has length 0. A consumer group that does not exist
// has no value, and says so. When Redis cannot tell a group's lag (entries
// deleted after the group's last delivered one), the value is the stream's
// length less the entries the group has read, a lower bound; when it does
// not know the entries read either (a group created at an arbitrary ID, a
// server before 7.0), there is no value.
//
// Example:
//
//	sources:
//	  queues:
//	    redis:
//	      addr: redis.internal:6379
//	      password: {env: REDIS_PASSWORD}
//	      timeout: 2s
//	groups:
//	  - name: workers
//	    capacity: {max: 20}
//	    policies:
//	      - queue: {signal: backlog, per_instance: 20}
//	    signals:
//	      backlog:
//	        source: queues
//	        redis:
//	          list: "jobs:{{.Group}}"
//	      unacked:
//	        source: queues
//	        redis:
//	          pending: {stream: events, group: "{{.Group}}"}
//	      lag:
//	        source: queues
//	        redis:
//	          lag: {stream: events, group: "{{.Group}}"}
//
// The client is go-redis; it keeps its connections for the source's life
// and Close closes them. It does not retry within an attempt: the source's
// tries are the only retries.
package redis

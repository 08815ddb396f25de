// Package httpjson is the http_json source kind: it reads numbers from a
// JSON document over HTTP, a coordinator's cluster stats
// (Trino /ui/api/stats, Presto /v1/cluster), a worker's status
// (/v1/status memoryInfo.pool.reservedBytes), or Flink's aggregated subtask
// metrics.
//
// A tick costs one GET per distinct rendered URL: every group and signal
// reading the same document is answered from one answer (the call key is
// the URL, the ask the rendered path), so 1,000 groups reading
// groups.{{.Group}}.backlog from one endpoint cost one GET. With
// per_instance, the URL is rendered per instance ({{.Addr}}), one GET per
// instance for all its signals.
//
// Paths (see Path) are keys joined by dots, list indexes, and
// [field=value] selectors that pick a list's element by a member, for
// answers that are lists of objects such as Flink's
// [{"id": "Source__kafka.pendingRecords", "sum": 1200}]. A path the answer
// does not hold (or null) is no value; a value that is not a number, true,
// false or a numeric string is an error for that read. The answer's
// failures (timeouts, refused connections, 5xx, 429) fail every read of the
// call and are retried within the source's tries; other statuses and
// answers that are not JSON are not.
//
// Headers, basic auth and bearer tokens are secrets revealed at each
// request and never shown in an error:
//
//	sources:
//	  trino:
//	    http_json:
//	      headers: {X-Trino-User: {value: ebb}}
//	groups:
//	  - name: workers
//	    signals:
//	      queued: {source: trino, http_json: {url: "http://coordinator:8080/ui/api/stats", path: queuedQueries}}
//	      reserved: {http_json: {url: "http://{{.Addr}}/v1/status", path: memoryInfo.pool.reservedBytes, per_instance: true}, aggregate: avg}
//	  - name: clickstream
//	    signals:
//	      backlog:
//	        http_json:
//	          url: "http://jobmanager:8081/jobs/JOB/vertices/VERTEX/subtasks/metrics?get=Source__kafka.pendingRecords&agg=sum"
//	          path: "[id=Source__kafka.pendingRecords].sum"
package httpjson

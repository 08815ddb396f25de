// Package prometheus is the prometheus source kind: a signal's value is
// the result of a PromQL instant query, read over Prometheus's HTTP API
// (so also from Thanos, Mimir, Cortex or VictoriaMetrics) with
// client_golang's API client.
//
// Batch-first: a signal with a label asks one query for every group. The
// query, written once without templates, aggregates by that label, and
// each group takes the series whose label has its value ({{.Group}} by
// default, or a template of it). 50,000 groups sharing a query cost one
// HTTP request per tick. Without a label, the query may use {{.Group}}
// and must return one series or a scalar; each distinct rendered query is
// one request.
//
//	sources:
//	  prom:
//	    prometheus:
//	      url: http://prometheus:9090
//	      bearer_token: {env: PROM_TOKEN}
//	      timeout: 5s
//	groups:
//	  - name: workers-eu
//	    signals:
//	      queue:
//	        source: prom
//	        prometheus:
//	          query: sum by (job) (jobs_waiting)
//	          label: job
//	          value: "{{.Group}}"   # the default: the series with job="workers-eu"
//	      p99:
//	        source: prom
//	        prometheus:
//	          query: histogram_quantile(0.99, sum by (le) (rate(latency_bucket{job="{{.Group}}"}[5m])))
//
// Queries are evaluated at the server's time, bounded on the server by
// the source's timeout; a value's time is the sample's. Prometheus
// answering 429 or 5xx, timing out, or not answering, is retried by the
// source; bad PromQL is not, and the read fails with Prometheus's
// message. A group with no series in the result has no value; a group
// with several series (the query does not aggregate by the label), or a
// NaN or infinite value, has an error.
//
// Range reads the same queries over a time range, for the simulator.
package prometheus

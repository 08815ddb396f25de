// Package scrape is the scrape source kind: it reads a metric from each
// instance's Prometheus text endpoint (/metrics), summing the samples that
// carry the signal's labels, and the group's value is the signal's
// aggregate over its instances.
//
// A tick costs one GET per instance: every signal scraped from the same
// rendered URL is answered from one document (the call key is the URL, the
// ask the metric and its sorted labels). A metric absent from the document
// is no value for that instance; a document that does not parse, a timeout,
// a refused connection or a 5xx fails every signal of that instance, the
// transient ones retried within the source's tries. The text parser is
// client_golang's (prometheus/common expfmt); nothing is parsed by hand.
//
// A signal may use the kind without a named source (all defaults), or
// through one for TLS and credentials:
//
//	sources:
//	  internal:
//	    scrape:
//	      timeout: 2s
//	      tls: {ca_file: /etc/ebb/ca.pem}
//	      bearer_token: {file: /var/run/secrets/token}
//	groups:
//	  - name: web
//	    signals:
//	      busy: {scrape: {metric: ebb_worker_busy}, aggregate: avg}
//	      jobs: {source: internal, scrape: {metric: jobs_total, labels: {queue: a}, url: "https://{{.Addr}}/metrics"}, aggregate: sum}
package scrape

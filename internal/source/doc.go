// Package source reads signal values from where they live: the Prometheus
// text format an instance exposes on /metrics (scrape), a value inside a
// JSON document (http_json), or values pushed to ebb's API (Push). Every
// call takes a context and is bounded by the caller's timeout; every answer
// is checked, and malformed text is an error, never a panic or a NaN.
package source

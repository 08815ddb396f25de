// Package queue is the demo's job queue: an in-memory FIFO served over HTTP
// on loopback, so that `ebb demo` needs nothing but ebb itself.
//
// The contract, all bodies JSON and at most 64 KiB:
//
//	POST /v1/jobs                    {"service_ms":120}      → 201 {"id":"j000123"}
//	POST /v1/take?worker=W&wait=2s                           → 200 Job, or 204 after wait (≤ 10s)
//	POST /v1/done                    {"id":"…","worker":"W"} → 204; 409 unless W holds the job
//	POST /v1/release?worker=W                                → 200 {"released":["…"]}
//	GET  /v1/stats                                           → 200 Stats
//
// Bad input gets 400 and {"error":"…"} naming the field; unknown fields and
// query parameters are bad input.
//
// A job is handed to a take only while the take's request is alive: a take
// whose client has gone gets nothing, and a job whose response cannot be
// flushed goes back to the head of the queue. What remains, a response that
// reached the socket of a client that had just died, is what release is for:
// whoever finds a worker dead (or a draining worker, before it exits) releases
// its jobs to the head of the queue. A released job keeps its enqueue time,
// so its queue wait counts from its first submission.
//
// Time comes from an injected clock.Clock: enqueue and take times for the
// waits in Stats, and the long-poll deadline.
package queue

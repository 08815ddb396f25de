// Package registry is a Go client for ebb's service registry, and for any
// Netflix Eureka server: it registers an instance and keeps its lease, and
// keeps a cache of the registry to balance requests over other apps'
// instances. It is a supported public API.
//
// It speaks Eureka's REST API (v2) in JSON. Options.Servers name the
// registry's base URLs, path prefix included ("http://ebb:8761/eureka");
// every call goes to the server that last answered, and to the next one in
// turn when that one fails (no connection, a timeout, a 5xx).
//
// # The lease
//
// Register sends Options.Instance (POST /apps/{APP}). Renew heartbeats
// (PUT /apps/{APP}/{ID}), by default every 30 s; when the registry answers
// 404 (the lease expired, the registry restarted, or it holds older info
// than the client) Renew registers again. SetStatus changes the status the
// instance reports (STARTING while it warms up, then UP) and registers
// again at once. Deregister, and Close, cancel the lease (DELETE). A status
// override set on the registry (OUT_OF_SERVICE, which ebb uses to drain an
// instance) wins over what the instance reports, as in Eureka.
//
// # The cache
//
// Refresh fetches the whole registry (GET /apps) the first time, and then
// only its recent changes (GET /apps/delta), by default every 30 s: ADDED
// and MODIFIED instances replace the cached ones, DELETED ones go. After
// applying a delta, the client computes Eureka's reconcile hash code of
// its copy (HashCode) and compares it with the one the registry sent; when
// they differ, it fetches the whole registry instead. A failed refresh
// leaves the cache as it was: Next, Do and Instances keep serving from it
// while the registry is unreachable, and Err says what failed.
//
// Next picks an app's instances round-robin among those UP in the cache.
// Do sends a request to one and, on a 5xx or when it cannot connect, to
// another, each at most once per call.
//
// # Time and cancellation
//
// Run drives Renew and Refresh on timers until its context is done or Close
// is called; callers that have their own scheduler call Renew and Refresh
// instead. Time comes from Options.Clock (the wall clock by default), so
// tests step a fake clock or run in a testing/synctest bubble. Every call
// that waits takes a context and is bounded by Options.Timeout per server or
// per instance.
//
// Eureka's XML form, its remote regions and its VIP queries are not used.
package registry

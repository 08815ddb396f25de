// Package registry is ebb's service registry: a server that Netflix Eureka
// clients (the Java client, fargo for Go, ebb's own client/registry, and the
// like) register with, renew leases on, and fetch the registry from, so that
// mid-tier services behind no load balancer find each other and balance
// among themselves.
//
// # Contract
//
// Registry is the state machine: apps (names upper-cased, so compared
// without regard to case) of instances (Eureka's InstanceInfo, keyed by
// instanceId, falling back to the Amazon instance-id or the host name), each
// with a lease. It is pure in time: every operation takes the time it
// happens at, and nothing reads a clock, so tests step a fake clock and a
// replay is exact. It is safe for concurrent use. NewHandler serves it over
// HTTP as Eureka's REST API (see NewHandler for the routes), reading the
// time from an injected clock.Clock; responses are JSON or XML by Accept
// (XML when none is asked for, as Eureka does), and output is sorted (apps
// by name, instances by id) so it is byte-stable.
//
// Operations and their Eureka semantics:
//
//   - Register (POST /apps/{app}, 204) starts a new lease. A status override
//     set earlier survives re-registration (an instance taken
//     OUT_OF_SERVICE stays out when it restarts and registers as UP), except
//     that an instance reporting DOWN or STARTING is shown as such. A
//     registrant may carry an override (overriddenstatus) that the registry
//     adopts when it holds none, as Eureka does for its replicas. A
//     registration whose lastDirtyTimestamp is older than the held one keeps
//     the held instance info. Bad input is refused whole, every problem
//     named at once (400).
//   - Renew (PUT /apps/{app}/{id}, 200) is counted and extends the lease.
//     404 tells the client to register: the instance is unknown (evicted,
//     cancelled, or the registry restarted), its status is UNKNOWN (its
//     override was removed without a new status), or the client's
//     lastDirtyTimestamp is newer than the registry's. The status and
//     overriddenstatus parameters are checked but, as in Eureka outside
//     server-to-server replication, not applied.
//   - Cancel (DELETE /apps/{app}/{id}, 200, 404 unknown).
//   - SetStatusOverride (PUT …/status?value=S; S may not be UNKNOWN, which
//     Eureka accepts and which would make the instance's every renewal ask
//     for a registration that the override undoes) and DeleteStatusOverride
//     (DELETE …/status[?value=S]; the status becomes S, or UNKNOWN) both
//     renew the lease, as Eureka's do. UpdateMetadata (PUT …/metadata?k=v)
//     adds entries.
//   - Reads: GET /apps (all), /apps/delta, /apps/{app}, /apps/{app}/{id},
//     /instances/{id}, /vips/{vip}, /svips/{svip}.
//
// # Leases, eviction and self-preservation
//
// The numbers are Eureka's defaults, each configurable in Config:
//
//   - Clients renew every 30 s (RenewalInterval). An instance whose
//     leaseInfo.renewalIntervalInSecs is 0 is reported with 30.
//   - A lease expires when no renewal came for its duration: the instance's
//     leaseInfo.durationInSecs, or 90 s (LeaseDuration) when that is 0.
//     Eureka's own Lease class, by a bug it documents and keeps, expires a
//     renewed lease only after twice the duration; ebb expires it after the
//     duration, which is the documented contract.
//   - Expired instances are removed only by an eviction pass: Evict(now),
//     which the owner calls every 60 s (EvictionInterval); RunEvictions does
//     so on a clock.Clock.
//   - Self-preservation: the registry expects instances × (60 s / 30 s)
//     renewals per minute, and counts those received in the last minute (in
//     one-second buckets). When the count is not above 85%
//     (RenewalPercentThreshold) of expected, rounded down, no pass evicts:
//     that many silent instances at once is more likely a network partition
//     between them and the registry than their death, and evicting them would
//     empty clients' caches of instances that still serve. Eviction resumes
//     once renewals recover. With 10 instances, 17 renewals a minute are not
//     enough and 18 are; a lone instance that stops renewing is never evicted
//     (0 is below the threshold), as in Eureka. DisableSelfPreservation
//     turns the guard off.
//   - One pass evicts at most the registry size minus 85% of it, rounded
//     down (at least 15% of it, and at least one instance), as Eureka does so
//     that a clock jump or long pause cannot wipe the registry in one go. Of
//     the expired, those silent longest go first, then by app and id. Eureka
//     picks at random, so that a limited pass does not take one app's
//     instances first; ebb's order is reproducible, and a pass limited by
//     the cap may take more of one app than random picking would.
//
// Expected renewals follow the registry size at once, where Eureka
// recomputes its expectation every 15 minutes and on register and cancel;
// the registry size is what Eureka converges to.
//
// # Deltas and the hash code
//
// Every register, cancel, eviction, status or metadata change (not
// renewals) goes into a recent-changes queue kept for 180 s
// (DeltaRetention, Eureka's retentionTimeInMSInDeltaQueue). GET /apps/delta
// returns each changed instance once, in its latest state, with the action
// of its last change (ADDED, MODIFIED, DELETED). Every response carries
// versions__delta (a count of the registry's changes) and apps__hashcode,
// Eureka's reconcile hash code of the whole registry: for each status
// present, sorted by name, STATUS_COUNT_ — "OUT_OF_SERVICE_1_UP_3_". A client
// that applied a delta compares it with its own copy's and fetches the full
// registry when they differ. The computation is the public client's
// (client/registry.HashCode), so ebb's server and client cannot disagree.
//
// # Durability
//
// Persist hands every change (not renewals) to a Saver, which ebb's daemon
// backs with its store; the HTTP handler saves a change before it answers,
// and answers 503 when the save failed (the change is made, and saved with
// the next one; clients repeat writes they got no 2xx for). Load makes a
// registry hold what a Saver kept, every lease starting anew at the load:
// a restarted ebb, or a replica taking the lead, does not evict instances
// for the time it was away. A following replica loads again whenever its
// store moved, recording the differences as deltas.
//
// # Not planned from Eureka
//
// Peer replication between registry servers (and the
// x-netflix-discovery-replication header; ebb's replicas share the store
// instead), remote regions, the response cache and its 30 s staleness,
// gzip, ASG status.
package registry

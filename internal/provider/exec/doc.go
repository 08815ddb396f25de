// Package exec is the exec capacity provider: a group whose system ebb
// drives through three commands the user writes — observe, set_desired and
// remove — which exchange JSON with ebb on stdin and stdout under a
// versioned schema. It is for systems ebb has no provider for: a Flink
// job's parallelism, a Nomad task group, an in-house scheduler.
//
// # Schema version 1
//
// Every command gets on stdin one line of compact JSON (keys as below, no
// spaces, so a POSIX sh script can read it with sed), and the environment
// variables EBB_GROUP (the group) and EBB_OP (the operation):
//
//	{"version":1,"group":"web","op":"observe"}
//	{"version":1,"group":"web","op":"set_desired","desired":5}
//	{"version":1,"group":"web","op":"remove","victims":["i-2","i-3"]}
//
// desired appears for set_desired only, victims (sorted, no repeats, never
// empty) for remove only.
//
// observe prints the group's state:
//
//	{"version": 1, "desired": 3, "min": 1, "max": 10, "instances": [
//	  {"id": "i-1", "addr": "10.0.0.7:8080", "zone": "eu-west-1a", "ready": true,
//	   "leaving": false, "launched_at": "2026-01-01T10:00:00Z", "protected": false}
//	]}
//
// Its fields:
//
//   - version (required) must be 1; desired (required) is the system's
//     desired count, ≥ 0.
//   - min and max are the system's own bounds, when it has them; absent
//     means none (-1 in provider.Observed).
//   - instances (may be absent or empty) are those the system runs or is
//     starting. id (required, unique) is stable for the instance's life;
//     launched_at (required) is an RFC 3339 time; addr (host:port, for
//     ebb's probes and drains) and zone are optional; ready is true once the
//     system counts the instance ready, leaving once it is removing it;
//     protected is the system's own scale-in protection.
//
// set_desired sets the desired count and nothing else; setting what is set
// is success. remove takes the named instances out and lowers the desired
// count by as many of them as were still counted; ids it does not know are
// already gone, which is success. Both print nothing or {"version": 1}.
//
// Exit status 0 means done. 75 (EX_TEMPFAIL) means "try again": ebb runs
// the command again, up to tries runs, with exponential backoff and full
// jitter between them, as it does when a run outlives timeout. Any other
// status fails the call at once with the last line of stderr.
//
// Output that breaks the schema — another version, an unknown field, a
// missing desired or launched_at, a repeated id, not JSON — fails the call
// with an error naming the command and the field, and is not retried:
// the command would print the same again. A new schema version will be a
// new number in both directions; a command that checks stdin's version
// fails loudly rather than misread a later one.
//
// # Who chooses the victims
//
// With picks: ebb (the default), ebb chooses the instances a scale-in
// removes and drains them first; remove must remove exactly those, and
// never another in their place. Systems that choose for themselves (Nomad
// stops the allocations with the highest name index; a Flink job restarts
// on TaskManagers of its choosing) take picks: system: observe lists the
// instances in the order the system removes them, first to go first, and
// the provider is a provider.Picker naming the first ones listed, so ebb
// drains those; remove then lowers the count by as many victims as are
// still listed.
//
// # Running
//
// Commands run without a shell (write one, [sh, -c, …], if you want it), in
// dir, with ebb's environment plus env, EBB_GROUP and EBB_OP, each in its
// own process group: when the timeout passes or the caller's context ends,
// the whole group is killed (a shell's children too). stdout is read up to
// 4 MiB; more fails the call. env values come from a value, an environment
// variable or a file, read at each run, and are blanked out of every error
// ebb reports (stderr's last line, schema errors). A call whose context
// has already ended runs nothing. The provider keeps no state between calls
// and does not serialize them: an observe may run beside a set_desired.
//
// Each Observe runs the observe command once: its cost is the command's.
//
// # Example
//
//	sources:
//	  prom:
//	    prometheus: {url: http://prometheus:9090}
//	groups:
//	  - name: shop-web
//	    capacity: {max: 20}
//	    signals:
//	      rps: # requests per second per instance
//	        source: prom
//	        prometheus: {query: 'sum(rate(http_requests_total{job="shop-web"}[1m])) / count(up{job="shop-web"} == 1)'}
//	    policies:
//	      - target: {signal: rps, value: 200}
//	    provider:
//	      exec:
//	        observe: [/etc/ebb/nomad-group.sh, shop, web]
//	        set_desired: [/etc/ebb/nomad-group.sh, shop, web]
//	        remove: [/etc/ebb/nomad-group.sh, shop, web]
//	        picks: system
//	        timeout: 20s
//	        env:
//	          NOMAD_ADDR: {value: "https://nomad.internal:4646"}
//	          NOMAD_TOKEN: {file: /run/secrets/nomad-token}
//
// examples/exec holds that script and one for a Flink job's parallelism.
package exec

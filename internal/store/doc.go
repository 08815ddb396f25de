// Package store is ebb's durable state: one bbolt file holding each group's
// state, its instances, the intents ebb acts on, the decision journal, the
// operator log and a short signal history. The same layout can live in
// PostgreSQL, shared by several replicas of which one leads (postgres.go,
// lease.go): each replica then keeps the bbolt file as a local copy.
//
// The daemon writes an intent (launch X, drain Y, terminate Z) before it acts
// and finishes it after, so a crash at any point (SIGKILL included) leaves a
// file from which it resumes: open intents are the work in flight. For that
// to hold, every multi-record change is made inside one Update, whose writes
// commit together or not at all; a Tx method that returns an error may have
// written part of its change, so fn returns that error and Update rolls the
// whole transaction back.
//
// Layout (schema version 1):
//
//	meta/schema                 8-byte big-endian version
//	intent_groups/SEQ → group   finds an intent's group by its global seq; its
//	                            bucket sequence assigns intent seqs
//	groups/GROUP/
//	    state                   GroupState (JSON)
//	    instances/ID            model.Instance (JSON)
//	    intents/SEQ             Intent (JSON), done or not
//	    open/SEQ                empty: the not-done intents, so resuming does
//	                            not read the whole journal
//	    decisions/SEQ           Entry (JSON); per-group seq
//	    events/SEQ              Event (JSON): what operators did (scale,
//	                            suspend, drain, …); per-group seq, bounded
//	                            like decisions
//	    signals/NAME/TIME       float64 bits
//	registry/APP\x00ID          the service registry's registrations (JSON):
//	                            what it held at its last change; lease
//	                            renewals are not kept
//
// SEQ is a big-endian uint64 and TIME the big-endian UnixNano with its sign
// bit flipped, so byte order is numeric and time order.
//
// Nothing here reads the clock: every time is passed in.
package store

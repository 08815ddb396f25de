package config

// Kind is a kind of source plugged into the configuration by the
// composition root: the key that names it, and its two typed configs. The
// config package decodes, defaults, validates and documents them like its
// own types, without knowing any kind.
type Kind struct {
	Name string // the key: prometheus, redis, …
	Doc  string // one sentence for the reference and the schema
	// Conn points to a zero connection config (the value under
	// sources.NAME.KIND); Query to a zero per-signal config (the value
	// under groups[].signals.NAME.KIND). Only their types matter.
	Conn, Query any
	// Standalone kinds may be used by a signal that names no source: the
	// connection config is then all defaults.
	Standalone bool
}

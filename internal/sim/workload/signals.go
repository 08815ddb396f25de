package workload

// SignalReader is a model whose signals are read one at a time by their
// index, looked up once: a driver reads the few signals a group needs at
// every step without building a map. Every model here is one.
type SignalReader interface {
	// SignalNames are the signals Signals reports, in index order. The
	// slice is the model's: it must not be changed.
	SignalNames() []string
	// Signal is the value of signal i (an index into SignalNames) as of
	// the last Step: the value Signals reports under its name.
	Signal(i int) float64
}

// newSignals is Signals for any SignalReader.
func newSignals(m SignalReader) map[string]float64 {
	names := m.SignalNames()
	dst := make(map[string]float64, len(names))
	for i, n := range names {
		dst[n] = m.Signal(i)
	}
	return dst
}

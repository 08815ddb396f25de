package workload

// member is one instance the model knows, with the model's own state s.
type member[S any] struct {
	id       string
	serving  bool
	draining bool
	s        S
}

// fleet maps the driver's instances to the model's members. Members stay
// until Stopped: an instance the driver stops listing keeps finishing its
// work (as if draining) and takes none.
type fleet[S any] struct {
	byID map[string]*member[S]
	// last is the members in the order of the last Step's instances; a
	// Step with the same ids in the same order (the common case) reuses it
	// without a map lookup.
	last []*member[S]
}

func newFleet[S any]() fleet[S] { return fleet[S]{byID: map[string]*member[S]{}} }

// sync updates the members' flags from insts and returns them in insts'
// order; ids seen for the first time become members.
func (f *fleet[S]) sync(insts []Instance) []*member[S] {
	same := len(insts) == len(f.last)
	for i := 0; same && i < len(insts); i++ {
		same = insts[i].ID == f.last[i].id
	}
	if !same {
		for _, m := range f.last {
			m.serving, m.draining = false, false
		}
		f.last = f.last[:0]
		for _, in := range insts {
			m := f.byID[in.ID]
			if m == nil {
				m = &member[S]{id: in.ID}
				f.byID[in.ID] = m
			}
			f.last = append(f.last, m)
		}
	}
	for i, in := range insts {
		m := f.last[i]
		m.serving = in.Serving && !in.Draining
		m.draining = in.Draining
	}
	return f.last
}

// remove forgets the member id and returns it (nil if unknown).
func (f *fleet[S]) remove(id string) *member[S] {
	m := f.byID[id]
	if m == nil {
		return nil
	}
	delete(f.byID, id)
	for i, x := range f.last {
		if x == m {
			f.last = append(f.last[:i:i], f.last[i+1:]...)
			break
		}
	}
	return m
}

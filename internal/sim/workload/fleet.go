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
//
// Members live in one slice and are named by their index in it (a
// removed member's place goes to the next new one): a step walks them in
// contiguous memory, and what refers to a member (a batch of jobs) holds
// an index, not a pointer.
type fleet[S any] struct {
	members []member[S]
	free    []int32 // places of removed members
	byID    map[string]int32
	// last is the members in the order of the last Step's instances; a
	// Step with the same ids in the same order (the common case) reuses it
	// without a map lookup.
	last []int32
}

func newFleet[S any]() fleet[S] { return fleet[S]{byID: map[string]int32{}} }

// at is the member at index i. The pointer is valid until the next sync.
func (f *fleet[S]) at(i int32) *member[S] { return &f.members[i] }

// get is the member id, or nil. The pointer is valid until the next sync.
func (f *fleet[S]) get(id string) *member[S] {
	i, ok := f.byID[id]
	if !ok {
		return nil
	}
	return &f.members[i]
}

// sync updates the members' flags from insts and returns their indexes in
// insts' order; ids seen for the first time become members.
func (f *fleet[S]) sync(insts []Instance) []int32 {
	same := len(insts) == len(f.last)
	for i := 0; same && i < len(insts); i++ {
		same = insts[i].ID == f.members[f.last[i]].id
	}
	if !same {
		for _, i := range f.last {
			m := &f.members[i]
			m.serving, m.draining = false, false
		}
		f.last = f.last[:0]
		for _, in := range insts {
			i, ok := f.byID[in.ID]
			if !ok {
				i = f.add(in.ID)
			}
			f.last = append(f.last, i)
		}
	}
	for k, in := range insts {
		m := &f.members[f.last[k]]
		m.serving = in.Serving && !in.Draining
		m.draining = in.Draining
	}
	return f.last
}

// add makes a member for id and returns its index.
func (f *fleet[S]) add(id string) int32 {
	var i int32
	if n := len(f.free); n > 0 {
		i = f.free[n-1]
		f.free = f.free[:n-1]
		f.members[i] = member[S]{id: id}
	} else {
		i = int32(len(f.members))
		f.members = append(f.members, member[S]{id: id})
	}
	f.byID[id] = i
	return i
}

// remove forgets the member id and returns its index and what it was;
// false if unknown. Its place is reused by the next new member.
func (f *fleet[S]) remove(id string) (int32, member[S], bool) {
	i, ok := f.byID[id]
	if !ok {
		return 0, member[S]{}, false
	}
	m := f.members[i]
	delete(f.byID, id)
	for k, x := range f.last {
		if x == i {
			f.last = append(f.last[:k:k], f.last[k+1:]...)
			break
		}
	}
	f.members[i] = member[S]{}
	f.free = append(f.free, i)
	return i, m, true
}

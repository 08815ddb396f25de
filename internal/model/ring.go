package model

// Datapoints remembers the last (up to 64) yes/no datapoints, newest in the
// lowest bit. It is how "M of the last N" rules keep their history without
// allocating.
type Datapoints struct {
	Bits uint64 `json:"bits"`
	Len  uint8  `json:"len"`
}

// Push records a datapoint, keeping at most n.
func (d *Datapoints) Push(yes bool, n int) {
	d.Bits <<= 1
	if yes {
		d.Bits |= 1
	}
	if n > 64 {
		n = 64
	}
	if int(d.Len) < n {
		d.Len++
	}
	if n < 64 {
		d.Bits &= (1 << uint(n)) - 1
	}
	if int(d.Len) > n {
		d.Len = uint8(n)
	}
}

// Count returns how many of the last n datapoints were yes.
func (d Datapoints) Count(n int) int {
	if n > int(d.Len) {
		n = int(d.Len)
	}
	bits := d.Bits
	if n < 64 {
		bits &= (1 << uint(n)) - 1
	}
	c := 0
	for ; bits != 0; bits &= bits - 1 {
		c++
	}
	return c
}

// Reset forgets every datapoint.
func (d *Datapoints) Reset() { *d = Datapoints{} }

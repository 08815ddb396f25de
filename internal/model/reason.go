package model

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxArgs bounds how many values one Reason carries; explanations longer than
// this are a sign that the reason should be split into steps.
const maxArgs = 6

// Reason explains a number. It keeps a constant format and typed arguments and
// renders text only when someone reads it, so the decision path does not
// allocate a string per group per tick.
//
// The format uses %v for each argument in order and %% for a percent sign.
type Reason struct {
	format string
	args   [maxArgs]Arg
	n      uint8
}

type argKind uint8

const (
	argNum argKind = iota
	argInt
	argStr
	argDur
)

// Arg is one value inside a Reason. Build it with Num, Int, Str or Dur.
type Arg struct {
	s    string
	f    float64
	kind argKind
}

// Num is a float argument, rendered with at most three decimals.
func Num(f float64) Arg { return Arg{f: f, kind: argNum} }

// Int is an integer argument.
func Int(i int) Arg { return Arg{f: float64(i), kind: argInt} }

// Str is a string argument.
func Str(s string) Arg { return Arg{s: s, kind: argStr} }

// Dur is a duration argument, rendered like "5m" or "90s".
func Dur(d time.Duration) Arg { return Arg{f: float64(d), kind: argDur} }

// Because builds a Reason. Arguments beyond the sixth are dropped.
func Because(format string, args ...Arg) Reason {
	r := Reason{format: format}
	// A loop, not copy: copy of values holding strings goes through the
	// runtime's typed copy, which costs more than the few moves here.
	for i, a := range args[:min(len(args), maxArgs)] {
		r.args[i] = a
		r.n++
	}
	return r
}

// IsZero reports whether r holds no explanation.
func (r Reason) IsZero() bool { return r.format == "" }

// String renders the explanation.
func (r Reason) String() string {
	if r.n == 0 && !strings.Contains(r.format, "%") {
		return r.format
	}
	var b strings.Builder
	b.Grow(len(r.format) + 8*int(r.n))
	next := 0
	for i := 0; i < len(r.format); i++ {
		c := r.format[i]
		if c != '%' || i+1 >= len(r.format) {
			b.WriteByte(c)
			continue
		}
		switch r.format[i+1] {
		case '%':
			b.WriteByte('%')
			i++
		case 'v':
			if next < int(r.n) {
				b.WriteString(r.args[next].String())
			} else {
				b.WriteString("?")
			}
			next++
			i++
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// String renders one argument.
func (a Arg) String() string {
	switch a.kind {
	case argStr:
		return a.s
	case argInt:
		return strconv.FormatInt(int64(a.f), 10)
	case argDur:
		return FormatDuration(time.Duration(a.f))
	default:
		return FormatNum(a.f)
	}
}

// MarshalJSON renders the reason as a JSON string.
func (r Reason) MarshalJSON() ([]byte, error) { return json.Marshal(r.String()) }

// UnmarshalJSON reads a reason MarshalJSON wrote (a decision from the
// journal, as a replica following the leader reads it): its text, which
// renders again as it was.
func (r *Reason) UnmarshalJSON(data []byte) error {
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return fmt.Errorf("a reason is a JSON string: %w", err)
	}
	*r = Reason{format: strings.ReplaceAll(s, "%", "%%")}
	return nil
}

// FormatNum renders a float for people: integers without decimals, others with
// at most three decimals, magnitudes from 1e15 up in exponent form (rounding
// them to three decimals would overflow), infinities as "inf".
func FormatNum(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.Abs(f) >= 1e15:
		return strconv.FormatFloat(f, 'g', -1, 64)
	case f == math.Trunc(f):
		return strconv.FormatInt(int64(f), 10)
	}
	r := math.Round(f*1000) / 1000
	if r == 0 && f != 0 {
		return strconv.FormatFloat(f, 'g', 3, 64)
	}
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// FormatDuration renders a duration the way configs write it: "5m", "1h30m",
// "90s", "250ms".
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

package policy

import (
	"fmt"
	"math"
	"strings"
	"unique"

	"github.com/ebb-autoscaler/ebb/internal/model"
)

// maxCount bounds every capacity a policy computes: far above any real group,
// far below where float-to-int conversion overflows. A policy never returns
// more, whatever its inputs.
const maxCount = 1 << 30

// ceilCount rounds a computed capacity up to whole instances in [0, maxCount];
// NaN counts as 0.
//
// A value a hair above an integer counts as that integer: 10 × 0.84 ÷ 0.6 is
// 14.000000000000002 in floating point, and a 15th instance for a rounding
// error would be wrong.
func ceilCount(f float64) int {
	if math.IsNaN(f) || f <= 0 {
		return 0
	}
	if f >= maxCount {
		return maxCount
	}
	return int(math.Ceil(f - 1e-9*math.Max(1, f)))
}

// clampCount converts a whole-valued float to a capacity in [0, maxCount].
// Sums of configured integers go through float64 so that a huge adjustment
// saturates instead of overflowing int.
func clampCount(f float64) int {
	if math.IsNaN(f) || f <= 0 {
		return 0
	}
	if f >= maxCount {
		return maxCount
	}
	return int(f)
}

// read returns signal i's group value. The engine does not evaluate a policy
// whose signal is missing, but a value that is absent or not a finite number
// would poison every computation below, so it is an error here too.
func read(in *Input, i int, name string) (float64, error) {
	v := in.Value(i)
	switch {
	case !v.OK:
		return 0, fmt.Errorf("%s has no value", name)
	case math.IsNaN(v.V) || math.IsInf(v.V, 0):
		return 0, fmt.Errorf("%s is %s, not a finite number", name, model.FormatNum(v.V))
	}
	return v.V, nil
}

// finite reports whether f is neither NaN nor infinite.
func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// fill bakes constant text (signal names, configured numbers) into a Reason
// format once, when the policy is built. Evaluating then renders no text, and
// each Reason keeps its few argument slots for the numbers that change per
// tick. pairs alternate a placeholder such as "{signal}" and its text; the
// text is escaped so that a '%' in a name stays literal.
func fill(format string, pairs ...string) string {
	esc := make([]string, len(pairs))
	for i, s := range pairs {
		if i%2 == 1 {
			s = strings.ReplaceAll(s, "%", "%%")
		}
		esc[i] = s
	}
	// One pass over the format (placeholders start with '{'), instead of a
	// strings.Replacer, whose trie costs more to build than this whole
	// call with thousands of groups. Interned: groups configured alike (the
	// common case) share one copy of each format instead of one per policy.
	var b strings.Builder
	b.Grow(len(format))
next:
	for i := 0; i < len(format); {
		if format[i] == '{' {
			for k := 0; k+1 < len(esc); k += 2 {
				if esc[k] != "" && strings.HasPrefix(format[i:], esc[k]) {
					b.WriteString(esc[k+1])
					i += len(esc[k])
					continue next
				}
			}
		}
		b.WriteByte(format[i])
		i++
	}
	return unique.Make(b.String()).Value()
}

// num renders a configured number the way Reason renders its arguments.
func num(f float64) string { return model.FormatNum(f) }

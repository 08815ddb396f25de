package model

import (
	"math"
	"testing"
)

func TestFormatNum(t *testing.T) {
	tests := []struct {
		name string
		f    float64
		want string
	}{
		{name: "zero", f: 0, want: "0"},
		{name: "integer", f: 42, want: "42"},
		{name: "negative integer", f: -42, want: "-42"},
		{name: "three decimals", f: 1.23456, want: "1.235"},
		{name: "negative decimals", f: -0.5, want: "-0.5"},
		{name: "largest plain integer", f: 999999999999999, want: "999999999999999"},
		{name: "1e15", f: 1e15, want: "1e+15"},
		{name: "huge", f: 1e308, want: "1e+308"},
		{name: "negative huge", f: -1e308, want: "-1e+308"},
		{name: "max float", f: math.MaxFloat64, want: "1.7976931348623157e+308"},
		{name: "huge with digits", f: 1.5e20, want: "1.5e+20"},
		{name: "tiny", f: 1e-300, want: "1e-300"},
		{name: "negative tiny", f: -2.5e-7, want: "-2.5e-07"},
		{name: "smallest float", f: math.SmallestNonzeroFloat64, want: "4.94e-324"},
		{name: "below a thousandth", f: 0.0004, want: "0.0004"},
		{name: "inf", f: math.Inf(1), want: "inf"},
		{name: "negative inf", f: math.Inf(-1), want: "-inf"},
		{name: "NaN", f: math.NaN(), want: "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatNum(tt.f); got != tt.want {
				t.Fatalf("FormatNum(%g) = %q, want %q", tt.f, got, tt.want)
			}
		})
	}
}

// A reason about a huge value shows the value, not "+Inf".
func TestReasonHugeNumber(t *testing.T) {
	r := Because("queue %v items", Num(1e308))
	if got, want := r.String(), "queue 1e+308 items"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}

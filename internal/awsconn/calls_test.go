package awsconn

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/aws/smithy-go"

	"github.com/ebb-autoscaler/ebb/internal/clock"
	"github.com/ebb-autoscaler/ebb/internal/config"
)

func limits(tries int) Limits {
	return Limits{Rate: 1000, Burst: 1000, Timeout: config.Duration(time.Second), Tries: tries}
}

func TestDoBacksOffWithFullJitter(t *testing.T) {
	clk := clock.NewFake(time.Unix(0, 0))
	clk.SetInstant(true)
	sleeps := clk.Notify(16)
	c := NewCaller(limits(6), clk, rand.New(rand.NewPCG(7, 7)), "")
	calls := 0
	_, err := Do(context.Background(), c, "call", func(context.Context) (int, error) {
		calls++
		return 0, &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	})
	if err == nil || calls != 6 {
		t.Fatalf("err = %v after %d calls, want an error after 6", err, calls)
	}
	bound := backoffBase
	for i := range 5 {
		d := <-sleeps
		if d < 0 || d > bound {
			t.Errorf("sleep %d = %s, want within [0, %s]", i, d, bound)
		}
		bound = min(2*bound, backoffMax)
	}
	select {
	case d := <-sleeps:
		t.Fatalf("a sixth sleep (%s) after the last try", d)
	default:
	}
}

func TestDoDoesNotRetryPermanentErrors(t *testing.T) {
	c := NewCaller(limits(5), nil, nil, "g")
	calls := 0
	_, err := Do(context.Background(), c, "call", func(context.Context) (int, error) {
		calls++
		return 0, &smithy.GenericAPIError{Code: "AccessDenied"}
	})
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "AccessDenied" || calls != 1 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}

func TestLimitsValidate(t *testing.T) {
	if err := (&Limits{Rate: 5, Burst: 10, Timeout: config.Duration(time.Second), Tries: 5}).Validate(); err != nil {
		t.Fatal(err)
	}
	err := (&Limits{}).Validate()
	for _, key := range []string{"rate", "burst", "timeout", "tries"} {
		var ke *config.KeyError
		found := false
		for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
			if errors.As(e, &ke) && ke.Key == key {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem for %s in %v", key, err)
		}
	}
}

func TestLimitsLongest(t *testing.T) {
	for _, tt := range []struct {
		timeout time.Duration
		tries   int
		want    time.Duration
	}{
		{timeout: 10 * time.Second, tries: 5, want: 70 * time.Second}, // 5 × 10s + 4 × 5s
		{timeout: 2 * time.Second, tries: 1, want: 2 * time.Second},
	} {
		l := Limits{Timeout: config.Duration(tt.timeout), Tries: tt.tries}
		if got := l.Longest(); got != tt.want {
			t.Errorf("Longest(%s × %d) = %s, want %s", tt.timeout, tt.tries, got, tt.want)
		}
	}
}

package clock

import (
	"context"
	"runtime"
	"testing"
	"testing/synctest"
	"time"
)

func TestFake(t *testing.T) {
	start := time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	f := NewFake(start)
	done := make(chan error, 1)
	go func() { done <- f.Sleep(context.Background(), time.Minute) }()
	for f.Sleepers() == 0 { // bounded by the goroutine reaching Sleep
		runtime.Gosched()
	}
	f.Advance(59 * time.Second)
	select {
	case <-done:
		t.Fatal("woke before its time")
	default:
	}
	f.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := f.Now(); !got.Equal(start.Add(time.Minute)) {
		t.Fatalf("Now = %v", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.Sleep(ctx, time.Hour); err != context.Canceled {
		t.Fatalf("Sleep with a cancelled ctx = %v", err)
	}
}

func TestRealSleepHonoursContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := (Real{}).Sleep(ctx, time.Hour); err != context.DeadlineExceeded {
			t.Fatalf("Sleep = %v, want deadline exceeded", err)
		}
		if err := (Real{}).Sleep(context.Background(), time.Minute); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFakeNotifyAndInstant(t *testing.T) {
	f := NewFake(time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC))
	slept := f.Notify(4)
	f.SetInstant(true)
	if err := f.Sleep(context.Background(), time.Hour); err != nil {
		t.Fatal(err)
	}
	if d := <-slept; d != time.Hour {
		t.Fatalf("notified %v, want 1h", d)
	}
	if got := f.Now(); !got.Equal(time.Date(2026, 1, 5, 1, 0, 0, 0, time.UTC)) {
		t.Fatalf("instant sleep left the clock at %v", got)
	}
}

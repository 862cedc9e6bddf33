package stream

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func ms(t time.Time) int64               { return t.UnixMilli() }

func TestWatermarkBoundedOutOfOrderness(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(1_000_000)}
	w := NewWatermarks(WatermarkOptions{OutOfOrderness: 5 * time.Second, Now: clk.now}, nil, MinWatermark)
	w.AddPartition(0)
	if got := w.Advance(); got != MinWatermark {
		t.Fatalf("before any event: %d", got)
	}
	for _, c := range []struct{ ts, want int64 }{
		{100_000, 94_999},
		{90_000, 94_999}, // out of order: no regression
		{110_000, 104_999},
		{50_000, 104_999},
	} {
		w.Touch(0)
		observe(w, 0, c.ts)
		if got := w.Advance(); got != c.want {
			t.Fatalf("after ts %d: watermark %d want %d", c.ts, got, c.want)
		}
	}
}

func TestWatermarkMinOverPartitionsAndIdleness(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(10_000_000)}
	w := NewWatermarks(WatermarkOptions{OutOfOrderness: time.Second, IdleTimeout: 30 * time.Second, Now: clk.now}, nil, MinWatermark)
	w.AddPartition(0)
	w.AddPartition(1)
	w.Touch(0)
	observe(w, 0, 500_000)
	if got := w.Advance(); got != MinWatermark {
		t.Fatalf("partition 1 has no data and is not idle yet: watermark %d", got)
	}
	w.Touch(1)
	observe(w, 1, 300_000)
	if got := w.Advance(); got != 298_999 {
		t.Fatalf("min over partitions: %d", got)
	}
	// Partition 1 goes quiet: after the idle timeout it stops holding 0 back.
	clk.add(20 * time.Second)
	w.Touch(0)
	observe(w, 0, 520_000)
	if got := w.Advance(); got != 298_999 {
		t.Fatalf("not idle yet: %d", got)
	}
	clk.add(11 * time.Second)
	w.Touch(0)
	if got := w.Advance(); got != 518_999 {
		t.Fatalf("idle partition must not hold the watermark: %d", got)
	}
	// Event-time only: with every partition idle the watermark stays.
	clk.add(time.Hour)
	if got := w.Advance(); got != 518_999 {
		t.Fatalf("all idle without wall clock: %d", got)
	}
}

func TestWatermarkFollowsWallClockWhenIdle(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(10_000_000)}
	w := NewWatermarks(WatermarkOptions{OutOfOrderness: 5 * time.Second, IdleTimeout: 10 * time.Second, FollowWallClock: true, Now: clk.now}, nil, MinWatermark)
	w.AddPartition(0)
	w.Touch(0)
	observe(w, 0, ms(clk.t)-1000)
	if got, want := w.Advance(), ms(clk.t)-1000-5000-1; got != want {
		t.Fatalf("got %d want %d", got, want)
	}
	clk.add(2 * time.Minute) // the instance went quiet: its minutes must still close
	if got, want := w.Advance(), ms(clk.t)-5000-1; got != want {
		t.Fatalf("idle live partition: got %d want %d (wall clock − out-of-orderness)", got, want)
	}
}

func TestWatermarkFutureAndFloor(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(10_000_000)}
	w := NewWatermarks(WatermarkOptions{FutureSkew: time.Minute, Now: clk.now}, map[int32]int64{0: 5_000_000}, 9_000_000)
	if ms(clk.t)+60_000 > w.FutureLimit() {
		t.Fatal("exactly at the skew is not future")
	}
	if ms(clk.t)+60_001 <= w.FutureLimit() {
		t.Fatal("beyond the skew is future")
	}
	if got := w.Advance(); got != 9_000_000 {
		t.Fatalf("restored floor must hold: %d", got)
	}
	w.End()
	if w.Advance() != MaxWatermark {
		t.Fatal("end of input")
	}
	off := NewWatermarks(WatermarkOptions{FutureSkew: -1, Now: clk.now}, nil, MinWatermark)
	if 1<<62 > off.FutureLimit() {
		t.Fatal("negative skew disables the check")
	}
}

func TestWatermarkFinishedPartitionDoesNotHoldBack(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(10_000_000)}
	w := NewWatermarks(WatermarkOptions{OutOfOrderness: time.Second, IdleTimeout: time.Hour, Now: clk.now}, nil, MinWatermark)
	w.AddPartition(0)
	w.AddPartition(1) // empty: never delivers
	w.Touch(0)
	observe(w, 0, 500_000)
	if got := w.Advance(); got != MinWatermark {
		t.Fatalf("an empty, unfinished partition holds the watermark: got %d", got)
	}
	w.Finish(1)
	if got := w.Advance(); got != 498_999 {
		t.Fatalf("a finished partition must not hold the watermark: got %d", got)
	}
	w.Finish(0)
	if got := w.Advance(); got != 498_999 {
		t.Fatalf("all finished: the watermark stays until End, got %d", got)
	}
}

// observe accepts one event of partition p the way the task does.
func observe(w *Watermarks, p int32, ts int64) {
	tr := w.Tracker(p)
	tr.Observe(ts)
}

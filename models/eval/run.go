package eval

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync"
	"time"

	"github.com/das-project/das/models"
)

// Run is what one detector produced on one series.
type Run struct {
	// Alerts are the timestamps (Unix ms) of the points with Result.Alert.
	Alerts []int64
	// Anomalous counts the points with Result.Anomalous.
	Anomalous int
	// Invalid counts results that break the Detector contract: a score
	// outside [0,1] or NaN, an alert on a point not decided anomalous, or
	// a decision while not warm. The scorer still uses them; a report
	// shows them so they get fixed.
	Invalid int
	// Elapsed is the time spent in Observe.
	Elapsed time.Duration
}

// Observe feeds s's points to d in order, as `das detect` does, and
// collects the alerts.
func Observe(d models.Detector, s Series) Run {
	var run Run
	start := time.Now()
	for _, p := range s.Points {
		res := d.Observe(p)
		if res.Alert {
			run.Alerts = append(run.Alerts, p.T)
		}
		if res.Anomalous {
			run.Anomalous++
		}
		if math.IsNaN(res.Score) || res.Score < 0 || res.Score > 1 ||
			res.Alert && !res.Anomalous || res.Anomalous && !res.Warm {
			run.Invalid++
		}
	}
	run.Elapsed = time.Since(start)
	return run
}

// NewDetector builds the detector for one series.
type NewDetector func(s Series) (models.Detector, error)

// RunAll runs a fresh detector over each series on workers goroutines
// (default GOMAXPROCS) and returns the runs in series order. It returns
// when every worker has stopped: at the end, at the first error, or when
// ctx is done.
func RunAll(ctx context.Context, series []Series, newDet NewDetector, workers int) ([]Run, error) {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	workers = min(workers, max(len(series), 1))
	runs := make([]Run, len(series))
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d, err := newDet(series[i])
				if err != nil {
					cancel(fmt.Errorf("series %s (seed %d): %w", series[i].Name, series[i].Seed, err))
					continue
				}
				runs[i] = Observe(d, series[i])
			}
		}()
	}
feed:
	for i := range series {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, err
	}
	return runs, nil
}

package leaf

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/das-project/das/internal/mariadbtest"
)

// TestSegmentRandomized is a seeded simulation: two generators ("processes")
// on one tag, random step, threshold and batch sizes, several callers each,
// while the database connection of one generator is cut and restored and
// generators are closed and reopened (giving unused IDs back) at random.
// Whatever happens, no ID is handed out twice and each caller's IDs
// strictly increase. Failures print the seed.
func TestSegmentRandomized(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run("", func(t *testing.T) {
			checkLeaks(t)
			rng := rand.New(rand.NewPCG(seed, seed))
			step := 1 + rng.Int64N(40)
			threshold := 0.05 + rng.Float64()*0.95
			t.Logf("seed %d: step %d, threshold %.2f", seed, step, threshold)
			dsn, _ := newLeafDB(t, map[string]int64{"r": step})
			p := mariadbtest.NewProxy(t, addrOf(t, dsn))
			dbs := []string{dsn, viaProxy(t, dsn, p)}

			var mu sync.Mutex
			var seqs [][]int64
			var exhausted int
			for round := 0; round < 4; round++ {
				var gens []*Segment
				for _, d := range dbs {
					g, err := OpenSegment(context.Background(), openDB(t, d), SegmentOptions{
						PreloadThreshold: threshold, MaxStep: 4 * step, DefaultWait: 20 * time.Millisecond,
						RetryBackoff: time.Millisecond, MaxRetryBackoff: 10 * time.Millisecond,
					})
					if err != nil {
						if round > 0 && d != dsn {
							continue // cut at open: run this round with one generator
						}
						t.Fatal(err)
					}
					gens = append(gens, g)
				}
				var wg sync.WaitGroup
				for c := 0; c < 4; c++ {
					g := gens[c%len(gens)]
					crng := rand.New(rand.NewPCG(seed, uint64(round*10+c)))
					wg.Add(1)
					go func() {
						defer wg.Done()
						var mine []int64
						bound := g.Tag("r")
						for i := 0; i < 300; i++ {
							ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
							var ids []int64
							var err error
							switch crng.IntN(3) {
							case 0:
								var id int64
								if id, err = g.NextID(ctx, "r"); err == nil {
									ids = []int64{id}
								}
							case 1:
								ids, err = g.NextIDs(ctx, "r", 1+crng.IntN(3*int(step)))
							default:
								var id int64
								if id, err = bound.NextID(ctx); err == nil {
									ids = []int64{id}
								}
							}
							cancel()
							if err != nil && !errors.Is(err, ErrSegmentsExhausted) {
								t.Errorf("unexpected error: %v", err)
								return
							}
							if err != nil {
								mu.Lock()
								exhausted++
								mu.Unlock()
							}
							mine = append(mine, ids...)
						}
						mu.Lock()
						seqs = append(seqs, mine)
						mu.Unlock()
					}()
				}
				// Chaos while the callers run.
				for i := 0; i < 6; i++ {
					time.Sleep(time.Duration(rng.IntN(15)) * time.Millisecond)
					if rng.IntN(2) == 0 {
						p.Cut()
					} else {
						p.Restore()
					}
				}
				p.Restore()
				wg.Wait()
				for _, g := range gens {
					// Give-back may fail for the generator behind the proxy
					// if it was cut; either way nothing is re-issued.
					_ = g.Close()
				}
			}
			all := checkUnique(t, seqs)
			t.Logf("%d IDs, %d calls failed with ErrSegmentsExhausted during cuts", len(all), exhausted)
			if len(all) == 0 {
				t.Fatal("no IDs drawn")
			}
		})
	}
}

package leaf_test

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/das-project/das/leaf"
)

// Segment mode: IDs per tag from leaf_alloc, handed out from memory.
func ExampleOpenSegment() {
	ctx := context.Background()
	db, err := sql.Open("mysql", "leaf:secret@tcp(127.0.0.1:3306)/leaf")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	if err := leaf.Migrate(ctx, db); err != nil {
		panic(err)
	}
	reg := prometheus.NewRegistry() // serve it on /metrics
	seg, err := leaf.OpenSegment(ctx, db, leaf.SegmentOptions{Registerer: reg})
	if err != nil {
		panic(err)
	}
	defer seg.Close() // gives unused IDs back when it can

	id, err := seg.NextID(ctx, "order")
	if err != nil {
		panic(err) // ErrTagNotFound, ErrSegmentsExhausted, ErrClosed
	}
	fmt.Println(id)

	// The sharding layer takes an IDGen: a generator with the tag bound.
	var orders leaf.IDGen = seg.Tag("order")
	id, err = orders.NextID(ctx)
	fmt.Println(id, err)
}

// Snowflake mode: time-ordered IDs from a leased worker id.
func ExampleOpenSnowflake() {
	ctx := context.Background()
	db, err := sql.Open("mysql", "leaf:secret@tcp(127.0.0.1:3306)/leaf")
	if err != nil {
		panic(err)
	}
	defer db.Close()
	sf, err := leaf.OpenSnowflake(ctx, db, leaf.SnowflakeOptions{WorkerBits: 10, SequenceBits: 12})
	if err != nil {
		panic(err) // ErrNoWorkerID, ErrClockBackwards (clock behind the persisted timestamp)
	}
	defer sf.Close() // releases the worker id

	id, err := sf.NextID(ctx, "")
	if err != nil {
		panic(err) // ErrLeaseExpired, ErrClockBackwards
	}
	ts, worker, seq := sf.Layout().Decode(id)
	fmt.Println(ts, worker, seq)
}

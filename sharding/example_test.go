package sharding_test

import (
	"context"
	"database/sql"
	"fmt"

	_ "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/das-project/das/leaf"
	"github.com/das-project/das/sharding"
	"github.com/das-project/das/sources"
)

// Order is the example's sharded entity: the struct tags are Go's
// @ShardOn/@IDGen.
type Order struct {
	ID     int64  `db:"id" shard:"id"`
	UserID int64  `db:"user_id" shard:"key"`
	Amount int64  `db:"amount"`
	Note   string `db:"note"`
}

// MTDDL's example: orders sharded 100 ways over two databases by user,
// IDs from Leaf segment mode, configuration reloaded from a watched file.
func Example() {
	ctx := context.Background()
	leafDB, err := sql.Open("mysql", "leaf:secret@tcp(10.0.0.5:3306)/leaf")
	if err != nil {
		panic(err)
	}
	defer leafDB.Close()
	seg, err := leaf.OpenSegment(ctx, leafDB, leaf.SegmentOptions{})
	if err != nil {
		panic(err)
	}
	defer seg.Close()

	reg := prometheus.NewRegistry() // serve on /metrics
	events := make(chan sources.Event, 4096)
	c, err := sharding.OpenFile(ctx, "/etc/app/sharding.json", sharding.Options{
		Segment:    seg, // id_gen "segment:order"
		Registerer: reg,
		Events:     sharding.ChanSink(events),
		OnReload: func(gen uint64, err error) {
			if err != nil {
				fmt.Println("config reload refused, still on the running config:", err)
			}
		},
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	orders, err := sharding.NewTable[Order](c, "order")
	if err != nil {
		panic(err)
	}
	o := Order{UserID: 12345, Amount: 990}
	if err := orders.Insert(ctx, &o); err != nil { // o.ID from Leaf; lands in order_45 of order_db0
		panic(err)
	}
	got, err := orders.Get(sharding.WithPrimary(ctx), o.UserID, o.ID) // read-your-writes
	fmt.Println(got, err)
	mine, err := orders.List(ctx, o.UserID, sharding.Filter{OrderBy: "id DESC", Limit: 20}) // a replica
	fmt.Println(len(mine), err)

	// Raw statements name the logical table in braces.
	_, err = c.Exec(ctx, "order", o.UserID, "UPDATE {order} SET note = ? WHERE user_id = ? AND id = ?", "paid", o.UserID, o.ID)
	fmt.Println(err)

	// A transaction lives on one shard.
	tx, err := c.BeginTx(ctx, "order", o.UserID, nil)
	if err != nil {
		panic(err)
	}
	if _, err := orders.In(tx).Update(ctx, &Order{ID: o.ID, UserID: o.UserID, Amount: 0, Note: "refunded"}); err != nil {
		_ = tx.Rollback()
		panic(err)
	}
	if err := tx.Commit(); err != nil {
		panic(err)
	}

	// No shard key: only as an explicit scatter-gather.
	big, err := orders.Scatter(ctx, sharding.Filter{Where: "amount > ?", Args: []any{10000}}, sharding.ScatterOptions{Parallel: 8}, nil)
	fmt.Println(len(big), err)
}

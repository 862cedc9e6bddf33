package agent

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/internal/mariadbtest"
)

// The performance_schema input against a real MariaDB: the statements run
// arrive as partial aggregates of their template, counted exactly, including
// those of the last poll taken when the agent stops.
func TestPerfschemaInputLive(t *testing.T) {
	srv := mariadbtest.StartPerfSchema(t)
	dsn := mariadbtest.NewDatabase(t, srv)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE kv (k INT PRIMARY KEY, v VARCHAR(32))"); err != nil {
		t.Fatal(err)
	}
	topic := "das.sql-events"
	c := newCluster(t, topic, 1)
	o := testOptions(t, c.Addrs(), topic)
	in, err := OpenInput(context.Background(), "perfschema:"+srv.DSN(""), InputOptions{Instance: "10.9.9.9:3306", PerfschemaInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(in, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := a.Run(ctx)
		done <- err
	}()
	time.Sleep(1500 * time.Millisecond) // the baseline poll
	const n = 120
	for i := range n {
		if _, err := db.Exec(fmt.Sprintf("INSERT INTO kv VALUES (%d, 'value-%d')", i, i)); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			time.Sleep(1200 * time.Millisecond) // across a poll
		}
	}
	time.Sleep(300 * time.Millisecond)
	cancel() // the final poll ships the rest
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("agent did not stop")
	}
	evs := decodeRecords(t, kafkatest.ReadAll(t, c.Addrs(), topic), o.Format)
	counted, _ := effective(t, evs)
	var got int64
	for _, ev := range counted {
		if ev.Count == 0 || ev.Instance != "10.9.9.9:3306" {
			t.Fatalf("record %+v", ev)
		}
		// MariaDB has no statement samples: the template comes from the
		// digest text, whose id differs from the statement's own
		// (docs/collection.md, performance_schema).
		if strings.HasPrefix(strings.ToLower(string(ev.SQL)), "insert into `kv`") {
			got += ev.Count
		}
	}
	if got != n {
		t.Fatalf("%d inserts in Kafka, ran %d (%d records)", got, n, len(counted))
	}
}

// With a state directory the poller's baseline survives a restart: the
// statements run while the agent was stopped are counted by the first poll
// after it, so across stop, a burst while stopped, and restart every insert
// counts exactly once.
func TestPerfschemaBaselineAcrossRestart(t *testing.T) {
	srv := mariadbtest.StartPerfSchema(t)
	dsn := mariadbtest.NewDatabase(t, srv)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE kv2 (k INT PRIMARY KEY, v VARCHAR(32))"); err != nil {
		t.Fatal(err)
	}
	topic := "das.sql-events"
	c := newCluster(t, topic, 1)
	o := testOptions(t, c.Addrs(), topic)
	next := 0
	insert := func(n int) {
		for range n {
			if _, err := db.Exec(fmt.Sprintf("INSERT INTO kv2 VALUES (%d, 'v')", next)); err != nil {
				t.Fatal(err)
			}
			next++
		}
	}
	var errs []error
	run := func(during func()) {
		t.Helper()
		in, err := OpenInput(context.Background(), "perfschema:"+srv.DSN(""), InputOptions{Instance: "10.9.9.9:3306",
			PerfschemaInterval: time.Second, StateDir: o.StateDir, OnError: func(err error) { errs = append(errs, err) }})
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(in, o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := a.Run(ctx)
			done <- err
		}()
		time.Sleep(1200 * time.Millisecond) // the first poll
		during()
		time.Sleep(300 * time.Millisecond)
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("agent did not stop")
		}
	}
	run(func() { insert(30) })
	insert(25) // while no agent runs
	run(func() { insert(10) })

	counted, _ := effective(t, decodeRecords(t, kafkatest.ReadAll(t, c.Addrs(), topic), o.Format))
	var got int64
	for _, ev := range counted {
		if strings.HasPrefix(strings.ToLower(string(ev.SQL)), "insert into `kv2`") {
			got += ev.Count
		}
	}
	if got != int64(next) {
		t.Fatalf("%d inserts in Kafka, ran %d (errors reported: %v)", got, next, errs)
	}
	if len(errs) != 0 {
		t.Fatalf("errors reported: %v", errs)
	}
}

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

// perfschemaEnv is a MariaDB with performance_schema, a database holding
// table (k INT PRIMARY KEY, v VARCHAR(32)), and a kfake topic.
type perfschemaEnv struct {
	srv   *mariadbtest.Server
	db    *sql.DB
	c     *kafkatest.Cluster
	topic string
	o     Options
}

func newPerfschemaEnv(t *testing.T, table string) *perfschemaEnv {
	t.Helper()
	e := &perfschemaEnv{srv: mariadbtest.StartPerfSchema(t), topic: "das.sql-events"}
	db, err := sql.Open("mysql", mariadbtest.NewDatabase(t, e.srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.SetMaxOpenConns(1)
	if _, err := db.Exec("CREATE TABLE " + table + " (k INT PRIMARY KEY, v VARCHAR(32))"); err != nil {
		t.Fatal(err)
	}
	e.db = db
	e.c = newCluster(t, e.topic, 1)
	e.o = testOptions(t, e.c.Addrs(), e.topic)
	return e
}

// start runs an agent polling every second in the background.
func (e *perfschemaEnv) start(t *testing.T, io InputOptions) func() (Summary, error) {
	t.Helper()
	io.Instance, io.PerfschemaInterval = "10.9.9.9:3306", time.Second
	in, err := OpenInput(context.Background(), "perfschema:"+e.srv.DSN(""), io)
	if err != nil {
		t.Fatal(err)
	}
	_, stop := startInput(t, in, e.o)
	return stop
}

// inserts sums the statements of the partial aggregates in the topic whose
// sample starts with prefix, checking every record on the way.
func (e *perfschemaEnv) inserts(t *testing.T, prefix string) (int64, int) {
	t.Helper()
	counted, _ := effective(t, decodeRecords(t, kafkatest.ReadAll(t, e.c.Addrs(), e.topic), e.o.Format))
	var got int64
	for _, ev := range counted {
		if ev.Count == 0 || ev.Instance != "10.9.9.9:3306" {
			t.Fatalf("record %+v", ev)
		}
		// MariaDB has no statement samples: the template comes from the
		// digest text, whose id differs from the statement's own
		// (docs/collection.md, performance_schema).
		if strings.HasPrefix(strings.ToLower(string(ev.SQL)), prefix) {
			got += ev.Count
		}
	}
	return got, len(counted)
}

// The performance_schema input against a real MariaDB: the statements run
// arrive as partial aggregates of their template, counted exactly, including
// those of the last poll taken when the agent stops.
func TestPerfschemaInputLive(t *testing.T) {
	e := newPerfschemaEnv(t, "kv")
	stop := e.start(t, InputOptions{})
	time.Sleep(1500 * time.Millisecond) // the baseline poll
	const n = 120
	for i := range n {
		if _, err := e.db.Exec(fmt.Sprintf("INSERT INTO kv VALUES (%d, 'value-%d')", i, i)); err != nil {
			t.Fatal(err)
		}
		if i == n/2 {
			time.Sleep(1200 * time.Millisecond) // across a poll
		}
	}
	time.Sleep(300 * time.Millisecond)
	if _, err := stop(); err != nil { // the final poll ships the rest
		t.Fatal(err)
	}
	if got, records := e.inserts(t, "insert into `kv`"); got != n {
		t.Fatalf("%d inserts in Kafka, ran %d (%d records)", got, n, records)
	}
}

// With a state directory the poller's baseline survives a restart: the
// statements run while the agent was stopped are counted by the first poll
// after it, so across stop, a burst while stopped, and restart every insert
// counts exactly once.
func TestPerfschemaBaselineAcrossRestart(t *testing.T) {
	e := newPerfschemaEnv(t, "kv2")
	next := 0
	insert := func(n int) {
		for range n {
			if _, err := e.db.Exec(fmt.Sprintf("INSERT INTO kv2 VALUES (%d, 'v')", next)); err != nil {
				t.Fatal(err)
			}
			next++
		}
	}
	var errs []error
	run := func(during func()) {
		t.Helper()
		stop := e.start(t, InputOptions{StateDir: e.o.StateDir, OnError: func(err error) { errs = append(errs, err) }})
		time.Sleep(1200 * time.Millisecond) // the first poll
		during()
		time.Sleep(300 * time.Millisecond)
		if _, err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	run(func() { insert(30) })
	insert(25) // while no agent runs
	run(func() { insert(10) })

	if got, _ := e.inserts(t, "insert into `kv2`"); got != int64(next) {
		t.Fatalf("%d inserts in Kafka, ran %d (errors reported: %v)", got, next, errs)
	}
	if len(errs) != 0 {
		t.Fatalf("errors reported: %v", errs)
	}
}

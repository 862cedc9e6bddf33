package parquet

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/das-project/das/sinks"
)

// t0 is a fixed minute: 2026-03-01T10:00:00Z.
const t0 = int64(1772359200000)

// workload generates minute rows that look like a fleet's: a few dozen
// instances, a handful of dbs, a few hundred templates of realistic length.
type workload struct {
	rng       *rand.Rand
	instances []string
	dbs       []string
	templates []string
	samples   []string // a sample statement per template
}

func newWorkload(seed uint64, instances, templates int) *workload {
	w := &workload{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for i := range instances {
		w.instances = append(w.instances, fmt.Sprintf("10.0.%d.%d:3306", i/250, i%250+1))
	}
	w.dbs = []string{"orders", "users", "billing", "inventory", ""}
	tables := []string{"orders", "order_items", "users", "accounts", "payments", "inventory", "shipments"}
	for i := range templates {
		tb := tables[w.rng.IntN(len(tables))]
		var s string
		switch i % 4 {
		case 0:
			s = fmt.Sprintf("SELECT id, status, created_at, updated_at FROM %s WHERE user_id = ? AND status IN (...) ORDER BY created_at DESC LIMIT ? /* q%d */", tb, i)
		case 1:
			s = fmt.Sprintf("UPDATE %s SET status = ?, updated_at = ? WHERE id = ? /* q%d */", tb, i)
		case 2:
			s = fmt.Sprintf("INSERT INTO %s (user_id, amount, currency, created_at) VALUES (...) /* q%d */", tb, i)
		default:
			s = fmt.Sprintf("SELECT COUNT(*) FROM %s a JOIN users u ON u.id = a.user_id WHERE a.created_at > ? AND u.region = ? GROUP BY u.region /* q%d */", tb, i)
		}
		w.templates = append(w.templates, s)
	}
	lit := strings.NewReplacer("?", "'?'", "(...)", "('?', '?')")
	for _, s := range w.templates {
		w.samples = append(w.samples, lit.Replace(s))
	}
	return w
}

func templateID(s string) string {
	h := fnv.New64a()
	h.Write([]byte(s))
	return fmt.Sprintf("%016x", h.Sum64())
}

// row returns a version-1 row of a random series in the given minute.
func (w *workload) row(minute int64) sinks.MinuteRow {
	ti := w.rng.IntN(len(w.templates))
	tpl := w.templates[ti]
	count := 1 + w.rng.Int64N(5000)
	p50 := 50 + w.rng.Int64N(2000)
	return sinks.MinuteRow{
		Instance:           w.instances[w.rng.IntN(len(w.instances))],
		DB:                 w.dbs[w.rng.IntN(len(w.dbs))],
		TemplateID:         templateID(tpl),
		FingerprintVersion: 1,
		Template:           tpl,
		Minute:             minute,
		Version:            1,
		Count:              count,
		LatencySumUs:       count * p50 * 11 / 10,
		LatencyMaxUs:       p50 * (5 + w.rng.Int64N(50)),
		LatencyP50Us:       p50,
		LatencyP95Us:       p50 * 3,
		LatencyP99Us:       p50 * 7,
		LockSumUs:          w.rng.Int64N(count * 10),
		RowsSentSum:        count * w.rng.Int64N(20),
		RowsExaminedSum:    count * w.rng.Int64N(2000),
		RowsAffectedSum:    count * w.rng.Int64N(2),
		Errors:             w.rng.Int64N(3),
		SampleSQL:          w.samples[ti],
	}
}

// rows returns n rows spread over minutes [from, from+minutes).
func (w *workload) rows(n int, from int64, minutes int) []sinks.MinuteRow {
	out := make([]sinks.MinuteRow, n)
	for i := range out {
		out[i] = w.row(from + int64(w.rng.IntN(minutes))*sinks.MinuteMs)
	}
	return out
}

// correct returns a correction of r: the next version with more statements.
func correct(r sinks.MinuteRow, extra int64) sinks.MinuteRow {
	r.Version++
	r.Count += extra
	r.LatencySumUs += extra * r.LatencyP50Us
	return r
}

func newWriter(t testing.TB, dir string, opts Options) *Writer {
	t.Helper()
	if opts.Prefix == "" {
		opts.Prefix = "t0"
	}
	w, err := New(dir, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w
}

// epoch writes rows as one epoch and commits it.
func epoch(t testing.TB, w *Writer, e uint64, rows []sinks.MinuteRow) sinks.Pending {
	t.Helper()
	if err := w.Write(rows); err != nil {
		t.Fatalf("Write: %v", err)
	}
	p, err := w.Precommit(e)
	if err != nil {
		t.Fatalf("Precommit(%d): %v", e, err)
	}
	if err := w.Commit(p); err != nil {
		t.Fatalf("Commit(%+v): %v", p, err)
	}
	return p
}

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func globParquet(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range m {
		m[i] = filepath.Base(m[i])
	}
	return m
}

func readDir(t testing.TB, dir string) []sinks.MinuteRow {
	t.Helper()
	rows, err := ReadDir(dir)
	if err != nil {
		t.Fatalf("ReadDir: %v", err)
	}
	return rows
}

// sameRows compares two multisets of rows.
func sameRows(t testing.TB, got, want []sinks.MinuteRow) {
	t.Helper()
	got, want = slices.Clone(got), slices.Clone(want)
	sinks.SortByKey(got)
	sinks.SortByKey(want)
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

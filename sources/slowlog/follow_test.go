package slowlog

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

const mysqlHeader = "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\nTcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\nTime                 Id Command    Argument\n"

// stmt is a complete entry whose statement is "select N".
func stmt(n int) string {
	return fmt.Sprintf("# Time: 2024-01-02T03:04:05.000000Z\n# User@Host: app[app] @  [10.0.0.7]  Id: 3\n# Query_time: 0.000100  Lock_time: 0.000000 Rows_sent: 1  Rows_examined: 1\nSET timestamp=%d;\nselect %d;\n", 1704164645+n, n)
}

func appendTo(t testing.TB, path, data string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// delivered is one entry as a follower handed it out.
type delivered struct {
	key       string // dev:ino:offset:hash
	rec       record
	committed bool // its batch's position was committed
}

// follower wraps a Follower for tests: quick polls, collected records.
type follower struct {
	t   testing.TB
	fl  *Follower
	got []delivered
	pos Position
}

func newFollower(t testing.TB, path, posFile string, mod func(*FollowOptions)) *follower {
	t.Helper()
	o := FollowOptions{Options: testOpts(), PositionFile: posFile, PollInterval: time.Millisecond, MaxWait: 2 * time.Millisecond}
	o.BatchSize = 3
	if mod != nil {
		mod(&o)
	}
	fl, err := NewFollower(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fl.Close() })
	return &follower{t: t, fl: fl}
}

// next calls Next once and records what it returned; commit saves the
// batch's position.
func (f *follower) next(commit bool) int {
	f.t.Helper()
	b, err := f.fl.Next(context.Background())
	if err != nil {
		f.t.Fatal(err)
	}
	if len(b.ItemHashes) != len(b.Items) || len(b.RejectHashes) != len(b.Rejects) {
		f.t.Fatalf("%d items, %d hashes; %d rejects, %d hashes", len(b.Items), len(b.ItemHashes), len(b.Rejects), len(b.RejectHashes))
	}
	hashes := map[int64]uint64{}
	for i, off := range b.ItemOffsets {
		hashes[off] = b.ItemHashes[i]
	}
	for i, rj := range b.Rejects {
		hashes[rj.Offset] = b.RejectHashes[i]
	}
	var recs []record
	recs = appendBatch(f.t, recs, &b.Batch)
	if b.NextOffset != b.Position.Offset {
		f.t.Fatalf("NextOffset %d != Position.Offset %d", b.NextOffset, b.Position.Offset)
	}
	for _, r := range recs {
		if r.off < b.File.Offset {
			f.t.Fatalf("record at %d before the batch's start %d", r.off, b.File.Offset)
		}
		f.got = append(f.got, delivered{key: fmt.Sprintf("%d:%d:%d:%x", b.File.Dev, b.File.Ino, r.off, hashes[r.off]), rec: r, committed: commit})
	}
	if commit {
		if err := f.fl.Commit(b.Position); err != nil {
			f.t.Fatal(err)
		}
	}
	f.pos = b.Position
	return len(recs)
}

// settle calls Next until n calls in a row return nothing.
func (f *follower) settle(commit bool) {
	f.t.Helper()
	for quiet, calls := 0, 0; quiet < 4; calls++ {
		if calls > 10000 {
			f.t.Fatalf("the follower never settles: %d statements delivered, stats %+v, last: %v", len(f.got), f.fl.Stats(), f.sqls()[max(0, len(f.got)-10):])
		}
		if f.next(commit) == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}

func (f *follower) sqls() []string {
	var out []string
	for _, d := range f.got {
		if d.rec.reason != "" {
			out = append(out, "reject:"+d.rec.reason)
		} else {
			out = append(out, string(d.rec.ev.SQL))
		}
	}
	return out
}

func selects(from, to int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf("select %d", i))
	}
	return out
}

func checkSQLs(t testing.TB, got, want []string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("delivered %d statements:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
	}
}

// TestFollowGrowingFile writes random logs in pieces cut at any byte while
// a follower reads them: it must deliver exactly what reading the finished
// file gives, every entry once.
func TestFollowGrowingFile(t *testing.T) {
	defer goleak.VerifyNone(t)
	for seed := range 4 {
		r := rand.New(rand.NewPCG(uint64(seed), 99))
		data, _ := genLog(r, 60+r.IntN(60), 64<<10)
		dir := t.TempDir()
		path := filepath.Join(dir, "db-slow.log")
		appendTo(t, path, "")
		f := newFollower(t, path, filepath.Join(dir, "pos"), func(o *FollowOptions) {
			o.MaxEntryBytes = 64 << 10
			o.ReadSize = 1 + r.IntN(4096)
		})
		for rest := data; len(rest) > 0; {
			n := min(len(rest), 1+r.IntN([]int{10, 300, 20000}[r.IntN(3)]))
			appendTo(t, path, string(rest[:n]))
			rest = rest[n:]
			f.next(false) // one call per piece: the file grows between polls
		}
		f.settle(false)
		want, _ := readAll(t, path, Options{Instance: "db1:3306", MaxEntryBytes: 64 << 10}, 0)
		var got []record
		for _, d := range f.got {
			got = append(got, d.rec)
		}
		if i, ok := sameRecords(got, want); !ok {
			t.Fatalf("seed %d: follower differs from a full read at record %d:\n%s", seed, i, firstDiff(render(got[i:]), render(want[i:])))
		}
		f.fl.Close()
	}
}

// TestFollowIdleFlush: the last entry of a quiet log is handed out once
// nothing has been appended for a poll, not only when the next one starts;
// one cut before its end is not.
func TestFollowIdleFlush(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db-slow.log")
	appendTo(t, path, mysqlHeader+stmt(1))
	f := newFollower(t, path, filepath.Join(dir, "pos"), nil)
	f.settle(false)
	checkSQLs(t, f.sqls(), selects(1, 2))
	part := stmt(2)
	appendTo(t, path, part[:len(part)-4]) // "select 2" without ";\n"
	f.settle(false)
	checkSQLs(t, f.sqls(), selects(1, 2))
	appendTo(t, path, part[len(part)-4:])
	f.settle(false)
	checkSQLs(t, f.sqls(), selects(1, 3))
}

// TestFollowRotation: logrotate's rename + create: the server keeps writing
// the renamed file until it reopens its log; the follower reads the old
// file to its end, then the new one, and says so in its stats.
func TestFollowRotation(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "db-slow.log")
	appendTo(t, path, mysqlHeader+stmt(0)+stmt(1))
	f := newFollower(t, path, filepath.Join(dir, "pos"), nil)
	f.settle(false)
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, "") // logrotate's "create": empty until the server reopens
	appendTo(t, path+".1", stmt(2))
	f.settle(false)
	appendTo(t, path+".1", stmt(3))
	f.settle(false)
	appendTo(t, path, mysqlHeader+stmt(4)) // FLUSH SLOW LOGS
	appendTo(t, path, stmt(5))
	f.settle(false)
	checkSQLs(t, f.sqls(), selects(0, 6))
	if st := f.fl.Stats(); st.Rotations != 1 || st.Truncations != 0 || st.Entries != 6 {
		t.Fatalf("stats %+v", st)
	}
	// Rotation without "create": the path is missing for a while.
	if err := os.Rename(path, path+".2"); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path+".2", stmt(6))
	f.settle(false)
	appendTo(t, path, mysqlHeader+stmt(7))
	f.settle(false)
	checkSQLs(t, f.sqls(), selects(0, 8))
	keys := map[string]bool{}
	for _, d := range f.got {
		if keys[d.key] {
			t.Fatalf("key %s delivered twice", d.key)
		}
		keys[d.key] = true
	}
	f.fl.Close()
}

// TestFollowCopyTruncate: logrotate's copytruncate: the file is copied
// away and truncated in place; the follower reads it again from the start
// (the entries' keys stay unique: same offsets, other bytes).
func TestFollowCopyTruncate(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "db-slow.log")
	appendTo(t, path, mysqlHeader+stmt(0)+stmt(1))
	f := newFollower(t, path, filepath.Join(dir, "pos"), nil)
	f.settle(false)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, stmt(2))
	f.settle(false)
	// Truncated and written past the old length between two polls: only
	// the changed first bytes tell.
	long := stmt(3) + stmt(4) + stmt(5)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, long)
	f.settle(false)
	checkSQLs(t, f.sqls(), selects(0, 6))
	if st := f.fl.Stats(); st.Truncations != 2 || st.Rotations != 0 {
		t.Fatalf("stats %+v", st)
	}
	keys := map[string]bool{}
	for _, d := range f.got {
		if keys[d.key] {
			t.Fatalf("key %s delivered twice", d.key)
		}
		keys[d.key] = true
	}
	f.fl.Close()
}

// TestFollowRestart stops a follower at random points (the last batch
// delivered but not committed, as in a crash) and starts another from the
// position file, with rotations and a truncation happening while it is
// down: every entry is delivered, and an entry delivered twice has the same
// key both times (at-least-once with an idempotency key); entries whose
// batch was committed are never delivered again.
func TestFollowRestart(t *testing.T) {
	defer goleak.VerifyNone(t)
	for seed := range 6 {
		r := rand.New(rand.NewPCG(uint64(seed), 5))
		dir := t.TempDir()
		path := filepath.Join(dir, "db-slow.log")
		posFile := filepath.Join(dir, "db.pos")
		appendTo(t, path, mysqlHeader)
		n := 0
		write := func(k int) {
			for range k {
				appendTo(t, path, stmt(n))
				n++
			}
		}
		var all []delivered
		committed := map[string]bool{}
		rotations := 0
		for round := range 6 {
			write(1 + r.IntN(6))
			f := newFollower(t, path, posFile, nil)
			// Read some batches, committing each, then maybe one more that
			// is not committed.
			for range r.IntN(4) {
				f.next(true)
			}
			write(r.IntN(3))
			if r.IntN(2) == 0 {
				f.next(false)
			}
			for _, d := range f.got {
				if committed[d.key] {
					t.Fatalf("seed %d round %d: %s (%s) was committed and is delivered again", seed, round, d.key, d.rec.ev.SQL)
				}
			}
			for _, d := range f.got {
				if d.committed {
					committed[d.key] = true
				}
			}
			all = append(all, f.got...)
			f.fl.Close()
			// While it is down: rotate by rename, or not.
			if r.IntN(3) == 0 {
				rotations++
				write(r.IntN(2))
				if err := os.Rename(path, fmt.Sprintf("%s.%d", path, rotations)); err != nil {
					t.Fatal(err)
				}
				appendTo(t, path, mysqlHeader)
			}
		}
		f := newFollower(t, path, posFile, nil)
		f.settle(true)
		all = append(all, f.got...)
		f.fl.Close()
		// Every statement, each under one key.
		byKey := map[string]string{}
		seen := map[string]bool{}
		for _, d := range all {
			sql := string(d.rec.ev.SQL)
			if prev, ok := byKey[d.key]; ok && prev != sql {
				t.Fatalf("seed %d: key %s is %q and %q", seed, d.key, prev, sql)
			}
			byKey[d.key] = sql
			seen[sql] = true
		}
		for i := range n {
			if !seen[fmt.Sprintf("select %d", i)] {
				t.Fatalf("seed %d: select %d never delivered (%d statements, %d delivered)", seed, i, n, len(seen))
			}
		}
		if len(byKey) != n {
			keysOf := map[string][]string{}
			for k, v := range byKey {
				keysOf[v] = append(keysOf[v], k)
			}
			for v, ks := range keysOf {
				if len(ks) > 1 {
					t.Errorf("seed %d: %q delivered under keys %v", seed, v, ks)
				}
			}
			t.Fatalf("seed %d: %d keys for %d statements", seed, len(byKey), n)
		}
	}
}

// TestFollowRestartLost: a log truncated or deleted while the follower was
// down is read from its start, and the stats say so.
func TestFollowRestartLost(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db-slow.log")
	posFile := filepath.Join(dir, "pos")
	appendTo(t, path, mysqlHeader+stmt(0)+stmt(1))
	f := newFollower(t, path, posFile, nil)
	f.settle(true)
	f.fl.Close()
	// Truncated (and rewritten shorter) while stopped.
	if err := os.WriteFile(path, []byte(stmt(2)), 0o644); err != nil {
		t.Fatal(err)
	}
	f = newFollower(t, path, posFile, nil)
	f.settle(true)
	checkSQLs(t, f.sqls(), selects(2, 3))
	if st := f.fl.Stats(); st.Truncations != 1 {
		t.Fatalf("stats %+v", st)
	}
	f.fl.Close()
	// Rotated and the old file deleted while stopped.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	appendTo(t, path, mysqlHeader+stmt(3))
	f = newFollower(t, path, posFile, nil)
	f.settle(true)
	checkSQLs(t, f.sqls(), selects(3, 4))
	// The new file may reuse the deleted one's inode: then it looks
	// truncated. Either way it is read from its start.
	if st := f.fl.Stats(); st.LostFiles+st.Truncations != 1 {
		t.Fatalf("stats %+v", st)
	}
	f.fl.Close()
	// A corrupt position file is an error, not a guess.
	if err := os.WriteFile(posFile, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewFollower(path, FollowOptions{Options: testOpts(), PositionFile: posFile}); !errors.Is(err, ErrBadPosition) {
		t.Fatalf("corrupt position file: %v", err)
	}
	if _, err := NewFollower(path, FollowOptions{Options: testOpts()}); err == nil {
		t.Fatal("no position file name: want an error")
	}
}

// TestFollowStartEnd: without a position, StartEnd skips what is there,
// including the end of an entry being written.
func TestFollowStartEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db-slow.log")
	half := stmt(1)
	appendTo(t, path, mysqlHeader+stmt(0)+half[:40])
	f := newFollower(t, path, filepath.Join(dir, "pos"), func(o *FollowOptions) { o.Start = StartEnd })
	appendTo(t, path, half[40:]+stmt(2))
	f.settle(false)
	checkSQLs(t, f.sqls(), selects(2, 3))
	if st := f.fl.Stats(); st.SkippedBytes != int64(len(half)-40) {
		t.Fatalf("stats %+v, want %d skipped bytes", st, len(half)-40)
	}
}

// TestFollowContext: Next returns when its context ends.
func TestFollowContext(t *testing.T) {
	defer goleak.VerifyNone(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "db-slow.log")
	appendTo(t, path, "")
	fl, err := NewFollower(path, FollowOptions{Options: testOpts(), PositionFile: filepath.Join(dir, "pos"), PollInterval: time.Hour, MaxWait: 3 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := fl.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next: %v", err)
	}
}

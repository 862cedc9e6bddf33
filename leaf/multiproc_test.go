package leaf

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Child processes: the test binary re-executes itself with childEnv set to
// a role; TestMain dispatches to childMain before running any test.
const childEnv = "LEAF_TEST_CHILD"

func childMain(role string) int {
	var err error
	switch role {
	case "segment-draw":
		err = childSegmentDraw()
	case "segment-stream":
		err = childSegmentStream()
	case "snowflake-stream":
		err = childSnowflakeStream()
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "child %s: %v\n", role, err)
		return 1
	}
	return 0
}

func envInt(name string) int {
	n, _ := strconv.Atoi(os.Getenv(name))
	return n
}

// childSegmentDraw draws LEAF_N IDs from LEAF_TAG in each of LEAF_G
// goroutines and writes them to LEAF_OUT: per goroutine, a count and the
// IDs in the order received (little-endian int64s).
func childSegmentDraw() error {
	db, err := sql.Open("mysql", os.Getenv("LEAF_DSN"))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx := context.Background()
	s, err := OpenSegment(ctx, db, SegmentOptions{})
	if err != nil {
		return err
	}
	g, n, tag := envInt("LEAF_G"), envInt("LEAF_N"), os.Getenv("LEAF_TAG")
	out := make([][]int64, g)
	errs := make(chan error, g)
	var wg sync.WaitGroup
	for i := range g {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gen := s.Tag(tag)
			for j := 0; j < n; j++ {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				id, err := gen.NextID(cctx)
				cancel()
				if err != nil {
					errs <- err
					return
				}
				out[i] = append(out[i], id)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		return err
	}
	f, err := os.Create(os.Getenv("LEAF_OUT"))
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	for _, ids := range out {
		_ = binary.Write(w, binary.LittleEndian, int64(len(ids)))
		_ = binary.Write(w, binary.LittleEndian, ids)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// childSegmentStream draws IDs forever, one line each on stdout, until it
// is killed. No Close: it models a crash.
func childSegmentStream() error {
	db, err := sql.Open("mysql", os.Getenv("LEAF_DSN"))
	if err != nil {
		return err
	}
	ctx := context.Background()
	s, err := OpenSegment(ctx, db, SegmentOptions{FixedStep: true})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	for {
		id, err := s.NextID(ctx, os.Getenv("LEAF_TAG"))
		if err != nil {
			return err
		}
		fmt.Fprintln(w, id)
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

func childCmd(t *testing.T, role string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{childEnv + "=" + role}, env...)...)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestSegmentMultiProcess: M processes × N goroutines draw from one tag at
// once. No ID is handed out twice and every caller's IDs strictly increase.
// A small step forces hundreds of concurrent segment fetches.
func TestSegmentMultiProcess(t *testing.T) {
	dsn, _ := newLeafDB(t, map[string]int64{"shared": 20})
	const procs, goroutines, perG = 3, 4, 3000
	dir := t.TempDir()
	var cmds []*exec.Cmd
	for p := range procs {
		cmd := childCmd(t, "segment-draw", "LEAF_DSN="+dsn, "LEAF_TAG=shared",
			"LEAF_G="+strconv.Itoa(goroutines), "LEAF_N="+strconv.Itoa(perG),
			"LEAF_OUT="+filepath.Join(dir, strconv.Itoa(p)))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for p, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("process %d: %v", p, err)
		}
	}
	var seqs [][]int64
	for p := range procs {
		f, err := os.Open(filepath.Join(dir, strconv.Itoa(p)))
		if err != nil {
			t.Fatal(err)
		}
		r := bufio.NewReader(f)
		for {
			var n int64
			if err := binary.Read(r, binary.LittleEndian, &n); err == io.EOF {
				break
			} else if err != nil {
				t.Fatal(err)
			}
			ids := make([]int64, n)
			if err := binary.Read(r, binary.LittleEndian, ids); err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, ids)
		}
		f.Close()
	}
	if len(seqs) != procs*goroutines {
		t.Fatalf("%d sequences, want %d", len(seqs), procs*goroutines)
	}
	all := checkUnique(t, seqs)
	if len(all) != procs*goroutines*perG {
		t.Fatalf("%d IDs, want %d", len(all), procs*goroutines*perG)
	}
}

// TestSegmentCrashRestart: a process killed with SIGKILL mid-run, then a new
// one: no ID is re-issued. The IDs skipped are at most what the killed
// process held in memory: the rest of its current segment and its
// preloaded next segment (2 × step with a fixed step).
func TestSegmentCrashRestart(t *testing.T) {
	const step = 100
	dsn, db := newLeafDB(t, map[string]int64{"t": step})
	cmd := childCmd(t, "segment-stream", "LEAF_DSN="+dsn, "LEAF_TAG=t")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	var before []int64
	for len(before) < 1234 && sc.Scan() {
		id, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, id)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	// Drain what it printed before dying: those IDs were handed out too.
	for sc.Scan() {
		id, err := strconv.ParseInt(sc.Text(), 10, 64)
		if err == nil {
			before = append(before, id)
		}
	}
	_ = cmd.Wait()

	s := openSegment(t, db, SegmentOptions{FixedStep: true})
	after, err := s.NextIDs(context.Background(), "t", 500)
	if err != nil {
		t.Fatal(err)
	}
	checkUnique(t, [][]int64{before, after})
	last, first := before[len(before)-1], after[0]
	if first <= last {
		t.Fatalf("first ID after the crash %d <= last before %d", first, last)
	}
	if skipped := first - last - 1; skipped > 2*step {
		t.Fatalf("skipped %d IDs across the crash, want at most 2 × step = %d", skipped, 2*step)
	}
}

package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// outbox is the ordered queue of sealed cuts waiting for Kafka, in k order.
// Cuts are held in memory up to memMax bytes and in spool segments up to
// diskMax bytes; when neither has room, the oldest cut that is not being
// sent is dropped (counted and logged) — the reader is never blocked by
// Kafka. The sender takes cuts from the head; the cuts it holds are always
// a prefix of the queue and are never dropped.
type outbox struct {
	spool   *spool
	journal *journal
	config  string
	memMax  int64
	diskMax int64
	stats   *stats
	log     *slog.Logger
	now     func() time.Time

	notify chan struct{} // capacity 1: a cut was pushed or the outbox closed

	mu struct {
		sync.Mutex
		q         []*cut
		taken     int // q[:taken] are held by the sender
		memBytes  int64
		diskBytes int64
		disk      map[int64]int64 // segment sizes by cut number
		closed    bool
		lastDrop  time.Time // last drop logged
		dropsLog  int64     // drops since then, not yet logged
	}
}

func newOutbox(sp *spool, j *journal, config string, memMax, diskMax int64, st *stats, log *slog.Logger, now func() time.Time) *outbox {
	o := &outbox{spool: sp, journal: j, config: config, memMax: memMax, diskMax: diskMax, stats: st, log: log, now: now,
		notify: make(chan struct{}, 1)}
	o.mu.disk = map[int64]int64{}
	return o
}

func (o *outbox) signal() {
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// settled reports whether cut k no longer needs its input: it is in the
// spool, or no longer in the outbox (acknowledged or dropped). Only cuts
// already pushed may be asked about.
func (o *outbox) settled(k int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.mu.q {
		if c.k == k {
			return c.spooled
		}
	}
	return true
}

// pushSpooled appends a cut recovered from its segment (records not
// loaded).
func (o *outbox) pushSpooled(c *cut, size int64) {
	o.mu.Lock()
	c.spooled, c.records = true, nil
	o.mu.q = append(o.mu.q, c)
	o.mu.disk[c.k] = size
	o.mu.diskBytes += size
	o.updateLocked()
	o.mu.Unlock()
	o.signal()
}

// reserveDisk makes room for a segment of size bytes for cut k, dropping
// the oldest cuts not being sent if needed. It reports false when there is
// no room even so.
func (o *outbox) reserveDisk(k, size int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reserveLocked(k, size)
}

func (o *outbox) reserveLocked(k, size int64) bool {
	for o.mu.diskBytes+size > o.diskMax {
		if !o.dropOldestLocked() {
			o.updateLocked()
			return false
		}
	}
	o.mu.disk[k] = size
	o.mu.diskBytes += size
	o.updateLocked()
	return true
}

// unreserve releases the reservation of cut k (its segment could not be
// written).
func (o *outbox) unreserve(k int64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.mu.diskBytes -= o.mu.disk[k]
	delete(o.mu.disk, k)
	o.updateLocked()
}

// push appends a sealed cut (records in memory; spooled if its segment is
// already written). Beyond memMax the cut goes to the spool; when the spool
// is full the oldest cuts are dropped, and if nothing older can be dropped,
// this one is.
func (o *outbox) push(c *cut) {
	o.mu.Lock()
	if o.mu.memBytes+c.size <= o.memMax {
		o.mu.memBytes += c.size
		c.inMem = true
		o.mu.q = append(o.mu.q, c)
		o.updateLocked()
		o.mu.Unlock()
		o.signal()
		return
	}
	if c.spooled {
		c.records = nil // its segment has it
		o.mu.q = append(o.mu.q, c)
		o.updateLocked()
		o.mu.Unlock()
		o.signal()
		return
	}
	o.mu.Unlock()

	data := o.spool.encode(c, c.records, o.config) // only the reader pushes: c is not shared yet
	o.mu.Lock()
	if !o.reserveLocked(c.k, int64(len(data))) {
		o.mu.q = append(o.mu.q, c)
		o.dropLocked(len(o.mu.q) - 1)
		o.updateLocked()
		o.mu.Unlock()
		return
	}
	o.mu.Unlock()
	if err := o.spool.write(c.k, data); err != nil {
		o.log.Error("agent: spool write failed; keeping the cut in memory", "cut", c.k, "err", err)
		o.unreserve(c.k)
		o.mu.Lock()
		o.mu.memBytes += c.size // over the bound rather than lose it
		c.inMem = true
	} else {
		o.stats.spilled.Add(1)
		o.mu.Lock()
		c.spooled, c.records = true, nil
	}
	o.mu.q = append(o.mu.q, c)
	o.updateLocked()
	o.mu.Unlock()
	o.signal()
}

// dropOldestLocked drops the oldest cut not held by the sender.
func (o *outbox) dropOldestLocked() bool {
	if o.mu.taken < len(o.mu.q) {
		o.dropLocked(o.mu.taken)
		return true
	}
	return false
}

// dropLocked removes q[i] for good: its segment is deleted, the journal
// marks it dropped, the counters move, and the drop is logged (at most one
// line per 10 s, with the number of drops since the last line).
func (o *outbox) dropLocked(i int) {
	c := o.mu.q[i]
	o.mu.q = append(o.mu.q[:i], o.mu.q[i+1:]...)
	if c.inMem {
		o.mu.memBytes -= c.size
		c.inMem = false
	}
	c.records = nil
	if size, ok := o.mu.disk[c.k]; ok {
		o.mu.diskBytes -= size
		delete(o.mu.disk, c.k)
		if err := o.spool.remove(c.k); err != nil {
			o.log.Error("agent: remove dropped segment", "cut", c.k, "err", err)
		}
	}
	if err := o.journal.append(false, entry{T: "drop", K: c.k}); err != nil {
		o.log.Error("agent: journal", "err", err)
	}
	o.stats.droppedCuts.Add(1)
	o.stats.droppedStatements.Add(c.statements)
	o.stats.droppedRecords.Add(int64(c.nrec))
	o.mu.dropsLog++
	if now := o.now(); now.Sub(o.mu.lastDrop) >= 10*time.Second {
		o.log.Warn("agent: Kafka is behind and the spool is full: dropped the oldest cuts",
			"cuts_dropped", o.mu.dropsLog, "dropped_total_statements", o.stats.droppedStatements.Load(),
			"spool_bytes", o.mu.diskBytes, "spool_max_bytes", o.diskMax)
		o.mu.lastDrop, o.mu.dropsLog = now, 0
	}
}

func (o *outbox) updateLocked() {
	o.stats.queueCuts.Store(int64(len(o.mu.q)))
	o.stats.memBytes.Store(o.mu.memBytes)
	o.stats.spoolBytes.Store(o.mu.diskBytes)
	o.stats.spoolCuts.Store(int64(len(o.mu.disk)))
}

// take waits for cuts not yet held by the sender and takes the consecutive
// ones from the head, up to maxBytes and maxRecords (at least one cut).
// Cuts that are only on disk are loaded; one whose segment cannot be read
// is lost (counted, logged). It returns nil when ctx ends or the outbox is
// closed and empty of untaken cuts.
func (o *outbox) take(ctx context.Context, maxBytes int64, maxRecords int) []*cut {
	for {
		o.mu.Lock()
		if o.mu.taken < len(o.mu.q) {
			var bytes int64
			recs := 0
			start := o.mu.taken
			end := start
			for end < len(o.mu.q) {
				c := o.mu.q[end]
				if end > start && (bytes+c.size > maxBytes || recs+c.nrec > maxRecords) {
					break
				}
				bytes += c.size
				recs += c.nrec
				end++
			}
			unit := append([]*cut(nil), o.mu.q[start:end]...)
			o.mu.taken = end
			o.mu.Unlock()
			kept := unit[:0]
			for _, c := range unit {
				if c.records == nil {
					recs, _, err := o.spool.read(c.k)
					if err != nil {
						o.lose(c, err)
						continue
					}
					c.records = recs
				}
				kept = append(kept, c)
			}
			if len(kept) == 0 {
				continue
			}
			return kept
		}
		closed := o.mu.closed
		o.mu.Unlock()
		if closed {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-o.notify:
		}
	}
}

// lose removes a taken cut whose segment cannot be read: it is counted as
// lost and logged, never retried forever.
func (o *outbox) lose(c *cut, err error) {
	o.log.Error("agent: a spooled cut cannot be read; it is lost", "cut", c.k, "statements", c.statements, "err", err)
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, q := range o.mu.q[:o.mu.taken] {
		if q == c {
			o.mu.q = append(o.mu.q[:i], o.mu.q[i+1:]...)
			o.mu.taken--
			break
		}
	}
	if size, ok := o.mu.disk[c.k]; ok {
		o.mu.diskBytes -= size
		delete(o.mu.disk, c.k)
	}
	if err := o.spool.remove(c.k); err != nil {
		o.log.Error("agent: remove unreadable segment", "cut", c.k, "err", err)
	}
	if err := o.journal.append(false, entry{T: "drop", K: c.k}); err != nil {
		o.log.Error("agent: journal", "err", err)
	}
	o.stats.lostCuts.Add(1)
	o.stats.lostStatements.Add(c.statements)
	o.updateLocked()
}

// ack removes the acknowledged unit (the head of the queue) and deletes its
// segments.
func (o *outbox) ack(unit []*cut) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range unit {
		if len(o.mu.q) == 0 || o.mu.q[0] != c {
			panic("BUG: agent: acknowledged cut is not the head of the outbox")
		}
		o.mu.q = o.mu.q[1:]
		o.mu.taken--
		if c.inMem {
			o.mu.memBytes -= c.size
			c.inMem = false
		}
		c.records = nil
		if size, ok := o.mu.disk[c.k]; ok {
			o.mu.diskBytes -= size
			delete(o.mu.disk, c.k)
			if err := o.spool.remove(c.k); err != nil {
				o.log.Error("agent: remove sent segment", "cut", c.k, "err", err)
			}
		}
	}
	o.updateLocked()
}

// untake returns the held cuts to the queue (shutdown while sending).
func (o *outbox) untake() {
	o.mu.Lock()
	o.mu.taken = 0
	o.mu.Unlock()
}

// empty reports whether every pushed cut was acknowledged or dropped.
func (o *outbox) empty() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.mu.q) == 0
}

// close wakes a waiting take; it returns nil once the queue is drained.
func (o *outbox) close() {
	o.mu.Lock()
	o.mu.closed = true
	o.mu.Unlock()
	o.signal()
}

// spillAll writes every cut not held by the sender whose records are only
// in memory to the spool, as long as the spool has room: nothing is dropped
// for it (cuts of a replayable input that do not fit are re-read after a
// restart). It holds the lock throughout; it runs at shutdown and when the
// input moves to a new stream, both rare.
func (o *outbox) spillAll() (spilled, left int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, c := range o.mu.q[o.mu.taken:] {
		if c.spooled || c.records == nil {
			continue
		}
		data := o.spool.encode(c, c.records, o.config)
		if o.mu.diskBytes+int64(len(data)) > o.diskMax {
			left++
			continue
		}
		if err := o.spool.write(c.k, data); err != nil {
			o.log.Error("agent: spool", "cut", c.k, "err", err)
			left++
			continue
		}
		o.mu.disk[c.k] = int64(len(data))
		o.mu.diskBytes += int64(len(data))
		c.spooled = true
		spilled++
	}
	o.updateLocked()
	return spilled, left
}

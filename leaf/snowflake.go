package leaf

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
)

// Layout is the bit layout of a snowflake ID: from the top, a zero sign
// bit, the milliseconds since Epoch (63 - WorkerBits - SequenceBits bits,
// at least 41, i.e. 69 years), the worker id and the sequence.
type Layout struct {
	Epoch        time.Time
	WorkerBits   int
	SequenceBits int
}

// TimestampBits is the width of the timestamp field.
func (l Layout) TimestampBits() int { return 63 - l.WorkerBits - l.SequenceBits }

// MaxWorkers is the number of worker ids the layout has room for.
func (l Layout) MaxWorkers() int64 { return 1 << l.WorkerBits }

func (l Layout) validate() error {
	if l.WorkerBits < 1 || l.SequenceBits < 1 || l.WorkerBits+l.SequenceBits > 22 {
		return fmt.Errorf("leaf: snowflake layout: WorkerBits %d and SequenceBits %d must each be >= 1 and together <= 22 (the timestamp keeps >= 41 bits)",
			l.WorkerBits, l.SequenceBits)
	}
	return nil
}

// Compose builds the ID for unix millisecond ms, worker and seq. It does not
// check ranges; callers do.
func (l Layout) Compose(ms, worker, seq int64) int64 {
	return (ms-l.Epoch.UnixMilli())<<(l.WorkerBits+l.SequenceBits) | worker<<l.SequenceBits | seq
}

// Decode splits an ID made with this layout into its timestamp, worker id
// and sequence.
func (l Layout) Decode(id int64) (ts time.Time, worker, seq int64) {
	seq = id & (1<<l.SequenceBits - 1)
	worker = (id >> l.SequenceBits) & (1<<l.WorkerBits - 1)
	ms := id>>(l.WorkerBits+l.SequenceBits) + l.Epoch.UnixMilli()
	return time.UnixMilli(ms).UTC(), worker, seq
}

// DefaultEpoch returns the default snowflake epoch, 2020-01-01T00:00:00Z.
func DefaultEpoch() time.Time { return time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) }

// SnowflakeOptions configures a Snowflake generator. The zero value of every
// field means its default.
type SnowflakeOptions struct {
	// Epoch is the origin of the timestamp field. Default DefaultEpoch(). It
	// must not be in the future.
	Epoch time.Time
	// WorkerBits and SequenceBits size the worker id and sequence fields.
	// Defaults 10 and 12 (1024 workers, 4096 IDs per ms per worker);
	// together at most 22.
	WorkerBits, SequenceBits int

	// Namespace separates independent fleets sharing one leaf_worker table.
	// Default "default". All processes of a namespace must use one Layout.
	Namespace string
	// Owner names this process in leaf_worker; on start, an expired lease of
	// the same owner is preferred. Default "hostname:pid".
	Owner string

	// LeaseTTL is how long a worker-id lease lasts without renewal. Default
	// 10 s. Heartbeat is the renewal interval, default LeaseTTL/4.
	// SafetyMargin: the generator stops issuing IDs once the lease age on
	// the monotonic clock (measured from before the renewal was sent)
	// reaches LeaseTTL - SafetyMargin. Default LeaseTTL/5.
	LeaseTTL, Heartbeat, SafetyMargin time.Duration

	// MaxBackwards is the largest backwards clock step waited out while
	// running (Leaf's 5 ms); larger steps fail with ErrClockBackwards.
	// Default 5 ms.
	MaxBackwards time.Duration
	// MaxStartWait is how far the clock may be behind the timestamp
	// persisted for the worker id at start and still be waited out; beyond
	// it OpenSnowflake refuses to start. Default 5 s.
	MaxStartWait time.Duration

	// SequenceOffsetRange: each millisecond's sequence starts at a random
	// offset in [0, SequenceOffsetRange), so that IDs used as shard keys do
	// not all fall in the low residues of "mod N" at low rates. It costs
	// up to that much of the millisecond's capacity. Default half the
	// sequence space; 1 starts every millisecond at 0.
	SequenceOffsetRange int64
	// Seed seeds the offset generator. Default: random.
	Seed uint64

	// Clock is the time source. Default SystemClock().
	Clock Clock
	// Registerer receives the leaf_snowflake_* metrics, unregistered by
	// Close. Default: no metrics.
	Registerer prometheus.Registerer
}

func (o SnowflakeOptions) withDefaults() (SnowflakeOptions, error) {
	if o.Epoch.IsZero() {
		o.Epoch = DefaultEpoch()
	}
	if o.WorkerBits == 0 {
		o.WorkerBits = 10
	}
	if o.SequenceBits == 0 {
		o.SequenceBits = 12
	}
	if err := (Layout{o.Epoch, o.WorkerBits, o.SequenceBits}).validate(); err != nil {
		return o, err
	}
	if o.Namespace == "" {
		o.Namespace = "default"
	}
	if len(o.Namespace) > 64 {
		return o, fmt.Errorf("leaf: Namespace %q longer than 64 bytes", o.Namespace)
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		o.Owner = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	if len(o.Owner) > 255 {
		o.Owner = o.Owner[:255]
	}
	if o.LeaseTTL == 0 {
		o.LeaseTTL = 10 * time.Second
	}
	if o.LeaseTTL < 10*time.Millisecond {
		return o, fmt.Errorf("leaf: LeaseTTL %v below 10ms", o.LeaseTTL)
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = o.LeaseTTL / 4
	}
	if o.SafetyMargin == 0 {
		o.SafetyMargin = o.LeaseTTL / 5
	}
	if o.SafetyMargin < 0 || o.SafetyMargin >= o.LeaseTTL || o.Heartbeat <= 0 || o.Heartbeat >= o.LeaseTTL-o.SafetyMargin {
		return o, fmt.Errorf("leaf: need 0 <= SafetyMargin (%v) < LeaseTTL (%v) and 0 < Heartbeat (%v) < LeaseTTL - SafetyMargin",
			o.SafetyMargin, o.LeaseTTL, o.Heartbeat)
	}
	if o.MaxBackwards == 0 {
		o.MaxBackwards = 5 * time.Millisecond
	}
	if o.MaxStartWait == 0 {
		o.MaxStartWait = 5 * time.Second
	}
	if o.MaxBackwards < 0 || o.MaxStartWait < 0 {
		return o, errors.New("leaf: MaxBackwards and MaxStartWait must not be negative")
	}
	seqSpace := int64(1) << o.SequenceBits
	if o.SequenceOffsetRange == 0 {
		o.SequenceOffsetRange = max(seqSpace/2, 1)
	}
	if o.SequenceOffsetRange < 1 || o.SequenceOffsetRange > seqSpace {
		return o, fmt.Errorf("leaf: SequenceOffsetRange %d out of range [1, %d]", o.SequenceOffsetRange, seqSpace)
	}
	if o.Clock == nil {
		o.Clock = SystemClock()
	}
	if o.Epoch.After(o.Clock.Now()) {
		return o, fmt.Errorf("leaf: snowflake Epoch %v is in the future", o.Epoch)
	}
	return o, nil
}

// Snowflake is the snowflake-mode generator: IDs are composed from the
// time, a worker id leased from leaf_worker, and a per-millisecond
// sequence. It needs the database only to hold its lease: a heartbeat
// renews it every Heartbeat, and the generator fences itself (ErrLeaseExpired)
// once the lease age on the monotonic clock reaches LeaseTTL - SafetyMargin,
// so a process paused past its lease (GC, VM freeze, SIGSTOP) cannot issue
// IDs with a worker id that another process took over meanwhile.
//
// The tag argument of NextID is accepted for interface compatibility and
// ignored: IDs are unique across tags.
type Snowflake struct {
	db     *sql.DB
	opts   SnowflakeOptions
	layout Layout

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // heartbeat

	mu struct {
		sync.Mutex // guards the fields below; never held across I/O
		rng        *mrand.Rand
		lastMs     int64 // unix ms of the last ID (or the persisted floor)
		seq        int64
		lease      lease
		valid      bool // lease held and not fenced
		closed     bool
		lastErr    error // last lease error, for status
		issued     int64
		backwards  int64 // refused backwards steps
		renewals   int64
		renewFails int64
		leaseLost  int64
	}
	metrics *snowflakeMetrics
}

type lease struct {
	worker    int64
	token     int64
	renewedAt time.Duration // Clock.Mono() before the renewal was sent
	fenceAt   time.Duration // renewedAt + TTL - SafetyMargin
	horizonMs int64         // no ID may carry a later unix ms
}

// OpenSnowflake acquires a worker id in db's leaf_worker table (see
// Migrate) and starts the heartbeat. It fails with ErrNoWorkerID when all
// ids are leased, and with a *ClockBackwardsError when the clock is behind
// the timestamp persisted for the worker id by more than MaxStartWait.
func OpenSnowflake(ctx context.Context, db *sql.DB, opts SnowflakeOptions) (*Snowflake, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Snowflake{db: db, opts: o, layout: Layout{o.Epoch, o.WorkerBits, o.SequenceBits}}
	seed := o.Seed
	if seed == 0 {
		var b [8]byte
		_, _ = rand.Read(b[:])
		seed = binary.LittleEndian.Uint64(b[:])
	}
	s.mu.rng = mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	l, floor, err := s.acquire(ctx)
	if err != nil {
		return nil, err
	}
	s.mu.lastMs = floor // release persists at least the previous holder's floor
	// Wait until the clock passes the persisted timestamp (bounded by
	// MaxStartWait in acquire).
	if d := time.Duration(floor-o.Clock.Now().UnixMilli()) * time.Millisecond; d > 0 {
		if err := o.Clock.Sleep(ctx, d+time.Millisecond); err != nil {
			s.release(context.WithoutCancel(ctx), l)
			return nil, err
		}
	}
	s.mu.lease, s.mu.valid = l, true
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if o.Registerer != nil {
		s.metrics = newSnowflakeMetrics(s)
		if err := o.Registerer.Register(s.metrics); err != nil {
			s.Close()
			return nil, fmt.Errorf("leaf: register metrics: %w", err)
		}
	}
	s.wg.Add(1)
	go s.heartbeat()
	return s, nil
}

// Layout returns the generator's bit layout, to decode its IDs.
func (s *Snowflake) Layout() Layout { return s.layout }

// NextID returns the next ID. tag is ignored.
func (s *Snowflake) NextID(ctx context.Context, tag string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.nextLocked(ctx)
}

// NextIDs returns n IDs in increasing order. tag is ignored.
func (s *Snowflake) NextIDs(ctx context.Context, tag string, n int) ([]int64, error) {
	if n < 1 {
		return nil, ErrInvalidCount
	}
	out := make([]int64, 0, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		id, err := s.nextLocked(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, nil
}

// nextLocked composes one ID. s.mu must be held. It may sleep (holding the
// lock: every other caller would wait for the same clock anyway) to wait
// out a small backwards step or a full millisecond.
func (s *Snowflake) nextLocked(ctx context.Context) (int64, error) {
	o := &s.opts
	waited := false
	for {
		if s.mu.closed {
			return 0, ErrClosed
		}
		// Read the wall clock before checking the fence: an ID whose
		// timestamp was read before the fence time is covered by the lease.
		now := o.Clock.Now().UnixMilli()
		l := &s.mu.lease
		if !s.mu.valid {
			return 0, fmt.Errorf("%w (worker %d): %v", ErrLeaseExpired, l.worker, s.mu.lastErr)
		}
		if mono := o.Clock.Mono(); mono >= l.fenceAt {
			s.mu.valid = false
			s.mu.lastErr = fmt.Errorf("lease age %v reached LeaseTTL - SafetyMargin (%v) without renewal", mono-l.renewedAt, o.LeaseTTL-o.SafetyMargin)
			return 0, fmt.Errorf("%w (worker %d): %v", ErrLeaseExpired, l.worker, s.mu.lastErr)
		}
		if now > l.horizonMs {
			// The wall clock jumped past what the lease covers: wait for
			// the next renewal to move the horizon.
			return 0, fmt.Errorf("%w (worker %d): wall clock %d is past the lease horizon %d", ErrLeaseExpired, l.worker, now, l.horizonMs)
		}
		if now < s.mu.lastMs {
			back := time.Duration(s.mu.lastMs-now) * time.Millisecond
			if back > o.MaxBackwards || waited {
				s.mu.backwards++
				return 0, &ClockBackwardsError{Behind: back, WorkerID: l.worker}
			}
			waited = true
			if err := o.Clock.Sleep(ctx, 2*back); err != nil {
				return 0, err
			}
			continue
		}
		if now == s.mu.lastMs {
			if s.mu.seq+1 >= 1<<o.SequenceBits {
				// This millisecond is full: wait for the next.
				if err := o.Clock.Sleep(ctx, 100*time.Microsecond); err != nil {
					return 0, err
				}
				continue
			}
			s.mu.seq++
		} else {
			s.mu.lastMs = now
			s.mu.seq = s.mu.rng.Int64N(o.SequenceOffsetRange)
		}
		rel := now - o.Epoch.UnixMilli()
		if rel < 0 || rel >= 1<<s.layout.TimestampBits() {
			return 0, fmt.Errorf("leaf: snowflake timestamp %d ms since epoch outside the %d-bit field", rel, s.layout.TimestampBits())
		}
		s.mu.issued++
		return s.layout.Compose(now, l.worker, s.mu.seq), nil
	}
}

// acquire leases a worker id and returns it with the persisted timestamp
// floor. Concurrent acquirers collide on inserts of the same new id
// (duplicate key) or on InnoDB gap locks (deadlock); those are retried.
func (s *Snowflake) acquire(ctx context.Context) (lease, int64, error) {
	for attempt := 1; ; attempt++ {
		l, floor, err := s.acquireOnce(ctx)
		var me *mysql.MySQLError
		if err == nil || attempt == 10 || !errors.As(err, &me) || (me.Number != 1062 && me.Number != 1213 && me.Number != 1205) {
			return l, floor, err
		}
		if err := s.opts.Clock.Sleep(ctx, time.Duration(1+mrand.IntN(20*attempt))*time.Millisecond); err != nil {
			return lease{}, 0, err
		}
	}
}

// acquireOnce is one acquisition transaction. It prefers an expired lease
// of the same owner, then the lowest expired id, then the lowest unused id.
func (s *Snowflake) acquireOnce(ctx context.Context) (lease, int64, error) {
	o := &s.opts
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return lease{}, 0, fmt.Errorf("leaf: acquire worker id: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT worker_id, owner, expires_at <= UTC_TIMESTAMP(3), last_ts_ms
FROM leaf_worker WHERE namespace = ? FOR UPDATE`, o.Namespace)
	if err != nil {
		return lease{}, 0, fmt.Errorf("leaf: acquire worker id: %w", err)
	}
	used := map[int64]bool{}
	pick, pickOwn := int64(-1), false
	var pickTs int64
	for rows.Next() {
		var id, ts int64
		var owner string
		var expired bool
		if err := rows.Scan(&id, &owner, &expired, &ts); err != nil {
			rows.Close()
			return lease{}, 0, fmt.Errorf("leaf: acquire worker id: %w", err)
		}
		used[id] = true
		if !expired || id >= s.layout.MaxWorkers() {
			continue
		}
		own := owner == o.Owner
		if pick < 0 || (own && !pickOwn) || (own == pickOwn && id < pick) {
			pick, pickOwn, pickTs = id, own, ts
		}
	}
	if err := rows.Close(); err != nil {
		return lease{}, 0, fmt.Errorf("leaf: acquire worker id: %w", err)
	}
	exists := pick >= 0
	if !exists {
		for id := int64(0); id < s.layout.MaxWorkers(); id++ {
			if !used[id] {
				pick = id
				break
			}
		}
	}
	if pick < 0 {
		return lease{}, 0, fmt.Errorf("%w: all %d worker ids of namespace %q are leased", ErrNoWorkerID, s.layout.MaxWorkers(), o.Namespace)
	}
	now := o.Clock.Now()
	if behind := time.Duration(pickTs-now.UnixMilli()) * time.Millisecond; behind > o.MaxStartWait {
		return lease{}, 0, &ClockBackwardsError{Behind: behind, AtStart: true, WorkerID: pick}
	}
	var tokBuf [8]byte
	_, _ = rand.Read(tokBuf[:])
	token := int64(binary.LittleEndian.Uint64(tokBuf[:]) >> 1)
	renewedAt := o.Clock.Mono()
	horizon := now.UnixMilli() + o.LeaseTTL.Milliseconds()
	ttlUs := o.LeaseTTL.Microseconds()
	if exists {
		_, err = tx.ExecContext(ctx, `UPDATE leaf_worker SET owner = ?, token = ?,
expires_at = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, last_ts_ms = GREATEST(last_ts_ms, ?), heartbeats = 0
WHERE namespace = ? AND worker_id = ?`, o.Owner, token, ttlUs, horizon, o.Namespace, pick)
	} else {
		_, err = tx.ExecContext(ctx, `INSERT INTO leaf_worker (namespace, worker_id, owner, token, expires_at, last_ts_ms)
VALUES (?, ?, ?, ?, UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND, ?)`, o.Namespace, pick, o.Owner, token, ttlUs, horizon)
	}
	if err != nil {
		return lease{}, 0, fmt.Errorf("leaf: acquire worker id %d: %w", pick, err)
	}
	if err := tx.Commit(); err != nil {
		return lease{}, 0, fmt.Errorf("leaf: acquire worker id %d: %w", pick, err)
	}
	return lease{
		worker: pick, token: token, renewedAt: renewedAt,
		fenceAt: renewedAt + o.LeaseTTL - o.SafetyMargin, horizonMs: max(horizon, pickTs),
	}, pickTs, nil
}

// heartbeat renews the lease every Heartbeat and re-acquires one (maybe a
// different worker id) when it was lost.
func (s *Snowflake) heartbeat() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.Heartbeat)
		s.renewOrReacquire(ctx)
		cancel()
	}
}

func (s *Snowflake) renewOrReacquire(ctx context.Context) {
	o := &s.opts
	s.mu.Lock()
	l := s.mu.lease
	s.mu.Unlock()
	renewedAt := o.Clock.Mono()
	horizon := o.Clock.Now().UnixMilli() + o.LeaseTTL.Milliseconds()
	// The token is the lease: while it is ours nobody else holds the id,
	// so renewing after the expiry time is safe too.
	res, err := s.db.ExecContext(ctx, `UPDATE leaf_worker SET expires_at = UTC_TIMESTAMP(3) + INTERVAL ? MICROSECOND,
last_ts_ms = GREATEST(last_ts_ms, ?), heartbeats = heartbeats + 1
WHERE namespace = ? AND worker_id = ? AND token = ?`, o.LeaseTTL.Microseconds(), horizon, o.Namespace, l.worker, l.token)
	var n int64
	if err == nil {
		n, err = res.RowsAffected()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return
	}
	if err != nil {
		s.mu.renewFails++
		s.mu.lastErr = fmt.Errorf("renew lease: %w", err)
		return // the fence stops hand-outs if this goes on
	}
	if n == 1 {
		s.mu.renewals++
		ll := &s.mu.lease
		if ll.token == l.token {
			ll.renewedAt, ll.fenceAt = renewedAt, renewedAt+o.LeaseTTL-o.SafetyMargin
			ll.horizonMs = max(ll.horizonMs, horizon)
			s.mu.valid, s.mu.lastErr = true, nil
		}
		return
	}
	// Taken over: stop at once and look for another id.
	s.mu.leaseLost++
	s.mu.valid = false
	s.mu.lastErr = fmt.Errorf("worker id %d was taken over by another process", l.worker)
	s.mu.Unlock()
	nl, floor, err := s.acquire(ctx)
	s.mu.Lock()
	if s.mu.closed {
		if err == nil {
			s.mu.Unlock()
			s.release(ctx, nl)
			s.mu.Lock()
		}
		return
	}
	if err != nil {
		s.mu.lastErr = fmt.Errorf("worker id %d was taken over; re-acquire: %w", l.worker, err)
		return
	}
	s.mu.lease, s.mu.valid, s.mu.lastErr = nl, true, nil
	s.mu.lastMs = max(s.mu.lastMs, floor)
}

// release ends lease l, persisting the last timestamp this process issued
// so the next holder may start at once.
func (s *Snowflake) release(ctx context.Context, l lease) error {
	s.mu.Lock()
	last := s.mu.lastMs
	s.mu.Unlock()
	_, err := s.db.ExecContext(ctx, `UPDATE leaf_worker SET expires_at = UTC_TIMESTAMP(3), last_ts_ms = ?
WHERE namespace = ? AND worker_id = ? AND token = ?`, last, s.opts.Namespace, l.worker, l.token)
	if err != nil {
		return fmt.Errorf("leaf: release worker id %d: %w", l.worker, err)
	}
	return nil
}

// Close stops the heartbeat, makes later calls fail with ErrClosed, and
// releases the lease (so the worker id is free at once). The generator is
// closed even when an error is returned.
func (s *Snowflake) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	valid, l := s.mu.valid, s.mu.lease
	s.mu.valid = false
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
	if s.metrics != nil {
		s.opts.Registerer.Unregister(s.metrics)
	}
	if !valid {
		return nil // fenced or taken over: the row is not ours to touch
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.release(ctx, l)
}

// SnowflakeStatus is a snapshot of the generator, for the status page.
type SnowflakeStatus struct {
	Namespace, Owner string
	WorkerID         int64
	Layout           Layout
	// LeaseValid is false while fenced, taken over or closed.
	LeaseValid bool
	// LeaseAge is the time since the last successful renewal was sent;
	// FenceIn the time left before the generator fences itself.
	LeaseAge, FenceIn time.Duration
	LastTimestamp     time.Time
	Issued            int64
	ClockBackwards    int64
	Renewals          int64
	RenewFailures     int64
	LeaseLost         int64
	LastError         string
}

// Status returns a snapshot of the generator.
func (s *Snowflake) Status() SnowflakeStatus {
	mono := s.opts.Clock.Mono()
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SnowflakeStatus{
		Namespace: s.opts.Namespace, Owner: s.opts.Owner, WorkerID: s.mu.lease.worker,
		Layout: s.layout, LeaseValid: s.mu.valid && mono < s.mu.lease.fenceAt,
		LeaseAge: mono - s.mu.lease.renewedAt, FenceIn: max(s.mu.lease.fenceAt-mono, 0),
		LastTimestamp: time.UnixMilli(s.mu.lastMs).UTC(), Issued: s.mu.issued,
		ClockBackwards: s.mu.backwards, Renewals: s.mu.renewals, RenewFailures: s.mu.renewFails,
		LeaseLost: s.mu.leaseLost,
	}
	if s.mu.lastErr != nil {
		st.LastError = s.mu.lastErr.Error()
	}
	return st
}

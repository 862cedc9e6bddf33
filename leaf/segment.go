package leaf

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
)

// SegmentOptions configures a Segment generator. The zero value of every
// field means its default.
type SegmentOptions struct {
	// PreloadThreshold is the fraction of the current segment that is used
	// when the next segment is requested from the database in the
	// background. Range (0, 1]. Default 0.1 (Leaf's: load at 10% used).
	PreloadThreshold float64

	// FixedStep disables the dynamic step: every segment is the table's
	// step long. Default false.
	FixedStep bool
	// MaxStep caps the dynamic step. Default 1,000,000 (Leaf's). A table
	// step above it is used as is.
	MaxStep int64
	// SegmentDuration is the dynamic step's target: when the time between
	// two segment loads is under SegmentDuration the step doubles (up to
	// MaxStep); over twice SegmentDuration it halves (never below the
	// table's step). Default 15 minutes (Leaf's).
	SegmentDuration time.Duration

	// RefreshInterval is how often the tag list is re-read from leaf_alloc
	// so that tags added (or removed, or whose step changed) are picked up
	// without a restart. Default 1 minute. A request for a tag not in the
	// cache also triggers a re-read, at most once per MissRefreshInterval.
	RefreshInterval time.Duration
	// MissRefreshInterval rate-limits the re-reads triggered by unknown
	// tags. Default 1 second.
	MissRefreshInterval time.Duration

	// DefaultWait is how long a call whose context has no deadline waits for
	// a segment when both are used up. Default 1 second. A context with a
	// deadline waits up to its deadline instead.
	DefaultWait time.Duration
	// LoadTimeout bounds one segment fetch. Default 5 seconds.
	LoadTimeout time.Duration
	// RetryBackoff is the delay before retrying a failed fetch; it doubles
	// up to MaxRetryBackoff while the fetches keep failing. Defaults 10 ms
	// and 500 ms.
	RetryBackoff, MaxRetryBackoff time.Duration

	// KeepUnusedOnClose, when set, makes Close leave the unused IDs of the
	// held segments skipped. By default Close gives them back when this
	// process holds the highest segment of a tag (a compare-and-set on
	// max_id), so a clean restart skips no IDs.
	KeepUnusedOnClose bool
	// CloseTimeout bounds the database work of Close. Default 5 seconds.
	CloseTimeout time.Duration

	// Clock is the time source (step rule, runway). Default SystemClock().
	Clock Clock
	// Registerer receives the generator's metrics (leaf_segment_*); they
	// are unregistered by Close. Default: no metrics.
	Registerer prometheus.Registerer
}

func (o SegmentOptions) withDefaults() (SegmentOptions, error) {
	if o.PreloadThreshold == 0 {
		o.PreloadThreshold = 0.1
	}
	if !(o.PreloadThreshold > 0 && o.PreloadThreshold <= 1) {
		return o, fmt.Errorf("leaf: PreloadThreshold %v out of range (0, 1]", o.PreloadThreshold)
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d == 0 {
			*d = v
		}
		if *d < 0 {
			return fmt.Errorf("leaf: %s %v must not be negative", name, *d)
		}
		return nil
	}
	for _, e := range []error{
		def(&o.SegmentDuration, 15*time.Minute, "SegmentDuration"),
		def(&o.RefreshInterval, time.Minute, "RefreshInterval"),
		def(&o.MissRefreshInterval, time.Second, "MissRefreshInterval"),
		def(&o.DefaultWait, time.Second, "DefaultWait"),
		def(&o.LoadTimeout, 5*time.Second, "LoadTimeout"),
		def(&o.RetryBackoff, 10*time.Millisecond, "RetryBackoff"),
		def(&o.MaxRetryBackoff, 500*time.Millisecond, "MaxRetryBackoff"),
		def(&o.CloseTimeout, 5*time.Second, "CloseTimeout"),
	} {
		if e != nil {
			return o, e
		}
	}
	if o.MaxStep == 0 {
		o.MaxStep = 1_000_000
	}
	if o.MaxStep < 1 || o.MaxStep > maxTableStep*(1<<16) {
		return o, fmt.Errorf("leaf: MaxStep %d out of range [1, %d]", o.MaxStep, int64(maxTableStep)*(1<<16))
	}
	if o.MaxRetryBackoff < o.RetryBackoff {
		o.MaxRetryBackoff = o.RetryBackoff
	}
	if o.Clock == nil {
		o.Clock = SystemClock()
	}
	return o, nil
}

// Segment is the segment-mode generator (Leaf-segment): for each biz_tag
// of leaf_alloc it holds the current segment and, once the current one is
// PreloadThreshold used, the next one, fetched by the tag's loader
// goroutine. IDs are handed out from memory with one atomic add.
//
// A Segment is safe for concurrent use. Close stops its goroutines.
type Segment struct {
	db    *sql.DB
	opts  SegmentOptions
	fetch *sql.Stmt // UPDATE ... LAST_INSERT_ID(max_id + ?): one round trip

	// tags is the read-only snapshot the fast path looks tags up in; it is
	// replaced (copy on write) under mu.
	tags atomic.Pointer[map[string]*tagBuffer]
	// last is the buffer NextID served last (a lookup cache; may be stale,
	// so users check its tag and removed flag).
	last atomic.Pointer[lastHit]

	ctx    context.Context // cancelled by Close; parent of every loader's
	cancel context.CancelFunc
	wg     sync.WaitGroup // refresher and loaders
	closed atomic.Bool

	mu struct {
		sync.Mutex                      // guards the fields below and replacing tags; not held across I/O
		lastMissRefresh   time.Duration // Clock.Mono() of the last miss-triggered re-read
		refreshInProgress chan struct{} // closed when the running refresh ends
	}
	metrics *segmentMetrics
}

// OpenSegment opens the segment generator on db, whose current database
// holds leaf_alloc (see Migrate). It reads the tag list once and fails if
// that read fails. db stays owned by the caller and must outlive the
// Segment.
func OpenSegment(ctx context.Context, db *sql.DB, opts SegmentOptions) (*Segment, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	fetch, err := db.PrepareContext(ctx, "UPDATE leaf_alloc SET max_id = LAST_INSERT_ID(max_id + ?) WHERE biz_tag = ?")
	if err != nil {
		return nil, fmt.Errorf("leaf: prepare segment fetch: %w", err)
	}
	s := &Segment{db: db, opts: o, fetch: fetch}
	s.mu.lastMissRefresh = o.Clock.Mono() - o.MissRefreshInterval
	s.ctx, s.cancel = context.WithCancel(context.Background())
	empty := map[string]*tagBuffer{}
	s.tags.Store(&empty)
	if err := s.refresh(ctx); err != nil {
		s.cancel()
		fetch.Close()
		return nil, err
	}
	if o.Registerer != nil {
		s.metrics = newSegmentMetrics(s)
		if err := o.Registerer.Register(s.metrics); err != nil {
			s.Close()
			return nil, fmt.Errorf("leaf: register metrics: %w", err)
		}
	}
	s.wg.Add(1)
	go s.refresher()
	return s, nil
}

// NextID returns the next ID of tag.
func (s *Segment) NextID(ctx context.Context, tag string) (int64, error) {
	// A one-entry cache of the last tag served saves the map lookup (about
	// 14 ns) for callers that use one tag; the map is the fallback.
	var b *tagBuffer
	if h := s.last.Load(); h != nil && sameString(h.tag, tag) && !h.b.removed.Load() {
		b = h.b
	} else {
		var err error
		if b, err = s.lookup(ctx, tag); err != nil {
			return 0, err
		}
		// Keep the caller's string: a caller passing the same string again
		// (a constant) matches on the pointer, without comparing bytes.
		s.last.Store(&lastHit{tag: tag, b: b})
	}
	if r := b.cur.Load(); r != nil {
		v := r.pos.Add(1) - 1
		if v < r.max {
			if v >= r.trigger && !r.requested.Load() {
				b.request(r)
			}
			return v, nil
		}
	}
	ids, err := b.take(ctx, nil, 1)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// NextIDs returns n IDs of tag in increasing order.
func (s *Segment) NextIDs(ctx context.Context, tag string, n int) ([]int64, error) {
	return s.AppendIDs(ctx, make([]int64, 0, max(n, 0)), tag, n)
}

// AppendIDs appends n IDs of tag to dst in increasing order. On error dst
// is returned unchanged; IDs taken before the error are skipped.
func (s *Segment) AppendIDs(ctx context.Context, dst []int64, tag string, n int) ([]int64, error) {
	if n < 1 {
		return dst, ErrInvalidCount
	}
	b, err := s.lookup(ctx, tag)
	if err != nil {
		return dst, err
	}
	return b.take(ctx, dst, n)
}

// Tag returns the IDGen for tag. Its NextID skips the tag lookup; it
// re-resolves the tag if it is removed and re-added.
func (s *Segment) Tag(tag string) *SegmentTag { return &SegmentTag{s: s, tag: tag} }

// SegmentTag is a Segment with a tag bound. It implements IDGen.
type SegmentTag struct {
	s   *Segment
	tag string
	b   atomic.Pointer[tagBuffer]
}

// NextID returns the next ID of the bound tag.
func (t *SegmentTag) NextID(ctx context.Context) (int64, error) {
	b := t.b.Load()
	if b != nil {
		if r := b.cur.Load(); r != nil {
			v := r.pos.Add(1) - 1
			if v < r.max {
				if v >= r.trigger && !r.requested.Load() {
					b.request(r)
				}
				return v, nil
			}
		}
	}
	ids, err := t.NextIDs(ctx, 1)
	if err != nil {
		return 0, err
	}
	return ids[0], nil
}

// NextIDs returns n IDs of the bound tag in increasing order.
func (t *SegmentTag) NextIDs(ctx context.Context, n int) ([]int64, error) {
	if n < 1 {
		return nil, ErrInvalidCount
	}
	for attempt := 0; ; attempt++ {
		b := t.b.Load()
		if b == nil || b.removed.Load() {
			var err error
			if b, err = t.s.lookup(ctx, t.tag); err != nil {
				return nil, err
			}
			t.b.Store(b)
		}
		ids, err := b.take(ctx, make([]int64, 0, n), n)
		if errors.Is(err, ErrTagNotFound) && attempt == 0 {
			continue // removed under us: look it up once more
		}
		return ids, err
	}
}

// lookup returns the buffer of tag, re-reading the tag list if it is not
// cached (rate-limited by MissRefreshInterval).
func (s *Segment) lookup(ctx context.Context, tag string) (*tagBuffer, error) {
	if b := (*s.tags.Load())[tag]; b != nil {
		return b, nil
	}
	if s.closed.Load() {
		return nil, ErrClosed
	}
	if err := validTag(tag); err != nil {
		return nil, err
	}
	s.mu.Lock()
	wait := s.mu.refreshInProgress
	now := s.opts.Clock.Mono()
	run := wait == nil && now-s.mu.lastMissRefresh >= s.opts.MissRefreshInterval
	if run {
		s.mu.lastMissRefresh = now
	}
	s.mu.Unlock()
	switch {
	case run:
		rctx, cancel := context.WithTimeout(ctx, s.opts.LoadTimeout)
		err := s.refresh(rctx)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("leaf: tag %q not cached and the tag list cannot be read: %w", tag, err)
		}
	case wait != nil:
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if b := (*s.tags.Load())[tag]; b != nil {
		return b, nil
	}
	return nil, fmt.Errorf("%w: %q", ErrTagNotFound, tag)
}

func (s *Segment) refresher() {
	defer s.wg.Done()
	t := time.NewTicker(s.opts.RefreshInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(s.ctx, s.opts.LoadTimeout)
			_ = s.refresh(ctx) // a failed re-read keeps the cached tags; the next tick retries
			cancel()
		}
	}
}

// refresh re-reads the tag list: new tags get a buffer and a loader,
// removed tags are fenced and their loaders stopped, steps are updated.
// Only one refresh runs at a time.
func (s *Segment) refresh(ctx context.Context) error {
	s.mu.Lock()
	for s.mu.refreshInProgress != nil {
		wait := s.mu.refreshInProgress
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	done := make(chan struct{})
	s.mu.refreshInProgress = done
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.mu.refreshInProgress = nil
		s.mu.Unlock()
		close(done)
	}()

	steps, err := s.readTags(ctx)
	if err != nil {
		return err
	}
	// Under mu so that Close, which sets closed under mu, never races a
	// loader being started (wg.Add) with its wg.Wait.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return ErrClosed
	}
	old := *s.tags.Load()
	next := make(map[string]*tagBuffer, len(steps))
	for tag, step := range steps {
		b := old[tag]
		if b == nil {
			b = newTagBuffer(s, tag)
			b.tableStep.Store(step)
			s.wg.Add(1)
			go b.loader()
		}
		b.tableStep.Store(step)
		next[tag] = b
	}
	for tag, b := range old {
		if _, ok := next[tag]; !ok {
			b.remove()
		}
	}
	s.tags.Store(&next)
	return nil
}

func (s *Segment) readTags(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT biz_tag, step FROM leaf_alloc")
	if err != nil {
		return nil, fmt.Errorf("leaf: read tags: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var tag string
		var step int64
		if err := rows.Scan(&tag, &step); err != nil {
			return nil, fmt.Errorf("leaf: read tags: %w", err)
		}
		if step < 1 {
			step = 1
		}
		out[tag] = step
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("leaf: read tags: %w", err)
	}
	return out, nil
}

// Close stops the loaders and the refresher, makes later calls fail with
// ErrClosed, and (unless KeepUnusedOnClose) gives the unused IDs of the
// segments it holds back to the table when nobody fetched after it. The
// generator is closed even when an error is returned.
func (s *Segment) Close() error {
	s.mu.Lock()
	already := s.closed.Swap(true)
	s.mu.Unlock()
	if already {
		return nil
	}
	s.cancel()
	s.wg.Wait()
	if s.metrics != nil {
		s.opts.Registerer.Unregister(s.metrics)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.CloseTimeout)
	defer cancel()
	var errs []error
	for _, b := range *s.tags.Load() {
		giveBack := b.fence(ErrClosed)
		if giveBack == nil || s.opts.KeepUnusedOnClose {
			continue
		}
		if _, err := s.db.ExecContext(ctx, "UPDATE leaf_alloc SET max_id = ? WHERE biz_tag = ? AND max_id = ?",
			giveBack.low, b.tag, giveBack.top); err != nil {
			errs = append(errs, fmt.Errorf("leaf: give back unused IDs of %q: %w", b.tag, err))
		}
	}
	errs = append(errs, s.fetch.Close())
	return errors.Join(errs...)
}

// TagStatus is a snapshot of one tag, for the status page and metrics.
type TagStatus struct {
	Tag string
	// TableStep is the step in leaf_alloc; Step the current dynamic step
	// (0 before the first load).
	TableStep, Step int64
	// Current is the segment IDs are handed out from; nil before the first
	// load. Next is the preloaded segment, nil while not loaded.
	Current, Next *SegmentRange
	// Remaining is the number of IDs left in memory (current + next).
	Remaining int64
	// Rate is the recent consumption in IDs per second and RunwaySeconds
	// how long Remaining lasts at that rate (+Inf when idle).
	Rate, RunwaySeconds float64
	// Issued counts IDs handed out by this process.
	Issued int64
	// Loads and LoadErrors count segment fetches; Exhausted counts calls
	// that failed with ErrSegmentsExhausted; Waits counts calls that had to
	// wait for a segment.
	Loads, LoadErrors, Exhausted, Waits int64
	LastLoad                            time.Time
	LastError                           string
}

// SegmentRange is a segment [Start, Max) with Next the next ID to hand out.
type SegmentRange struct {
	Start, Max, Next int64
}

// Status returns a snapshot of every cached tag, sorted by tag.
func (s *Segment) Status() []TagStatus {
	m := *s.tags.Load()
	out := make([]TagStatus, 0, len(m))
	now := s.opts.Clock.Now()
	for _, b := range m {
		out = append(out, b.status(now))
	}
	sortStatus(out)
	return out
}

// sameString is a == b, deciding on the data pointer first (the common
// case of a caller passing the same constant) without a call.
func sameString(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	return unsafe.StringData(a) == unsafe.StringData(b) || a == b
}

// lastHit is the entry of Segment.last.
type lastHit struct {
	tag string
	b   *tagBuffer
}

// --- per-tag buffer ---------------------------------------------------------

// idRange is one segment [start, max). pos is the next value to hand out;
// concurrent callers add to it and own the values they got below max, so it
// may run past max. Everything but pos and requested is immutable once the
// range is published.
type idRange struct {
	pos       atomic.Int64
	requested atomic.Bool // the next segment was requested (pos reached trigger)
	start     int64
	max       int64
	trigger   int64 // first value whose hand-out requests the next segment
	// activeAt is when the range became current; written before it is
	// published as current, read under tagBuffer.mu.
	activeAt time.Time
}

func newRange(start, max int64, threshold float64) *idRange {
	r := &idRange{start: start, max: max}
	r.pos.Store(start)
	r.trigger = start + int64(float64(max-start)*threshold)
	if r.trigger >= max {
		r.trigger = max - 1
	}
	return r
}

// used is how many values of r were handed out.
func (r *idRange) used() int64 { return min(r.pos.Load(), r.max) - r.start }

type tagBuffer struct {
	s   *Segment
	tag string

	cur  atomic.Pointer[idRange] // nil before the first load
	next atomic.Pointer[idRange] // nil until preloaded; moved to cur under mu

	kick      chan struct{} // capacity 1: wakes the loader
	ctx       context.Context
	cancel    context.CancelFunc // on removal or Close
	removed   atomic.Bool
	tableStep atomic.Int64

	loads, loadErrors, exhausted, waits atomic.Int64

	mu struct {
		sync.Mutex // guards the fields below and switching cur; never held across I/O
		// ready is closed (and replaced) after every load attempt, so
		// waiters re-check.
		ready    chan struct{}
		fenced   error // ErrClosed or ErrTagNotFound once fenced
		lastErr  error
		lastLoad time.Time
		step     int64
		retired  int64   // IDs handed out from retired segments
		prevRate float64 // IDs/s of the last retired segment
	}

	// Loader-owned: only the loader goroutine touches these.
	step       int64
	lastLoadAt time.Time
}

func newTagBuffer(s *Segment, tag string) *tagBuffer {
	b := &tagBuffer{s: s, tag: tag, kick: make(chan struct{}, 1)}
	b.ctx, b.cancel = context.WithCancel(s.ctx)
	b.mu.ready = make(chan struct{})
	return b
}

// request asks the loader for the next segment once per range.
func (b *tagBuffer) request(r *idRange) {
	if r.requested.CompareAndSwap(false, true) {
		b.wake()
	}
}

func (b *tagBuffer) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// take appends n IDs to dst, switching segments and waiting for the loader
// as needed. On error it returns dst unchanged.
func (b *tagBuffer) take(ctx context.Context, dst []int64, n int) ([]int64, error) {
	base := len(dst)
	left := int64(n)
	for left > 0 {
		r := b.cur.Load()
		if r != nil {
			v := r.pos.Add(left) - left
			if v < r.max {
				end := min(v+left, r.max)
				if end-1 >= r.trigger && !r.requested.Load() {
					b.request(r)
				}
				for id := v; id < end; id++ {
					dst = append(dst, id)
				}
				left -= end - v
				continue
			}
		}
		if err := b.advance(ctx, r); err != nil {
			return dst[:base], err
		}
	}
	return dst, nil
}

// advance returns once cur is no longer seen (switched to the preloaded
// segment, or first loaded), or with an error when no segment arrives in
// time.
func (b *tagBuffer) advance(ctx context.Context, seen *idRange) error {
	var timeout <-chan time.Time
	counted := false
	for {
		b.mu.Lock()
		if err := b.mu.fenced; err != nil {
			b.mu.Unlock()
			if errors.Is(err, ErrTagNotFound) {
				return fmt.Errorf("%w: %q", ErrTagNotFound, b.tag)
			}
			return err
		}
		cur := b.cur.Load()
		if cur != seen {
			b.mu.Unlock()
			return nil
		}
		if nx := b.next.Load(); nx != nil && cur != nil {
			now := b.s.opts.Clock.Now()
			b.retireLocked(cur, now)
			nx.activeAt = now
			b.cur.Store(nx)
			b.next.Store(nil)
			b.mu.Unlock()
			return nil
		}
		ready, lastErr := b.mu.ready, b.mu.lastErr
		b.mu.Unlock()

		if errors.Is(lastErr, ErrTagNotFound) {
			return fmt.Errorf("%w: %q", ErrTagNotFound, b.tag)
		}
		if cur != nil {
			cur.requested.Store(true)
		}
		b.wake()
		if !counted {
			counted = true
			b.waits.Add(1)
			if _, ok := ctx.Deadline(); !ok {
				t := time.NewTimer(b.s.opts.DefaultWait)
				defer t.Stop()
				timeout = t.C
			}
		}
		var why error
		select {
		case <-ready:
			continue
		case <-ctx.Done():
			why = ctx.Err()
		case <-timeout:
			why = fmt.Errorf("no segment within DefaultWait %v", b.s.opts.DefaultWait)
		}
		b.exhausted.Add(1)
		b.mu.Lock()
		lastErr = b.mu.lastErr
		b.mu.Unlock()
		if lastErr == nil {
			return fmt.Errorf("%w: tag %q: %w (the next segment is still loading)", ErrSegmentsExhausted, b.tag, why)
		}
		return fmt.Errorf("%w: tag %q: %w; last segment fetch failed: %w", ErrSegmentsExhausted, b.tag, why, lastErr)
	}
}

// retireLocked accounts for r leaving service. b.mu must be held.
func (b *tagBuffer) retireLocked(r *idRange, now time.Time) {
	used := r.used()
	b.mu.retired += used
	if el := now.Sub(r.activeAt); el > 0 && used > 0 {
		b.mu.prevRate = float64(used) / el.Seconds()
	}
}

// loader is the tag's one loader goroutine: it fetches the first segment
// and then each next segment when requested, retrying with backoff while
// fetches fail.
func (b *tagBuffer) loader() {
	defer b.s.wg.Done()
	backoff := time.Duration(0)
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
		}
		for b.needLoad() {
			if err := b.load(); err == nil {
				backoff = 0
				continue
			} else if errors.Is(err, ErrTagNotFound) {
				break // the refresher will remove the tag; callers were told
			}
			backoff = min(max(2*backoff, b.s.opts.RetryBackoff), b.s.opts.MaxRetryBackoff)
			if b.s.opts.Clock.Sleep(b.ctx, backoff) != nil {
				return
			}
		}
	}
}

func (b *tagBuffer) needLoad() bool {
	if b.ctx.Err() != nil {
		return false
	}
	cur := b.cur.Load()
	if cur == nil {
		return true
	}
	return b.next.Load() == nil && cur.requested.Load()
}

// load fetches one segment and publishes it as cur (first load) or next.
func (b *tagBuffer) load() error {
	o := &b.s.opts
	now := o.Clock.Now()
	tableStep := b.tableStep.Load()
	step := tableStep
	if b.step != 0 && !o.FixedStep {
		step = nextStep(b.step, tableStep, o.MaxStep, now.Sub(b.lastLoadAt), o.SegmentDuration)
	}
	ctx, cancel := context.WithTimeout(b.ctx, o.LoadTimeout)
	start := time.Now()
	hi, err := b.fetch(ctx, step)
	cancel()
	if m := b.s.metrics; m != nil {
		m.loadSeconds.Observe(time.Since(start).Seconds())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	close(b.mu.ready)
	b.mu.ready = make(chan struct{})
	if err != nil {
		b.loadErrors.Add(1)
		b.mu.lastErr = err
		return err
	}
	b.loads.Add(1)
	b.step, b.lastLoadAt = step, now
	b.mu.step, b.mu.lastLoad, b.mu.lastErr = step, now, nil
	r := newRange(hi-step, hi, o.PreloadThreshold)
	if b.mu.fenced != nil {
		return nil // fenced while fetching: the range is skipped
	}
	if b.cur.Load() == nil {
		r.activeAt = now
		b.cur.Store(r)
	} else {
		b.next.Store(r)
	}
	return nil
}

// fetch advances max_id by step in one statement and returns the new
// max_id: the segment is [hi-step, hi).
func (b *tagBuffer) fetch(ctx context.Context, step int64) (int64, error) {
	res, err := b.s.fetch.ExecContext(ctx, step, b.tag)
	if err != nil {
		return 0, fmt.Errorf("leaf: fetch segment of %q: %w", b.tag, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("leaf: fetch segment of %q: %w", b.tag, err)
	}
	if n == 0 {
		return 0, fmt.Errorf("%w: %q was removed from leaf_alloc", ErrTagNotFound, b.tag)
	}
	hi, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("leaf: fetch segment of %q: %w", b.tag, err)
	}
	if hi-step < 0 {
		return 0, fmt.Errorf("leaf: fetch segment of %q: max_id %d below step %d", b.tag, hi, step)
	}
	return hi, nil
}

// remove fences a tag that left leaf_alloc and stops its loader.
func (b *tagBuffer) remove() {
	b.removed.Store(true)
	b.fence(ErrTagNotFound)
	b.cancel()
}

// giveBack is the top of the table's range this process may return:
// max_id may go from top back to low.
type giveBack struct{ low, top int64 }

// fence stops all hand-outs: it makes callers fail with why and returns
// the range of unused IDs at the top of what this buffer fetched. Adds to
// pos after the swap see a value at or past max, so no ID below the
// returned low is handed out later.
func (b *tagBuffer) fence(why error) *giveBack {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.mu.fenced != nil {
		return nil
	}
	b.mu.fenced = why
	close(b.mu.ready)
	b.mu.ready = make(chan struct{})
	cur, nx := b.cur.Load(), b.next.Load()
	if cur == nil {
		return nil
	}
	low := min(cur.pos.Swap(cur.max), cur.max)
	if nx != nil {
		if nx.start != cur.max {
			low = nx.start // someone fetched between our two segments
		}
		return &giveBack{low: low, top: nx.max}
	}
	if low == cur.max {
		return nil
	}
	return &giveBack{low: low, top: cur.max}
}

func (b *tagBuffer) status(now time.Time) TagStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := TagStatus{
		Tag: b.tag, TableStep: b.tableStep.Load(), Step: b.mu.step,
		Issued: b.mu.retired, LastLoad: b.mu.lastLoad,
		Loads: b.loads.Load(), LoadErrors: b.loadErrors.Load(),
		Exhausted: b.exhausted.Load(), Waits: b.waits.Load(),
		RunwaySeconds: math.Inf(1),
	}
	if b.mu.lastErr != nil {
		st.LastError = b.mu.lastErr.Error()
	}
	cur, nx := b.cur.Load(), b.next.Load()
	if cur != nil {
		used := cur.used()
		st.Current = &SegmentRange{Start: cur.start, Max: cur.max, Next: cur.start + used}
		st.Remaining = cur.max - cur.start - used
		st.Issued += used
		st.Rate = b.mu.prevRate
		if el := now.Sub(cur.activeAt); el >= time.Second || (st.Rate == 0 && el > 0) {
			st.Rate = float64(used) / el.Seconds()
		}
	}
	if nx != nil {
		st.Next = &SegmentRange{Start: nx.start, Max: nx.max, Next: nx.start}
		st.Remaining += nx.max - nx.start
	}
	if b.mu.fenced != nil {
		st.Remaining = 0
	}
	if st.Rate > 0 {
		st.RunwaySeconds = float64(st.Remaining) / st.Rate
	}
	return st
}

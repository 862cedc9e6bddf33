package agent

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime/metrics"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/slowlog"
)

// Failure points a test can crash the agent at (Agent.failpoint).
const (
	// fpIntent: a cut's intent is durable, nothing of it produced.
	fpIntent = "intent"
	// fpAcked: Kafka acknowledged a unit of cuts, the journal does not
	// know yet.
	fpAcked = "acked"
	// fpCommit: cuts are durable (spooled, intent journaled), a Committer
	// input's position not yet moved past them.
	fpCommit = "commit"
)

// Agent ships the statements of one Input to Kafka. Create it with New and
// call Run once.
type Agent struct {
	in     Input
	opts   Options
	log    *slog.Logger
	st     stats
	config string
	src    map[[2]string]string // (stream, instance) → Src

	// failpoint, if set, is called at the failure points; an error makes
	// the agent stop as if the process died there (no state written after
	// it). Tests only.
	failpoint func(point string) error
}

// Summary is what a Run did, cumulative over the run only.
type Summary struct {
	Statements        int64 // statements read (re-read ones included)
	Rejects           int64 // input records that were not statements
	Cuts              int64 // cuts sealed
	Records           int64 // records made
	AckedRecords      int64 // records Kafka acknowledged
	AckedStatements   int64 // statements in acknowledged records
	DroppedStatements int64 // statements dropped because the spool was full
	LostStatements    int64 // statements of pending cuts that could not be re-read
	ValueBytes        int64 // key+value bytes produced (uncompressed)
	WireBytes         int64 // compressed batch bytes written to brokers
	Pending           int   // cuts not acknowledged at exit (spooled or to re-read)
	Spooled           int   // of which in the spool
}

// New returns an agent reading in. It checks opts; nothing is opened yet.
func New(in Input, opts Options) (*Agent, error) {
	if in == nil {
		return nil, fmt.Errorf("%w: no input", ErrBadOptions)
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if in.Kind() == "" {
		return nil, fmt.Errorf("%w: input has no kind", ErrBadOptions)
	}
	a := &Agent{in: in, opts: opts, log: opts.Logger, config: opts.config(in.Kind()), src: map[[2]string]string{}}
	if err := a.st.register(opts.Registerer); err != nil {
		return nil, err
	}
	return a, nil
}

// fail runs the failure point; on a crash the journal takes no more
// writes, as if the process had died here.
func (a *Agent) fail(j *journal, point string) error {
	if a.failpoint == nil {
		return nil
	}
	if err := a.failpoint(point); err != nil {
		j.freeze()
		return fmt.Errorf("%w at %s: %v", errCrash, point, err)
	}
	return nil
}

func (a *Agent) summary(ob *outbox) Summary {
	s := Summary{
		Statements: a.st.statements.Load(), Rejects: a.st.rejects.Load(), Cuts: a.st.cuts.Load(),
		Records: a.st.records.Load(), AckedRecords: a.st.ackedRecords.Load(), AckedStatements: a.st.ackedStatements.Load(),
		DroppedStatements: a.st.droppedStatements.Load(), LostStatements: a.st.lostStatements.Load(),
		ValueBytes: a.st.valueBytes.Load(), WireBytes: a.st.wireBytes.Load(),
	}
	if ob != nil {
		ob.mu.Lock()
		s.Pending = len(ob.mu.q)
		s.Spooled = len(ob.mu.disk)
		ob.mu.Unlock()
	}
	return s
}

// replayCut is a pending cut rebuilt from the input after a restart.
type replayCut struct {
	e        entry
	renumber bool // built under another config: send under a new number
}

// Run reads the input and ships it until the input ends (bounded inputs:
// Run returns once everything read is acknowledged) or ctx ends (then it
// closes the open cut, keeps sending for up to ShutdownTimeout, spools what
// is left, and returns nil). It returns an error for a failure it cannot
// work around (state directory, input errors); Kafka being unreachable is
// not one.
func (a *Agent) Run(ctx context.Context) (sum Summary, err error) {
	if err := os.MkdirAll(a.opts.StateDir, 0o755); err != nil {
		return sum, fmt.Errorf("agent: state dir: %w", err)
	}
	unlock, err := lockState(a.opts.StateDir)
	if err != nil {
		return sum, err
	}
	defer unlock()
	j, pending, err := openJournal(a.opts.StateDir, a.opts.NoSync)
	if err != nil {
		return sum, err
	}
	defer func() {
		if cerr := j.close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	sp, err := openSpool(a.opts.StateDir, a.opts.NoSync)
	if err != nil {
		return sum, err
	}
	ob := newOutbox(sp, j, a.config, a.opts.MemoryMaxBytes, a.opts.SpoolMaxBytes, &a.st, a.log, a.opts.Now)
	lastK, replay, resume, err := a.recover(ctx, j, sp, ob, pending)
	if err != nil {
		return a.summary(ob), err
	}

	cl, err := kgo.NewClient(a.clientOpts()...)
	if err != nil {
		return a.summary(ob), fmt.Errorf("agent: kafka client: %w", err)
	}
	defer cl.Close()

	sctx, scancel := context.WithCancel(context.Background())
	defer scancel()
	acked := make(chan struct{}, 1)
	fatal := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := a.sendLoop(sctx, cl, j, ob, acked); err != nil {
			fatal <- err
		}
	}()
	rctx, rcancel := context.WithCancel(context.Background())
	if a.opts.ReportInterval > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.reportLoop(rctx, ob)
		}()
	}
	defer func() {
		rcancel()
		scancel()
		wg.Wait()
	}()

	var cq *commitQueue
	if cm, ok := a.in.(Committer); ok {
		cq = &commitQueue{in: cm}
	}
	rerr := a.readLoop(ctx, j, ob, fatal, lastK, replay, resume, cq)
	if cerr := a.in.Close(); cerr != nil {
		a.log.Warn("agent: closing the input", "err", cerr)
	}
	if errors.Is(rerr, errCrash) {
		return a.summary(ob), rerr
	}

	// Drain: until everything is acknowledged, or, once stopping (or
	// failing), the shutdown timeout.
	var deadline <-chan time.Time
	if ctx.Err() != nil || rerr != nil {
		t := time.NewTimer(a.opts.ShutdownTimeout)
		defer t.Stop()
		deadline = t.C
	}
	for rerr == nil && !ob.empty() {
		select {
		case <-acked:
			continue
		case rerr = <-fatal:
			continue
		case <-deadline:
		case <-ctx.Done():
			if deadline == nil {
				t := time.NewTimer(a.opts.ShutdownTimeout)
				defer t.Stop()
				deadline = t.C
			}
			continue
		}
		break
	}
	ob.close()
	scancel()
	rcancel()
	wg.Wait()
	if rerr == nil {
		select {
		case rerr = <-fatal:
		default:
		}
	}
	if errors.Is(rerr, errCrash) {
		return a.summary(ob), rerr
	}
	ob.untake()
	if spilled, left := ob.spillAll(); spilled+left > 0 {
		a.log.Info("agent: stopped with cuts not yet in Kafka; they are sent after the restart",
			"spooled", spilled, "to_reread", left)
	}
	if cq != nil && rerr == nil {
		// Cuts that were only in memory may be in the spool now.
		rerr = cq.flush(a, j, ob)
	}
	if err := j.sync(); err != nil && rerr == nil {
		rerr = err
	}
	a.logCost(ob, true)
	return a.summary(ob), rerr
}

// isFatalKafka reports errors that retrying cannot cure: refused
// credentials or permissions.
func isFatalKafka(err error) bool {
	for _, e := range []error{kerr.SaslAuthenticationFailed, kerr.TopicAuthorizationFailed,
		kerr.ClusterAuthorizationFailed, kerr.UnsupportedSaslMechanism, kerr.IllegalSaslState} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// errCrash marks an error from a failure point: the agent stops without
// writing any more state, as a killed process would.
var errCrash = errors.New("agent: crash injected")

func (a *Agent) clientOpts() []kgo.Opt {
	maxRec := int32(min(int64(a.opts.MaxRecordBytes)+64<<10, math.MaxInt32))
	opts := []kgo.Opt{
		kgo.SeedBrokers(a.opts.Brokers...),
		kgo.DefaultProduceTopic(a.opts.Topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotent producer (the default) needs all ISR acks
		kgo.ProducerBatchCompression(kgo.ZstdCompression()),
		// Cuts are the batching unit: a unit is buffered whole, then
		// flushed, so a failure fails a suffix of it and never lets a
		// later record through before an earlier one (ordering is what
		// the engine's Seq check relies on).
		kgo.ManualFlushing(),
		kgo.MaxBufferedRecords(2 * MaxCutRecords),
		kgo.ProducerBatchMaxBytes(max(maxRec, 1<<20)),
		kgo.WithHooks(wireHook{&a.st}),
	}
	if a.opts.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(a.opts.TLS.Clone()))
	}
	if a.opts.SASL != nil {
		opts = append(opts, kgo.SASL(a.opts.SASL))
	}
	return append(opts, a.opts.ClientOpts...)
}

// wireHook counts the compressed bytes of the batches written to brokers.
type wireHook struct{ st *stats }

func (h wireHook) OnProduceBatchWritten(_ kgo.BrokerMetadata, _ string, _ int32, m kgo.ProduceBatchMetrics) {
	h.st.wireBytes.Add(int64(m.CompressedBytes))
	h.st.wireRecords.Add(int64(m.NumRecords))
}

// recover reads the pending cuts of the journal and the spool: cuts with a
// segment go back into the outbox; the others are to be re-read from the
// input (replay), or lost if the input cannot do that. It returns the last
// cut number and where reading resumes.
func (a *Agent) recover(ctx context.Context, j *journal, sp *spool, ob *outbox, pending []entry) (int64, []replayCut, Position, error) {
	segs, err := sp.list()
	if err != nil {
		return 0, nil, Position{}, err
	}
	lastK, resume := j.last()
	isPending := map[int64]bool{}
	for _, e := range pending {
		isPending[e.K] = true
	}
	// Segments with no pending intent: written just before a crash that
	// kept the intent from the journal (adopt it: it was never produced),
	// or left over from a cut already acknowledged (remove it).
	var adopt []int64
	for k := range segs {
		switch {
		case isPending[k]:
		case k > lastK:
			adopt = append(adopt, k)
		default:
			if err := sp.remove(k); err != nil {
				return 0, nil, Position{}, err
			}
			delete(segs, k)
		}
	}
	for _, k := range adopt {
		_, e, err := sp.read(k)
		if err != nil {
			a.log.Error("agent: unreadable spool segment removed", "cut", k, "err", err)
			sp.remove(k)
			delete(segs, k)
			continue
		}
		if err := j.append(true, e); err != nil {
			return 0, nil, Position{}, err
		}
		pending = append(pending, e)
	}
	lastK, resume = j.last()
	sortEntries(pending)

	// Cuts from the first one without a segment on are rebuilt from the
	// input; before it, the spool has them.
	first := len(pending)
	for i, e := range pending {
		if _, ok := segs[e.K]; !ok {
			first = i
			break
		}
	}
	for _, e := range pending[:first] {
		ob.pushSpooled(&cut{k: e.K, stream: e.Stream, from: e.From, to: e.To, statements: e.Statements, nrec: e.Records, ckpt: []byte(e.Ckpt)}, segs[e.K])
	}
	cm, committer := a.in.(Committer)
	if committer {
		// The spool holds pending[:first]: the input resumes after the
		// last of them. Without such cuts it resumes after the settled
		// prefix (cuts Kafka acknowledged). Either way its position may not
		// have been moved there before the crash.
		var ck string
		if first > 0 {
			ck = pending[first-1].Ckpt
		} else {
			_, ck = j.settledPrefix()
		}
		if len(ck) > 0 {
			if err := cm.Commit([]byte(ck)); err != nil {
				return 0, nil, Position{}, err
			}
		}
	}
	var replay []replayCut
	rest := pending[first:]
	if len(rest) == 0 {
		if len(pending) > 0 {
			a.log.Info("agent: resending spooled cuts", "cuts", len(pending))
		}
		return lastK, nil, resume, nil
	}
	last := rest[len(rest)-1].Stream
	for _, e := range rest {
		if _, ok := segs[e.K]; ok {
			if err := sp.remove(e.K); err != nil { // rebuilt below, identically
				return 0, nil, Position{}, err
			}
		}
		switch {
		case !a.in.Replayable() && committer:
			// Its statements are after the input's position: read again.
			a.log.Info("agent: a cut pending at the restart was not in the spool; the input reads its statements again",
				"cut", e.K, "stream", e.Stream, "statements", e.Statements)
			if err := j.append(false, entry{T: "drop", K: e.K}); err != nil {
				return 0, nil, Position{}, err
			}
		case !a.in.Replayable():
			a.lose(j, e, "the input cannot be re-read")
		case e.Stream != last:
			a.lose(j, e, "its stream was followed by another before the restart")
		default:
			replay = append(replay, replayCut{e: e, renumber: e.Config != a.config})
		}
	}
	if len(replay) == 0 {
		return lastK, nil, resume, nil
	}
	a.log.Info("agent: re-reading cuts that were not acknowledged before the restart",
		"cuts", len(replay), "stream", replay[0].e.Stream, "from", replay[0].e.From, "to", replay[len(replay)-1].e.To)
	return lastK, replay, Position{Stream: replay[0].e.Stream, Offset: replay[0].e.From}, nil
}

func sortEntries(es []entry) {
	slices.SortFunc(es, func(a, b entry) int { return cmp.Compare(a.K, b.K) })
}

// lose records that pending cut e cannot be sent.
func (a *Agent) lose(j *journal, e entry, why string) {
	a.st.lostCuts.Add(1)
	a.st.lostStatements.Add(e.Statements)
	a.log.Error("agent: a cut pending at the restart is lost: "+why,
		"cut", e.K, "stream", e.Stream, "from", e.From, "to", e.To, "statements", e.Statements)
	if err := j.append(false, entry{T: "drop", K: e.K}); err != nil {
		a.log.Error("agent: journal", "err", err)
	}
}

// reader is the state of readLoop.
type reader struct {
	a       *Agent
	j       *journal
	ob      *outbox
	b       *builder
	enc     *encoder
	evs     []sources.Event
	lastK   int64
	replay  []replayCut
	quietTo Position     // rejects before this were reported before the restart
	cq      *commitQueue // a Committer input's checkpoints; nil for other inputs
}

// commitQueue holds the checkpoints of a Committer input's cuts, in cut
// order, until the cuts are settled (spooled, acknowledged or dropped).
type commitQueue struct {
	in Committer
	q  []commitPoint
}

type commitPoint struct {
	k    int64
	ckpt []byte
}

// flush commits the checkpoint of the last cut of the settled prefix.
func (cq *commitQueue) flush(a *Agent, j *journal, ob *outbox) error {
	n := 0
	for n < len(cq.q) && ob.settled(cq.q[n].k) {
		n++
	}
	if n == 0 {
		return nil
	}
	if err := a.fail(j, fpCommit); err != nil {
		return err
	}
	if err := cq.in.Commit(cq.q[n-1].ckpt); err != nil {
		return fmt.Errorf("agent: commit the input position: %w", err)
	}
	cq.q = append(cq.q[:0], cq.q[n:]...)
	return nil
}

// readLoop reads the input and seals cuts until the input ends or ctx
// ends. It returns nil in both cases, after sealing the open cut.
func (a *Agent) readLoop(ctx context.Context, j *journal, ob *outbox, fatal <-chan error, lastK int64, replay []replayCut, resume Position, cq *commitQueue) error {
	red := newRedactor(a.opts.RawSQL, a.opts.MaxRecordBytes-8192)
	r := &reader{a: a, j: j, ob: ob, b: newBuilder(a.opts.EdgeAggregate, a.opts.Instance, red),
		enc: newEncoder(a.opts.Format, a.opts.MaxRecordBytes), lastK: lastK, replay: replay, cq: cq}
	if len(replay) > 0 {
		last := replay[len(replay)-1].e
		r.quietTo = Position{Stream: last.Stream, Offset: last.To}
	}
	if err := a.in.Open(ctx, resume); err != nil {
		if !errors.Is(err, ErrStreamGone) {
			return fmt.Errorf("agent: open input: %w", err)
		}
		for _, rc := range r.replay {
			a.lose(j, rc.e, "its stream cannot be read any more")
		}
		r.replay = nil
		if resume.Stream != "" {
			a.log.Warn("agent: the input's stream changed while the agent was stopped; starting the current one from its beginning",
				"was", resume.Stream, "err", err)
		}
		resume = Position{}
		if err := a.in.Open(ctx, resume); err != nil {
			return fmt.Errorf("agent: open input: %w", err)
		}
	}
	r.b.start(resume.Stream, resume.Offset, a.opts.Now())
	rctx := ctx
	follower, _ := a.in.(interface{ Stats() slowlog.FollowStats })
	for {
		select {
		case err := <-fatal:
			return err
		default:
		}
		if rctx.Err() != nil {
			st, ok := a.in.(Stopper)
			if !ok || rctx != ctx {
				break
			}
			// Let the input hand out what it still holds.
			st.Stop()
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.opts.ShutdownTimeout)
			defer cancel()
			rctx = dctx
		}
		if r.cq != nil && len(r.cq.q) > 0 {
			// Cuts that were not spooled when sealed: acknowledged since?
			if err := r.cq.flush(a, j, ob); err != nil {
				return err
			}
		}
		batch, err := a.in.Next(rctx)
		if follower != nil {
			st := follower.Stats() // read here, on the goroutine that drives the follower
			a.st.followRotations.Store(st.Rotations)
			a.st.followTruncations.Store(st.Truncations)
			a.st.followLostFiles.Store(st.LostFiles)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if rctx.Err() != nil {
				continue
			}
			return fmt.Errorf("agent: read input: %w", err)
		}
		if err := r.batch(batch); err != nil {
			return err
		}
	}
	// Pending cuts the input did not reach (it ended or we are stopping)
	// stay in the journal for the next run.
	if len(r.replay) > 0 {
		if !r.b.empty() {
			a.log.Warn("agent: stopped while re-reading a pending cut; it is re-read at the next start", "cut", r.replay[0].e.K)
		}
		return nil
	}
	if !r.b.empty() {
		return r.seal(0, r.b.to)
	}
	return nil
}

// batch adds one input batch.
func (r *reader) batch(batch *Batch) error {
	a := r.a
	if len(batch.Events) == 0 && len(batch.Rejects) == 0 && batch.Stream == r.b.stream {
		if batch.End > r.b.to {
			r.b.to = batch.End
		}
		return r.maybeSeal()
	}
	if batch.Stream != r.b.stream {
		if len(r.replay) > 0 {
			for _, rc := range r.replay {
				a.lose(r.j, rc.e, "the input moved to another stream before reaching its end")
			}
			r.replay = nil
			r.b.reset()
		}
		if !r.b.empty() {
			if err := r.seal(0, r.b.to); err != nil {
				return err
			}
		}
		if r.b.stream != "" {
			// The old stream may be renamed or deleted soon: move its
			// unsent cuts to the spool, so a restart need not re-read it.
			r.ob.spillAll()
		}
		r.b.reset()
		r.b.start(batch.Stream, 0, a.opts.Now())
	}
	for i := range batch.Events {
		ev := &batch.Events[i]
		if len(r.replay) > 0 && batch.Offsets != nil {
			for len(r.replay) > 0 && batch.Offsets[i] >= r.replay[0].e.To {
				if err := r.sealReplay(); err != nil {
					return err
				}
			}
		}
		if r.b.empty() {
			r.b.opened = a.opts.Now()
		}
		if err := sources.Check(ev); err != nil {
			a.st.rejects.Add(1)
			off := int64(-1)
			if batch.Offsets != nil {
				off = batch.Offsets[i]
			}
			a.log.Warn("agent: input record rejected", "stream", batch.Stream, "offset", off, "err", err)
			continue
		}
		r.b.add(ev)
		a.st.statements.Add(ev.Statements())
	}
	for _, rj := range batch.Rejects {
		if batch.Stream == r.quietTo.Stream && rj.Offset < r.quietTo.Offset {
			continue // reported by the run that first read it
		}
		a.st.rejects.Add(1)
		raw := rj.Raw
		if len(raw) > 256 {
			raw = raw[:256]
		}
		a.log.Warn("agent: input record rejected", "stream", batch.Stream, "offset", rj.Offset,
			"reason", rj.Reason, "detail", rj.Detail, "raw", string(raw))
	}
	if batch.End > r.b.to {
		r.b.to = batch.End
	}
	return r.maybeSeal()
}

// maybeSeal seals the open cut when a replayed cut's end is reached, or
// (not replaying) when it is due.
func (r *reader) maybeSeal() error {
	if len(r.replay) > 0 {
		for len(r.replay) > 0 && r.b.to >= r.replay[0].e.To {
			end := r.b.to
			if err := r.sealReplay(); err != nil {
				return err
			}
			r.b.to = max(end, r.b.from)
		}
		return nil
	}
	if r.b.empty() {
		return nil
	}
	o := &r.a.opts
	if r.a.opts.Now().Sub(r.b.opened) >= o.FlushInterval || r.b.records() >= o.CutMaxRecords || r.b.mem >= o.CutMaxBytes {
		return r.seal(0, r.b.to)
	}
	return nil
}

// sealReplay seals the open cut as the head of the replay list, ending at
// its recorded end.
func (r *reader) sealReplay() error {
	rc := r.replay[0]
	r.replay = r.replay[1:]
	k := rc.e.K
	if rc.renumber {
		r.a.log.Warn("agent: pending cut was built with other options; re-sent under a new number (statements of it already delivered count twice)",
			"cut", rc.e.K, "config", rc.e.Config)
		if err := r.j.append(false, entry{T: "drop", K: rc.e.K}); err != nil {
			return err
		}
		k = 0
	}
	r.a.st.replayedCuts.Add(1)
	return r.sealChecked(k, rc.e)
}

// sealChecked seals a re-read cut and checks it matches its intent; one
// that does not (the input changed under the agent) is re-sent under a new
// number.
func (r *reader) sealChecked(k int64, e entry) error {
	if k != 0 && (r.b.statements != e.Statements || r.b.records() > MaxCutRecords) {
		r.a.log.Error("agent: a re-read cut differs from what was read before the restart; re-sent under a new number",
			"cut", e.K, "statements_then", e.Statements, "statements_now", r.b.statements)
		if err := r.j.append(false, entry{T: "drop", K: e.K}); err != nil {
			return err
		}
		k = 0
	}
	return r.sealAt(k, e.To, k != 0)
}

func (r *reader) seal(k int64, to int64) error { return r.sealAt(k, to, false) }

// sealAt seals the open cut as number k (0: the next number), ending at to,
// writes its intent (unless it is a re-read cut whose intent exists) and
// hands it to the outbox.
func (r *reader) sealAt(k int64, to int64, replayed bool) error {
	a := r.a
	b := r.b
	if k == 0 {
		k = max(r.lastK+1, a.opts.Now().UnixMilli())
		if k > maxK {
			return fmt.Errorf("agent: cut number %d out of range", k)
		}
	}
	r.lastK = max(r.lastK, k)
	r.evs = b.sealEvents(r.evs[:0])
	if len(r.evs) > MaxCutRecords {
		panic(fmt.Sprintf("BUG: agent: cut of %d records", len(r.evs)))
	}
	for i := range r.evs {
		ev := &r.evs[i]
		key := [2]string{b.stream, ev.Instance}
		src, ok := a.src[key]
		if !ok {
			if len(a.src) > 1<<12 {
				clear(a.src)
			}
			src = srcOf(a.opts.Host, a.in.Kind(), b.stream, ev.Instance)
			a.src[key] = src
		}
		ev.Src, ev.Seq = src, k<<SeqBits|int64(i)
	}
	recs, err := r.enc.encode(r.evs)
	if err != nil {
		return err
	}
	c := &cut{k: k, stream: b.stream, from: b.from, to: to, statements: b.statements, nrec: len(recs), records: recs}
	if r.cq != nil {
		if c.ckpt, err = r.cq.in.Checkpoint(Position{Stream: b.stream, Offset: to}); err != nil {
			return err
		}
	}
	for _, rec := range recs {
		c.size += int64(len(rec.key) + len(rec.value))
	}
	a.st.cuts.Add(1)
	a.st.records.Add(int64(len(recs)))
	a.st.secretsRedacted.Store(b.red.secrets)
	a.st.sqlCut.Store(b.red.cut + r.enc.cutSQL)
	if !a.in.Replayable() {
		// The input cannot be read again: the spool is the cut's only
		// durable copy, written before anything is produced.
		data := r.ob.spool.encode(c, c.records, a.config)
		if !r.ob.reserveDisk(k, int64(len(data))) {
			a.log.Error("agent: the spool has no room for a cut of an input that cannot be re-read; a crash before Kafka acknowledges it loses it", "cut", k)
		} else if err := r.ob.spool.write(k, data); err != nil {
			r.ob.unreserve(k)
			a.log.Error("agent: cannot spool a cut of an input that cannot be re-read; a crash before Kafka acknowledges it loses it", "cut", k, "err", err)
		} else {
			c.spooled = true
		}
	}
	if !replayed {
		if err := r.j.append(true, cutEntry(c, a.config)); err != nil {
			return err
		}
		if err := a.fail(r.j, fpIntent); err != nil {
			return err
		}
	}
	r.ob.push(c)
	b.reset()
	b.start(c.stream, to, a.opts.Now())
	if r.cq != nil {
		r.cq.q = append(r.cq.q, commitPoint{k: k, ckpt: c.ckpt})
		return r.cq.flush(a, r.j, r.ob)
	}
	return nil
}

// sendLoop produces the outbox's cuts in order until ctx ends.
func (a *Agent) sendLoop(ctx context.Context, cl *kgo.Client, j *journal, ob *outbox, acked chan<- struct{}) error {
	backoff := 100 * time.Millisecond
	for {
		unit := ob.take(ctx, a.opts.SendMaxBytes, MaxCutRecords)
		if unit == nil {
			return nil
		}
		for {
			err := a.produce(ctx, cl, unit)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			a.st.produceErrors.Add(1)
			if isFatalKafka(err) {
				ob.untake()
				return fmt.Errorf("agent: Kafka refused the agent (check --brokers, TLS, SASL credentials and ACLs on the topic): %w", err)
			}
			a.log.Warn("agent: producing to Kafka failed; retrying the same cuts", "cuts", len(unit), "first_cut", unit[0].k, "err", err, "backoff", backoff)
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
			backoff = min(2*backoff, 10*time.Second)
		}
		backoff = 100 * time.Millisecond
		if err := a.fail(j, fpAcked); err != nil {
			return err
		}
		done := make([]entry, len(unit))
		for i, c := range unit {
			done[i] = entry{T: "done", K: c.k}
			a.st.ackedCuts.Add(1)
			a.st.ackedRecords.Add(int64(c.nrec))
			a.st.ackedStatements.Add(c.statements)
		}
		if err := j.append(false, done...); err != nil {
			return err
		}
		ob.ack(unit)
		select {
		case acked <- struct{}{}:
		default:
		}
	}
}

// produce buffers every record of unit, flushes, and waits for all of them.
// It returns the first record error, or ctx's error.
func (a *Agent) produce(ctx context.Context, cl *kgo.Client, unit []*cut) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	promise := func(_ *kgo.Record, err error) {
		if err != nil {
			mu.Lock()
			if first == nil {
				first = err
			}
			mu.Unlock()
		}
		wg.Done()
	}
	for _, c := range unit {
		for _, r := range c.records {
			wg.Add(1)
			a.st.valueBytes.Add(int64(len(r.key) + len(r.value)))
			cl.Produce(ctx, &kgo.Record{Key: r.key, Value: r.value}, promise)
		}
	}
	if err := cl.Flush(ctx); err != nil {
		// Stopping: fail what is still buffered so no promise is left
		// waiting; whatever reached Kafka is a duplicate after the restart.
		actx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		cl.AbortBufferedRecords(actx)
		cancel()
		return err
	}
	wg.Wait()
	return first
}

// reportLoop logs the agent's cost every ReportInterval and keeps the
// cost metrics fresh.
func (a *Agent) reportLoop(ctx context.Context, ob *outbox) {
	t := time.NewTicker(min(a.opts.ReportInterval, 15*time.Second))
	defer t.Stop()
	lastLog := a.opts.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		a.sampleCost()
		if now := a.opts.Now(); now.Sub(lastLog) >= a.opts.ReportInterval {
			a.logCost(ob, false)
			lastLog = now
		}
	}
}

func (a *Agent) sampleCost() {
	if user, sys, rss, ok := rusage(); ok {
		a.st.cpuUserNs.Store(int64(user))
		a.st.cpuSysNs.Store(int64(sys))
		a.st.maxRSS.Store(rss)
	}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		a.st.heapBytes.Store(int64(s[0].Value.Uint64()))
	}
}

// logCost writes one line with the agent's own CPU and memory cost and
// what it shipped.
func (a *Agent) logCost(ob *outbox, final bool) {
	a.sampleCost()
	s := a.summary(ob)
	msg := "agent: cost"
	if final {
		msg = "agent: stopped"
	}
	a.log.Info(msg,
		"cpu_user_s", float64(a.st.cpuUserNs.Load())/1e9, "cpu_sys_s", float64(a.st.cpuSysNs.Load())/1e9,
		"max_rss_bytes", a.st.maxRSS.Load(), "heap_bytes", a.st.heapBytes.Load(),
		"statements", s.Statements, "acked_statements", s.AckedStatements, "records", s.Records,
		"value_bytes", s.ValueBytes, "wire_bytes", s.WireBytes,
		"queue_cuts", a.st.queueCuts.Load(), "spool_bytes", a.st.spoolBytes.Load(),
		"dropped_statements", s.DroppedStatements, "lost_statements", s.LostStatements, "rejects", s.Rejects)
}

// Package kafka reads SQL events from a Kafka topic for the das engine
// (franz-go). It implements stream.Source[sources.Event] and
// stream.Committer.
//
// # Offsets
//
// The engine is the only owner of offsets: it stores each partition's
// NextOffset in its own checkpoint, in the same write as the state those
// records produced, and passes them back to Open. The source starts every
// partition at exactly that offset, or at Options.Start when it has none.
// Consumer-group commits (CommitOffsets) are a mirror for lag tools, written
// after the engine's checkpoint and never read back. If a resume offset is
// no longer in the log the source stops with ErrOffsetOutOfRange rather than
// silently skipping or repeating records (unless Options.AllowDataLoss).
//
// Records are read with isolation level read_committed, and transaction
// markers are kept so that NextOffset moves past them: a batch may hold no
// items and no rejects yet advance NextOffset.
//
// # Assignment
//
// AssignDirect (the default) reads a fixed set of partitions with no group
// membership: the simple, single-process mode. AssignGroup joins a consumer
// group so several das processes can share a topic; rebalances are blocked
// while a poll's batches are being handed out (franz-go BlockRebalanceOnPoll),
// so a revoked partition's batches are never returned after its revocation,
// and assignment changes reach the engine through Options.OnAssigned and
// Options.OnRevoked.
//
// # Batches
//
// Next returns one partition's share of a poll at a time, decoded with the
// Decoder; a value that does not decode becomes a stream.Reject with its
// partition, offset and raw bytes. Event time is the event's ts_ms, never the
// Kafka record timestamp. When nothing arrives within Options.PollTimeout,
// Next returns an idle batch (Partition NoPartition) so the task can advance
// idle watermarks.
package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/arrowipc"
	"github.com/das-project/das/stream"
)

// ErrOpen: Open on a source that is already open.
var ErrOpen = errors.New("kafka: source already open")

// Source reads one topic. It is not safe for concurrent use: one task owns
// it (group callbacks are serialized with Next, see Options.OnAssigned).
type Source struct {
	opts Options
	dec  Decoder

	cl      *kgo.Client // nil unless open
	parts   []int32     // AssignDirect: the partitions read
	topicID [16]byte    // AssignDirect: for OffsetCommit v10+
	resume  map[int32]int64
	end     map[int32]int64 // StopAtEnd: stop offset per partition
	done    map[int32]bool  // StopAtEnd: partitions that reached end

	queue []kgo.FetchPartition // the rest of the last poll, in order
	batch stream.Batch[sources.Event]
	arena []byte // SQL copies of the current batch

	// mu guards the fields shared with the group callbacks, which run on
	// client goroutines. It is never held across I/O or user callbacks.
	mu struct {
		sync.Mutex
		next     map[int32]int64 // NextOffset of the last batch returned
		assigned map[int32]bool  // AssignGroup: current assignment
		startAt  map[int32]int64 // AssignGroup: offsets chosen at assignment
		cbErr    error           // first OnAssigned error
		closing  bool            // Close is running: no user callbacks
	}
}

// New validates opts and returns a source that is not yet open.
func New(opts Options) (*Source, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if opts.PollTimeout == 0 {
		opts.PollTimeout = 200 * time.Millisecond
	}
	opts.Brokers = slices.Clone(opts.Brokers)
	opts.Partitions = slices.Clone(opts.Partitions)
	s := &Source{opts: opts, dec: opts.Decoder}
	if s.dec == nil {
		s.dec = new(sources.Decoder)
	}
	return s, nil
}

var (
	_ stream.Source[sources.Event] = (*Source)(nil)
	_ stream.Committer             = (*Source)(nil)
)

// Bounded reports whether Options.StopAtEnd is set.
func (s *Source) Bounded() bool { return s.opts.StopAtEnd }

// Open connects and positions every partition at resume[p], or at
// Options.Start for a partition absent from resume. In group mode resume
// applies to the partitions the group assigns (see Options.OnAssigned).
// Entries for negative partitions (NoPartition) are ignored.
func (s *Source) Open(ctx context.Context, resume map[int32]int64) error {
	if s.cl != nil {
		return ErrOpen
	}
	s.resume = make(map[int32]int64, len(resume))
	for p, o := range resume {
		if p < 0 {
			continue // NoPartition: an idle batch's position, not a partition
		}
		if o < 0 {
			return fmt.Errorf("%w: resume offset %d for partition %d", ErrBadOptions, o, p)
		}
		s.resume[p] = o
	}
	s.queue, s.end, s.done, s.parts = nil, nil, nil, nil
	s.mu.Lock()
	s.mu.next = make(map[int32]int64)
	s.mu.assigned = make(map[int32]bool)
	s.mu.startAt = make(map[int32]int64)
	s.mu.cbErr, s.mu.closing = nil, false
	s.mu.Unlock()
	if s.opts.Assign == AssignGroup {
		return s.openGroup()
	}
	return s.openDirect(ctx)
}

func (s *Source) baseOpts() []kgo.Opt {
	reset := kgo.NoResetOffset()
	if s.opts.AllowDataLoss {
		reset = kgo.NewOffset().AtStart()
	}
	start := kgo.NewOffset().AtStart()
	if s.opts.Start == StartLatest {
		start = kgo.NewOffset().AtEnd()
	}
	o := []kgo.Opt{
		kgo.SeedBrokers(s.opts.Brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(reset),
		kgo.ConsumeStartOffset(start),
		// A fetch that holds only partitions at their end waits this long
		// for data; a partition whose start offset the client is still
		// looking up waits behind it. franz-go's 5 s default would make
		// such a partition miss many polls after Open; no longer than a
		// poll keeps them in step.
		kgo.FetchMaxWait(min(s.opts.PollTimeout, 5*time.Second)),
	}
	if s.opts.TLS != nil {
		o = append(o, kgo.DialTLSConfig(s.opts.TLS.Clone()))
	}
	if s.opts.SASL != nil {
		o = append(o, kgo.SASL(s.opts.SASL))
	}
	return o
}

func (s *Source) startOffset(p int32) kgo.Offset {
	if o, ok := s.resume[p]; ok {
		return kgo.NewOffset().At(o).WithEpoch(-1)
	}
	if s.opts.Start == StartLatest {
		return kgo.NewOffset().AtEnd()
	}
	return kgo.NewOffset().AtStart()
}

func (s *Source) openDirect(ctx context.Context) error {
	meta, err := kgo.NewClient(append(s.baseOpts(), s.opts.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka: client: %w", err)
	}
	defer meta.Close()
	all, id, err := topicPartitions(ctx, meta, s.opts.Topic)
	if err != nil {
		return err
	}
	parts := all
	if s.opts.Partitions != nil {
		parts = slices.Clone(s.opts.Partitions)
		slices.Sort(parts)
		for _, p := range parts {
			if _, ok := slices.BinarySearch(all, p); !ok {
				return fmt.Errorf("%w: %s has no partition %d (it has %d)", ErrUnknownPartition, s.opts.Topic, p, len(all))
			}
		}
	}
	consume := make(map[int32]kgo.Offset, len(parts))
	for _, p := range parts {
		consume[p] = s.startOffset(p)
	}
	if s.opts.StopAtEnd {
		ends, err := listOffsets(ctx, meta, s.opts.Topic, parts, listLatest)
		if err != nil {
			return err
		}
		starts, err := listOffsets(ctx, meta, s.opts.Topic, parts, listEarliest)
		if err != nil {
			return err
		}
		s.end, s.done = ends, make(map[int32]bool)
		for _, p := range parts {
			r, ok := s.resume[p]
			switch {
			case ok && r > ends[p] && !s.opts.AllowDataLoss:
				return fmt.Errorf("%w: %s/%d resume offset %d is past the end %d", ErrOffsetOutOfRange, s.opts.Topic, p, r, ends[p])
			case ok && r >= ends[p],
				!ok && (starts[p] >= ends[p] || s.opts.Start == StartLatest),
				ok && r < starts[p] && starts[p] >= ends[p] && s.opts.AllowDataLoss:
				s.done[p] = true
				delete(consume, p)
			}
		}
	}
	opts := append(s.baseOpts(), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{s.opts.Topic: consume}))
	cl, err := kgo.NewClient(append(opts, s.opts.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka: client: %w", err)
	}
	s.cl, s.parts, s.topicID = cl, parts, id
	s.mu.Lock()
	for p, o := range s.resume {
		s.mu.next[p] = o // records below the resume offset are never delivered
	}
	s.mu.Unlock()
	return nil
}

func (s *Source) openGroup() error {
	opts := append(s.baseOpts(),
		kgo.ConsumerGroup(s.opts.Group),
		kgo.ConsumeTopics(s.opts.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.OnPartitionsAssigned(s.onAssigned),
		kgo.AdjustFetchOffsetsFn(s.adjustOffsets),
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.onRevoked(m, false) }),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.onRevoked(m, true) }),
	)
	cl, err := kgo.NewClient(append(opts, s.opts.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("kafka: client: %w", err)
	}
	s.cl = cl
	return nil
}

// onAssigned runs on a client goroutine, gated by BlockRebalanceOnPoll so
// that the task goroutine is inside Next.
func (s *Source) onAssigned(_ context.Context, _ *kgo.Client, m map[string][]int32) {
	ps := slices.Sorted(slices.Values(m[s.opts.Topic]))
	if len(ps) == 0 {
		return
	}
	s.mu.Lock()
	closing := s.mu.closing
	s.mu.Unlock()
	var offs map[int32]int64
	var err error
	if s.opts.OnAssigned != nil && !closing {
		offs, err = s.opts.OnAssigned(slices.Clone(ps))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil && s.mu.cbErr == nil {
		s.mu.cbErr = fmt.Errorf("kafka: OnAssigned: %w", err)
	}
	for _, p := range ps {
		s.mu.assigned[p] = true
		o, ok := offs[p]
		if !ok {
			o, ok = s.mu.next[p]
		}
		if !ok {
			o, ok = s.resume[p]
		}
		if ok {
			s.mu.startAt[p], s.mu.next[p] = o, o
		} else {
			delete(s.mu.startAt, p)
			delete(s.mu.next, p)
		}
	}
}

// adjustOffsets replaces the group's committed offsets, which das never
// trusts, with the offsets chosen in onAssigned.
func (s *Source) adjustOffsets(_ context.Context, offsets map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for p := range offsets[s.opts.Topic] {
		if o, ok := s.mu.startAt[p]; ok {
			offsets[s.opts.Topic][p] = kgo.NewOffset().At(o).WithEpoch(-1)
		} else if s.opts.Start == StartLatest {
			offsets[s.opts.Topic][p] = kgo.NewOffset().AtEnd()
		} else {
			offsets[s.opts.Topic][p] = kgo.NewOffset().AtStart()
		}
	}
	return offsets, nil
}

func (s *Source) onRevoked(m map[string][]int32, lost bool) {
	ps := slices.Sorted(slices.Values(m[s.opts.Topic]))
	if len(ps) == 0 {
		return
	}
	s.mu.Lock()
	for _, p := range ps {
		delete(s.mu.assigned, p)
	}
	closing := s.mu.closing
	s.mu.Unlock()
	if s.opts.OnRevoked != nil && !closing {
		s.opts.OnRevoked(ps, lost)
	}
}

// Partitions returns the partitions the source reads: the direct set, or the
// current group assignment, sorted.
func (s *Source) Partitions() []int32 {
	if s.opts.Assign == AssignDirect {
		return slices.Clone(s.parts)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ps := make([]int32, 0, len(s.mu.assigned))
	for p := range s.mu.assigned {
		ps = append(ps, p)
	}
	slices.Sort(ps)
	return ps
}

// Next returns the next partition batch of the current poll, polling when
// the poll is used up. The batch and everything it references (event SQL,
// reject bytes) are valid until the next call to Next.
//
// It returns an idle batch (Partition NoPartition, NextOffset -1) when
// PollTimeout passes without records, io.EOF once a bounded source has
// reached every end offset, and ctx.Err() when ctx is done.
func (s *Source) Next(ctx context.Context) (*stream.Batch[sources.Event], error) {
	if s.cl == nil {
		return nil, ErrNotOpen
	}
	for {
		for len(s.queue) > 0 {
			fp := s.queue[0]
			s.queue[0] = kgo.FetchPartition{}
			s.queue = s.queue[1:]
			if b := s.build(&fp); b != nil {
				return b, nil
			}
		}
		if s.opts.StopAtEnd && len(s.done) == len(s.parts) {
			return nil, io.EOF
		}
		s.mu.Lock()
		err := s.mu.cbErr
		s.mu.Unlock()
		if err != nil {
			return nil, err
		}
		if s.opts.Assign == AssignGroup {
			// Every batch of the previous poll has been processed: a
			// rebalance may run now (inside PollFetches, not later).
			s.cl.AllowRebalance()
		}
		pctx, cancel := context.WithTimeout(ctx, s.opts.PollTimeout)
		fs := s.cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := s.enqueue(fs); err != nil {
			return nil, err
		}
		if len(s.queue) == 0 {
			b := &s.batch
			b.Partition, b.NextOffset = NoPartition, -1
			b.Items, b.ItemOffsets, b.Rejects = b.Items[:0], b.ItemOffsets[:0], b.Rejects[:0]
			return b, nil
		}
	}
}

// enqueue queues the partitions of fs that carry records and turns fetch
// errors into Next errors; errors the client recovers from on its own are
// ignored.
func (s *Source) enqueue(fs kgo.Fetches) error {
	for _, f := range fs {
		for _, t := range f.Topics {
			for _, p := range t.Partitions {
				if p.Err != nil {
					if err := s.fetchErr(t.Topic, p.Partition, p.Err); err != nil {
						return err
					}
				}
				if len(p.Records) > 0 && t.Topic == s.opts.Topic {
					s.queue = append(s.queue, p)
				}
			}
		}
	}
	return nil
}

func (s *Source) fetchErr(topic string, p int32, err error) error {
	var loss *kgo.ErrDataLoss
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return nil // our poll timeout; the caller checks its own ctx
	case errors.Is(err, kgo.ErrClientClosed):
		return ErrClosed
	case errors.As(err, &loss), errors.Is(err, kerr.OffsetOutOfRange):
		if s.opts.AllowDataLoss {
			return nil
		}
		return fmt.Errorf("%w: %s/%d: %v", ErrOffsetOutOfRange, topic, p, err)
	case kerr.IsRetriable(err):
		return nil // the client retries
	}
	var ge *kgo.ErrGroupSession
	if errors.As(err, &ge) {
		return nil // OnPartitionsLost has run; the client rejoins
	}
	return fmt.Errorf("kafka: fetch %s/%d: %w", topic, p, err)
}

// FinishedPartitions returns the partitions of a bounded (StopAtEnd) read
// that reached their end offset: they will deliver nothing more, so the
// engine stops waiting for them when it computes the watermark
// (stream.PartitionFinisher). Nil for an unbounded read.
func (s *Source) FinishedPartitions() []int32 {
	if len(s.done) == 0 {
		return nil
	}
	out := make([]int32, 0, len(s.done))
	for p := range s.done {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// build decodes fp into s.batch. It returns nil when fp holds nothing to
// deliver: a partition no longer assigned, records already returned, or
// records past a bounded partition's end.
func (s *Source) build(fp *kgo.FetchPartition) *stream.Batch[sources.Event] {
	p := fp.Partition
	if s.done[p] {
		return nil
	}
	s.mu.Lock()
	if s.opts.Assign == AssignGroup && !s.mu.assigned[p] {
		s.mu.Unlock()
		return nil
	}
	next, seen := s.mu.next[p]
	s.mu.Unlock()
	end, bounded := s.end[p]

	b := &s.batch
	b.Partition = p
	b.Items, b.ItemOffsets, b.Rejects = b.Items[:0], b.ItemOffsets[:0], b.Rejects[:0]
	size := 0
	for _, r := range fp.Records {
		size += len(r.Value)
	}
	if cap(s.arena) < size {
		// Decoded SQL is never longer than its JSON value, so the arena
		// never grows while a batch is built.
		s.arena = make([]byte, 0, size)
	}
	s.arena = s.arena[:0]
	moved := false
	for _, r := range fp.Records {
		if seen && r.Offset < next {
			continue // already delivered (a refetch after a reconnect)
		}
		if bounded && r.Offset >= end {
			break
		}
		next, seen, moved = r.Offset+1, true, true
		if r.Attrs.IsControl() {
			continue
		}
		if arrowipc.IsStream(r.Value) {
			s.buildArrow(b, p, r)
			continue
		}
		b.Items = append(b.Items, sources.Event{})
		ev := &b.Items[len(b.Items)-1]
		if err := s.dec.Decode(r.Value, ev); err != nil {
			b.Items = b.Items[:len(b.Items)-1]
			reason, detail := sources.ReasonMalformed, err.Error()
			var de *sources.DecodeError
			if errors.As(err, &de) {
				reason, detail = de.Reason, de.Detail
			}
			b.Rejects = append(b.Rejects, stream.Reject{Partition: p, Offset: r.Offset, Reason: reason, Detail: detail, Raw: r.Value})
			continue
		}
		b.ItemOffsets = append(b.ItemOffsets, r.Offset)
		s.arena = ev.Keep(s.arena)
	}
	if !moved {
		return nil
	}
	s.mu.Lock()
	s.mu.next[p] = next
	s.mu.Unlock()
	b.NextOffset = next
	if bounded && next >= end {
		s.done[p] = true
		s.cl.PauseFetchPartitions(map[string][]int32{s.opts.Topic: {p}})
	}
	return b
}

// buildArrow appends the rows of a record whose value is an Arrow IPC
// stream (das agent --format arrow: one stream of many events per record).
// Every row carries the record's offset; a row that fails validation is a
// reject with the row's JSON form, and a value that is not a readable
// stream is one reject with its raw bytes (rows before the damage are
// delivered, as for an arrow: file).
func (s *Source) buildArrow(b *stream.Batch[sources.Event], p int32, r *kgo.Record) {
	ctx := context.Background()
	rd, err := arrowipc.New(bytes.NewReader(r.Value), fmt.Sprintf("record %d/%d", p, r.Offset), arrowipc.Options{})
	if err == nil {
		err = rd.Open(ctx, nil)
	}
	for err == nil {
		var ab *stream.Batch[sources.Event]
		if ab, err = rd.Next(ctx); err != nil {
			break
		}
		for _, rj := range ab.Rejects {
			raw := slices.Clone(rj.Raw)
			b.Rejects = append(b.Rejects, stream.Reject{Partition: p, Offset: r.Offset, Reason: rj.Reason,
				Detail: fmt.Sprintf("row %d of the record's Arrow stream", rj.Offset), Raw: raw})
		}
		for i := range ab.Items {
			b.Items = append(b.Items, ab.Items[i])
			b.ItemOffsets = append(b.ItemOffsets, r.Offset)
			s.arena = b.Items[len(b.Items)-1].Keep(s.arena)
		}
	}
	if rd != nil {
		rd.Close()
	}
	if err != nil && err != io.EOF {
		b.Rejects = append(b.Rejects, stream.Reject{Partition: p, Offset: r.Offset, Reason: sources.ReasonMalformed,
			Detail: "arrow: " + err.Error(), Raw: r.Value})
	}
}

// CommitOffsets mirrors the engine's checkpointed offsets (partition →
// NextOffset) to Options.Group so that lag tools see the job's progress. It
// is a no-op without a group. In group mode only partitions still assigned
// are committed, so a revoked partition's commit cannot rewind its new
// owner's.
func (s *Source) CommitOffsets(ctx context.Context, offsets map[int32]int64) error {
	if s.cl == nil {
		return ErrNotOpen
	}
	if s.opts.Group == "" || len(offsets) == 0 {
		return nil
	}
	if s.opts.Assign == AssignGroup {
		commit := make(map[int32]kgo.EpochOffset, len(offsets))
		s.mu.Lock()
		for p, o := range offsets {
			if s.mu.assigned[p] {
				commit[p] = kgo.EpochOffset{Epoch: -1, Offset: o}
			}
		}
		s.mu.Unlock()
		if len(commit) == 0 {
			return nil
		}
		var cerr error
		s.cl.CommitOffsetsSync(ctx, map[string]map[int32]kgo.EpochOffset{s.opts.Topic: commit},
			func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
				cerr = commitErr(resp, err)
			})
		return cerr
	}
	// A "simple" commit: generation -1 and no member, accepted by a group
	// that has no active members.
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group = s.opts.Group
	req.Generation = -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic, rt.TopicID = s.opts.Topic, s.topicID
	for _, p := range slices.Sorted(maps.Keys(offsets)) {
		rp := kmsg.NewOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset, rp.LeaderEpoch = p, offsets[p], -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, s.cl)
	return commitErr(resp, err)
}

func commitErr(resp *kmsg.OffsetCommitResponse, err error) error {
	if err != nil {
		return fmt.Errorf("kafka: commit offsets: %w", err)
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
				return fmt.Errorf("kafka: commit offsets %s/%d: %w", t.Topic, p.Partition, err)
			}
		}
	}
	return nil
}

// Close leaves the group (without calling OnRevoked: the engine is the one
// closing) and closes the client. The source can be opened again.
func (s *Source) Close() error {
	if s.cl == nil {
		return nil
	}
	s.mu.Lock()
	s.mu.closing = true
	s.mu.Unlock()
	if s.opts.Assign == AssignGroup {
		s.cl.AllowRebalance() // leaving the group waits for our poll
	}
	s.cl.Close()
	s.cl = nil
	s.queue = nil
	return nil
}

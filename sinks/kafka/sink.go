// Package kafka writes minute rows to the compacted Kafka topic
// das.sql-minute as upserts: key instance|db|template_id|minute, value the
// row as JSON. It implements sinks.Sink in one of two modes.
//
// # At-least-once (default: no TransactionalID)
//
// Precommit produces the epoch's rows with the idempotent producer and waits
// until every one is acknowledged (acks=all), so the rows are durable before
// the engine's checkpoint records them; Commit and Recover have nothing to
// do. A crash before the checkpoint makes the engine re-process its input and
// emit the same rows again: duplicates of a (key, version) that a compacted
// topic and the highest-version rule absorb. Rows are visible as soon as
// Precommit produces them.
//
// # Transactional (TransactionalID set)
//
// Precommit writes the epoch's records to a spool file, then produces them
// inside a Kafka transaction and flushes; Commit commits the transaction, so
// read_committed readers see an epoch all at once, and only once its
// checkpoint is durable. Kafka cannot commit a transaction after the
// producer that opened it is gone (a new producer with the same
// transactional ID aborts it), so a crash between the checkpoint and Commit
// aborts the epoch's transaction; Recover then produces the spooled records
// again in a new transaction and commits it. Every committed row therefore
// comes from a checkpointed epoch, and none is lost; a crash after the
// commit but before the spool file is removed can commit an epoch twice
// (identical records, harmless). Recover also fences any zombie producer
// with the same transactional ID.
//
// The transactional ID must be unique per task and stable across restarts
// (e.g. "das-sqlagg-p3"); SpoolDir belongs to this sink alone.
package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/das-project/das/sinks"
)

// DefaultTopic is the topic minute rows go to.
const DefaultTopic = "das.sql-minute"

// Errors returned by the sink. Test with errors.Is.
var (
	// ErrBadOptions: Options that New cannot accept.
	ErrBadOptions = errors.New("sinks/kafka: bad options")
	// ErrClosed: a call on a closed sink.
	ErrClosed = errors.New("sinks/kafka: sink closed")
	// ErrEpochOrder: Precommit with an epoch not greater than the last.
	ErrEpochOrder = errors.New("sinks/kafka: epoch not increasing")
	// ErrUncommitted: Precommit while the previous epoch's transaction is
	// still open (Commit was not called).
	ErrUncommitted = errors.New("sinks/kafka: previous epoch not committed")
	// ErrBadPending: a Pending this sink did not produce.
	ErrBadPending = errors.New("sinks/kafka: pending does not belong to this sink")
	// ErrPendingLost: Commit of a precommitted epoch whose transaction is
	// gone and whose spool file is missing.
	ErrPendingLost = errors.New("sinks/kafka: precommitted epoch lost")
)

// Options configures a Sink. Zero values mean the stated defaults.
type Options struct {
	// Brokers are seed brokers, HOST:PORT. Required.
	Brokers []string
	// Topic receives the rows. Default DefaultTopic.
	Topic string
	// Partitions is the partition count New creates Topic with, with
	// cleanup.policy=compact, when it does not exist. Default 1. An
	// existing topic is used as it is.
	Partitions int32
	// NoCreateTopic makes New fail if Topic does not exist. Default false.
	NoCreateTopic bool
	// TransactionalID selects the transactional mode (see the package
	// documentation). Default "": at-least-once.
	TransactionalID string
	// SpoolDir holds precommitted epochs until Commit. Required with
	// TransactionalID; owned by this sink alone.
	SpoolDir string
	// NoSync skips the spool's fsyncs. Tests only. Default false.
	NoSync bool
	// Timeout bounds each Precommit, Commit and Recover (the sinks.Sink
	// methods take no context). Default 30s.
	Timeout time.Duration
	// TLS enables TLS with this configuration. Default nil (plaintext).
	TLS *tls.Config
	// SASL authenticates with this mechanism (see sources/kafka.SASL).
	SASL sasl.Mechanism
	// ClientOpts are passed to the franz-go client last, so they override
	// the sink's own (e.g. kgo.ProducerBatchCompression).
	ClientOpts []kgo.Opt
}

// Sink is a sinks.Sink writing to Kafka. It is owned by one task and is not
// safe for concurrent use.
type Sink struct {
	opts Options
	cl   *kgo.Client

	spans []span // records of the current epoch
	arena []byte // their bytes
	row   sinks.MinuteRow

	lastEpoch uint64 // last Precommit (or Recover) epoch
	committed uint64 // last epoch known committed (transactional)
	txnEpoch  uint64 // epoch of the open transaction; 0 when none
	closed    bool
}

var _ sinks.Sink = (*Sink)(nil)

// New validates opts, connects, and creates the topic (compacted) if it is
// missing and allowed to.
func New(ctx context.Context, opts Options) (*Sink, error) {
	switch {
	case len(opts.Brokers) == 0:
		return nil, fmt.Errorf("%w: Brokers is empty", ErrBadOptions)
	case opts.Partitions < 0:
		return nil, fmt.Errorf("%w: Partitions %d, want >= 0", ErrBadOptions, opts.Partitions)
	case opts.Timeout < 0:
		return nil, fmt.Errorf("%w: Timeout %v, want >= 0", ErrBadOptions, opts.Timeout)
	case opts.TransactionalID != "" && opts.SpoolDir == "":
		return nil, fmt.Errorf("%w: TransactionalID needs SpoolDir", ErrBadOptions)
	case opts.TransactionalID == "" && opts.SpoolDir != "":
		return nil, fmt.Errorf("%w: SpoolDir is only used with TransactionalID", ErrBadOptions)
	}
	if opts.Topic == "" {
		opts.Topic = DefaultTopic
	}
	if opts.Partitions == 0 {
		opts.Partitions = 1
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.SpoolDir != "" {
		if err := os.MkdirAll(opts.SpoolDir, 0o755); err != nil {
			return nil, fmt.Errorf("sinks/kafka: spool dir: %w", err)
		}
	}
	kopts := append(opts.baseOpts(), kgo.DefaultProduceTopic(opts.Topic))
	if opts.TransactionalID != "" {
		kopts = append(kopts, kgo.TransactionalID(opts.TransactionalID))
	}
	cl, err := kgo.NewClient(append(kopts, opts.ClientOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("sinks/kafka: client: %w", err)
	}
	s := &Sink{opts: opts, cl: cl}
	if err := s.ensureTopic(ctx); err != nil {
		cl.Close()
		return nil, err
	}
	return s, nil
}

func (o *Options) baseOpts() []kgo.Opt {
	k := []kgo.Opt{kgo.SeedBrokers(o.Brokers...), kgo.RequiredAcks(kgo.AllISRAcks())}
	if o.TLS != nil {
		k = append(k, kgo.DialTLSConfig(o.TLS.Clone()))
	}
	if o.SASL != nil {
		k = append(k, kgo.SASL(o.SASL))
	}
	return k
}

func (s *Sink) ensureTopic(ctx context.Context) error {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(s.opts.Topic)
	meta.Topics = append(meta.Topics, mt)
	resp, err := meta.RequestWith(ctx, s.cl)
	if err != nil {
		return fmt.Errorf("sinks/kafka: metadata: %w", err)
	}
	if len(resp.Topics) == 1 && resp.Topics[0].ErrorCode == 0 {
		return nil
	}
	if s.opts.NoCreateTopic {
		return fmt.Errorf("sinks/kafka: topic %s does not exist and NoCreateTopic is set", s.opts.Topic)
	}
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = s.opts.Topic
	rt.NumPartitions = s.opts.Partitions
	rt.ReplicationFactor = -1
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "cleanup.policy", kmsg.StringPtr("compact")
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	cresp, err := req.RequestWith(ctx, s.cl)
	if err != nil {
		return fmt.Errorf("sinks/kafka: create topic %s: %w", s.opts.Topic, err)
	}
	for _, t := range cresp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("sinks/kafka: create topic %s: %w", s.opts.Topic, err)
		}
	}
	return nil
}

// Write encodes rows and buffers them for the current epoch. Rows whose
// strings are not valid UTF-8 are repaired (sinks.MinuteRow.MakeValidUTF8)
// so that key and JSON value agree.
func (s *Sink) Write(rows []sinks.MinuteRow) error {
	if s.closed {
		return ErrClosed
	}
	for i := range rows {
		r := &rows[i]
		if !r.ValidUTF8() {
			s.row = *r
			s.row.MakeValidUTF8()
			r = &s.row
		}
		k0 := len(s.arena)
		s.arena = AppendKey(s.arena, r)
		v0 := len(s.arena)
		s.arena = AppendValue(s.arena, r)
		// Offsets now, slices at Precommit: the arena may still move.
		s.spans = append(s.spans, span{k0, v0, len(s.arena)})
	}
	return nil
}

// span locates one record in the arena: key [k, v), value [v, end).
type span struct{ k, v, end int }

// records returns the buffered records as slices of the arena.
func (s *Sink) records() []kv {
	recs := make([]kv, len(s.spans))
	for i, sp := range s.spans {
		recs[i] = kv{key: s.arena[sp.k:sp.v:sp.v], value: s.arena[sp.v:sp.end:sp.end]}
	}
	return recs
}

func (s *Sink) reset() {
	s.spans, s.arena = s.spans[:0], s.arena[:0]
}

// Precommit makes the epoch's rows durable: produced and acknowledged
// (at-least-once: visible now), or spooled and produced in an open
// transaction (transactional: visible at Commit).
func (s *Sink) Precommit(epoch uint64) (sinks.Pending, error) {
	if s.closed {
		return sinks.Pending{}, ErrClosed
	}
	if epoch <= s.lastEpoch {
		return sinks.Pending{}, fmt.Errorf("%w: %d after %d", ErrEpochOrder, epoch, s.lastEpoch)
	}
	if s.txnEpoch != 0 {
		return sinks.Pending{}, fmt.Errorf("%w: epoch %d is open", ErrUncommitted, s.txnEpoch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	recs := s.records()
	p := sinks.Pending{Epoch: epoch}
	if s.opts.TransactionalID == "" {
		if err := s.produce(ctx, recs); err != nil {
			return sinks.Pending{}, err
		}
		s.lastEpoch = epoch
		s.reset()
		return p, nil
	}
	if len(recs) > 0 {
		if err := writeSpool(s.opts.SpoolDir, epoch, recs, s.opts.NoSync); err != nil {
			return sinks.Pending{}, fmt.Errorf("sinks/kafka: spool epoch %d: %w", epoch, err)
		}
		if err := s.beginProduce(ctx, recs); err != nil {
			os.Remove(spoolPath(s.opts.SpoolDir, epoch))
			return sinks.Pending{}, err
		}
		s.txnEpoch = epoch
		p.Files = []string{spoolName(epoch)}
	}
	s.lastEpoch = epoch
	s.reset()
	return p, nil
}

// produce sends recs and waits until all are acknowledged.
func (s *Sink) produce(ctx context.Context, recs []kv) error {
	var mu sync.Mutex
	var first error
	for _, r := range recs {
		rec := &kgo.Record{Key: r.key, Value: r.value}
		s.cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			mu.Lock()
			if err != nil && first == nil {
				first = err
			}
			mu.Unlock()
		})
	}
	if err := s.cl.Flush(ctx); err != nil {
		// Whatever is still buffered is abandoned; the engine retries the
		// epoch from its last checkpoint.
		_ = s.cl.AbortBufferedRecords(context.Background())
		return fmt.Errorf("sinks/kafka: flush: %w", err)
	}
	// Flush returns after every promise ran: first is settled.
	mu.Lock()
	defer mu.Unlock()
	if first != nil {
		return fmt.Errorf("sinks/kafka: produce: %w", first)
	}
	return nil
}

// beginProduce opens a transaction and produces recs into it.
func (s *Sink) beginProduce(ctx context.Context, recs []kv) error {
	if err := s.cl.BeginTransaction(); err != nil {
		return fmt.Errorf("sinks/kafka: begin transaction: %w", err)
	}
	if err := s.produce(ctx, recs); err != nil {
		actx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
		defer cancel()
		_ = s.cl.EndTransaction(actx, kgo.TryAbort)
		return err
	}
	return nil
}

// Commit makes p's rows visible: it commits the open transaction of
// p.Epoch, or, after a restart, produces p's spooled records again in a new
// transaction. Committing an epoch already committed does nothing.
func (s *Sink) Commit(p sinks.Pending) error {
	if s.closed {
		return ErrClosed
	}
	if err := s.checkPending(p); err != nil {
		return err
	}
	if s.opts.TransactionalID == "" || len(p.Files) == 0 || p.Epoch <= s.committed {
		return nil
	}
	if s.txnEpoch != 0 && s.txnEpoch != p.Epoch {
		return fmt.Errorf("%w: commit of epoch %d while epoch %d is open", ErrBadPending, p.Epoch, s.txnEpoch)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	if s.txnEpoch == p.Epoch {
		s.txnEpoch = 0
		if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			// The spool keeps the records: Recover produces them again.
			return fmt.Errorf("sinks/kafka: commit epoch %d: %w", p.Epoch, err)
		}
	} else if err := s.redo(ctx, p.Epoch); err != nil {
		return err
	}
	s.committed = p.Epoch
	if err := os.Remove(spoolPath(s.opts.SpoolDir, p.Epoch)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sinks/kafka: remove spool: %w", err)
	}
	return nil
}

// redo produces a spooled epoch in a new transaction and commits it.
func (s *Sink) redo(ctx context.Context, epoch uint64) error {
	recs, err := readSpool(s.opts.SpoolDir, epoch)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: epoch %d: no open transaction and no spool file", ErrPendingLost, epoch)
	}
	if err != nil {
		return fmt.Errorf("sinks/kafka: %w", err)
	}
	if err := s.beginProduce(ctx, recs); err != nil {
		return err
	}
	if err := s.cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		return fmt.Errorf("sinks/kafka: commit spooled epoch %d: %w", epoch, err)
	}
	return nil
}

func (s *Sink) checkPending(p sinks.Pending) error {
	switch {
	case s.opts.TransactionalID == "" && len(p.Files) > 0,
		len(p.Files) > 1,
		len(p.Files) == 1 && p.Files[0] != spoolName(p.Epoch):
		return fmt.Errorf("%w: %+v", ErrBadPending, p)
	}
	return nil
}

// Abort discards the rows written since the last Precommit. A precommitted
// epoch stays as it is: only Commit or Recover decide its fate.
func (s *Sink) Abort() error {
	if s.closed {
		return ErrClosed
	}
	s.reset()
	return nil
}

// Recover brings Kafka in line with the engine's last durable checkpoint,
// whose Pending is p. Transactional: it fences older producers with the
// same transactional ID (aborting their open transaction), produces again
// and commits every spooled epoch up to p.Epoch, and deletes the spool of
// later epochs, which no checkpoint recorded. At-least-once: nothing to do.
func (s *Sink) Recover(p sinks.Pending) error {
	if s.closed {
		return ErrClosed
	}
	if err := s.checkPending(p); err != nil {
		return err
	}
	s.reset()
	s.lastEpoch = max(s.lastEpoch, p.Epoch)
	if s.opts.TransactionalID == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	if err := s.fence(ctx); err != nil {
		return err
	}
	ents, err := os.ReadDir(s.opts.SpoolDir)
	if err != nil {
		return fmt.Errorf("sinks/kafka: spool dir: %w", err)
	}
	var redo []uint64
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".spool.tmp") {
			os.Remove(filepath.Join(s.opts.SpoolDir, name))
			continue
		}
		epoch, ok := parseSpoolName(name)
		switch {
		case !ok:
		case epoch <= p.Epoch:
			// Checkpointed; perhaps committed already (then this
			// commits identical records again).
			redo = append(redo, epoch)
		default:
			if err := os.Remove(filepath.Join(s.opts.SpoolDir, name)); err != nil {
				return fmt.Errorf("sinks/kafka: remove spool: %w", err)
			}
		}
	}
	slices.Sort(redo)
	for _, epoch := range redo {
		if err := s.redo(ctx, epoch); err != nil {
			return err
		}
		if err := os.Remove(spoolPath(s.opts.SpoolDir, epoch)); err != nil {
			return fmt.Errorf("sinks/kafka: remove spool: %w", err)
		}
	}
	s.committed = max(s.committed, p.Epoch)
	return nil
}

// fence initializes the transactional ID with a separate request: the
// coordinator aborts any transaction a previous incarnation left open and
// fences that producer. Our own client initializes again (a newer epoch) on
// its first transaction.
func (s *Sink) fence(ctx context.Context) error {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.TransactionalID = kmsg.StringPtr(s.opts.TransactionalID)
	req.TransactionTimeoutMillis = int32(s.opts.Timeout / time.Millisecond)
	req.ProducerID, req.ProducerEpoch = -1, -1
	for {
		resp, err := req.RequestWith(ctx, s.cl)
		if err != nil {
			return fmt.Errorf("sinks/kafka: fence %s: %w", s.opts.TransactionalID, err)
		}
		err = kerr.ErrorForCode(resp.ErrorCode)
		if err == nil {
			return nil
		}
		if !kerr.IsRetriable(err) {
			return fmt.Errorf("sinks/kafka: fence %s: %w", s.opts.TransactionalID, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("sinks/kafka: fence %s: %w (last error %v)", s.opts.TransactionalID, ctx.Err(), err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Close closes the client. Rows not precommitted are discarded; an open
// transaction is left to Recover (the broker aborts it at its timeout).
func (s *Sink) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	s.cl.Close()
	s.reset()
	return nil
}

func spoolPath(dir string, epoch uint64) string { return filepath.Join(dir, spoolName(epoch)) }

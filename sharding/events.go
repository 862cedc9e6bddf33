package sharding

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/sources"
)

// EventSink receives one das SQL event per routed statement (the data
// contract of sources.Event: ts_ms, instance, db, user, sql, latency_us,
// rows_sent, rows_affected, err_code; lock_us and rows_examined are not
// known to a client and are 0).
//
// Emit is called on the statement's goroutine, so it must be fast and
// safe for concurrent use; it must not retain ev, and must not modify
// ev.SQL (which it may retain: the bytes are never modified). An error
// (e.g. ErrEventDropped) is counted in das_sharding_event_errors_total.
type EventSink interface {
	Emit(ev *sources.Event) error
}

// EventFunc adapts a function to EventSink: the in-process hand-off to a
// das pipeline.
type EventFunc func(ev *sources.Event) error

// Emit calls f.
func (f EventFunc) Emit(ev *sources.Event) error { return f(ev) }

// ChanSink sends a copy of each event on a channel without blocking; when
// the channel is full the event is dropped and Emit returns
// ErrEventDropped (counted, never silent).
type ChanSink chan<- sources.Event

// Emit implements EventSink.
func (c ChanSink) Emit(ev *sources.Event) error {
	select {
	case c <- *ev:
		return nil
	default:
		return ErrEventDropped
	}
}

// JSONLSink writes each event as one JSON line (sources.AppendJSON), the
// format `das run --input file:PATH` reads. Writes are serialised.
type JSONLSink struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

// NewJSONLSink returns a sink writing to w.
func NewJSONLSink(w io.Writer) *JSONLSink { return &JSONLSink{w: w} }

// Emit implements EventSink.
func (s *JSONLSink) Emit(ev *sources.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf = append(sources.AppendJSON(s.buf[:0], ev), '\n')
	_, err := s.w.Write(s.buf)
	return err
}

// KafkaSink produces each event as a JSON line (sources.AppendJSON, no
// newline) to a Kafka topic, keyed by instance as das.sql-events expects.
// It uses TryProduce: when the client's buffer is full the event is
// dropped and counted rather than stalling the statement. Delivery
// failures are counted too (Stats). The caller owns the client: Flush it
// and close it after the Cluster.
type KafkaSink struct {
	cl    *kgo.Client
	topic string

	produced, failed atomic.Int64
	lastErr          atomic.Pointer[error]
}

// DefaultEventTopic is the topic das reads SQL events from.
const DefaultEventTopic = "das.sql-events"

// NewKafkaSink returns a sink producing to topic (DefaultEventTopic when
// empty) through cl.
func NewKafkaSink(cl *kgo.Client, topic string) *KafkaSink {
	if topic == "" {
		topic = DefaultEventTopic
	}
	return &KafkaSink{cl: cl, topic: topic}
}

// Emit implements EventSink.
func (s *KafkaSink) Emit(ev *sources.Event) error {
	r := &kgo.Record{
		Topic: s.topic,
		Key:   []byte(ev.Instance),
		Value: sources.AppendJSON(make([]byte, 0, 192+len(ev.SQL)), ev),
	}
	s.cl.TryProduce(context.Background(), r, func(_ *kgo.Record, perr error) {
		if perr != nil {
			s.failed.Add(1)
			e := fmt.Errorf("sharding: produce SQL event to %s: %w", s.topic, perr)
			s.lastErr.Store(&e)
			return
		}
		s.produced.Add(1)
	})
	return nil
}

// KafkaSinkStats counts a KafkaSink's events.
type KafkaSinkStats struct {
	Produced int64 // acknowledged by the broker
	Failed   int64 // refused by the client or broker (buffer full included)
	LastErr  error
}

// Stats reports the sink's counters.
func (s *KafkaSink) Stats() KafkaSinkStats {
	st := KafkaSinkStats{Produced: s.produced.Load(), Failed: s.failed.Load()}
	if p := s.lastErr.Load(); p != nil {
		st.LastErr = *p
	}
	return st
}

// Flush waits until every event handed to the sink is acknowledged or
// failed.
func (s *KafkaSink) Flush(ctx context.Context) error { return s.cl.Flush(ctx) }

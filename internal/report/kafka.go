package report

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/das-project/das/sinks"
	sinkkafka "github.com/das-project/das/sinks/kafka"
	"github.com/das-project/das/sources/kafka"
)

// KafkaOptions configure ReadKafka. Zero values mean the stated defaults.
type KafkaOptions struct {
	// Brokers are seed brokers, HOST:PORT. Required.
	Brokers []string
	// Topic is the compacted minute-row topic. Required (das writes
	// das.sql-minute).
	Topic string
	// TLS enables TLS with this configuration. Default nil (plaintext).
	TLS *tls.Config
	// SASL authenticates with this mechanism. Default nil.
	SASL sasl.Mechanism
	// OpenTimeout bounds connecting and listing the topic's offsets.
	// Default 30s.
	OpenTimeout time.Duration
	// ClientOpts are passed to the franz-go client last.
	ClientOpts []kgo.Opt
}

// KafkaStats describes a ReadKafka.
type KafkaStats struct {
	Partitions int   // partitions of the topic
	Records    int64 // data records read (control records excluded)
	// BadRecords counts records that are not minute rows (ErrBadRecord of
	// sinks/kafka); FirstBad describes the first one.
	BadRecords int64
	FirstBad   string
}

// ReadKafka reads the minute-row topic from the start of each partition to
// the end offset it has when ReadKafka starts (the last stable offset: rows
// of open transactions are not read, aborted ones never), hands the decoded
// rows to fn a fetch at a time, and returns. fn must not retain the slice.
// Records that do not decode are counted in the stats, not passed to fn.
func ReadKafka(ctx context.Context, o KafkaOptions, fn func([]sinks.MinuteRow) error) (KafkaStats, error) {
	var st KafkaStats
	if len(o.Brokers) == 0 || o.Topic == "" {
		return st, errors.New("report: kafka input needs brokers and a topic")
	}
	if o.OpenTimeout <= 0 {
		o.OpenTimeout = 30 * time.Second
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(o.Brokers...),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		// Control records are kept so that a partition whose last records
		// are transaction markers still reaches its end offset.
		kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	}
	if o.TLS != nil {
		opts = append(opts, kgo.DialTLSConfig(o.TLS.Clone()))
	}
	if o.SASL != nil {
		opts = append(opts, kgo.SASL(o.SASL))
	}
	opts = append(opts, o.ClientOpts...)

	meta, err := kgo.NewClient(opts...)
	if err != nil {
		return st, fmt.Errorf("report: kafka client: %w", err)
	}
	octx, cancel := context.WithTimeout(ctx, o.OpenTimeout)
	parts, starts, ends, err := topicBounds(octx, meta, o.Topic)
	cancel()
	meta.Close()
	switch {
	case err == nil:
	case errors.Is(err, ErrNoInput) || ctx.Err() != nil:
		return st, err
	case errors.Is(err, context.DeadlineExceeded):
		return st, fmt.Errorf("report: kafka %s not ready within %v (check the broker addresses, TLS and credentials): %w", o.Topic, o.OpenTimeout, err)
	default:
		return st, fmt.Errorf("%w (check the broker addresses, TLS and credentials)", err)
	}
	st.Partitions = len(parts)
	consume := make(map[int32]kgo.Offset)
	for _, p := range parts {
		if starts[p] < ends[p] {
			consume[p] = kgo.NewOffset().At(starts[p])
		}
	}
	if len(consume) == 0 {
		return st, fmt.Errorf("%w: topic %s is empty", ErrNoInput, o.Topic)
	}
	cl, err := kgo.NewClient(append(opts, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{o.Topic: consume}))...)
	if err != nil {
		return st, fmt.Errorf("report: kafka client: %w", err)
	}
	defer cl.Close()

	next := make(map[int32]int64, len(consume))
	var rows []sinks.MinuteRow
	for len(consume) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return st, err
		}
		var ferr error
		fs.EachError(func(topic string, p int32, err error) {
			var loss *kgo.ErrDataLoss
			if errors.As(err, &loss) {
				return // the log start moved past us (retention): the client resumes at the new start
			}
			if ferr == nil && !kerr.IsRetriable(err) && !errors.Is(err, context.Canceled) {
				ferr = fmt.Errorf("report: kafka fetch %s/%d: %w", topic, p, err)
			}
		})
		if ferr != nil {
			return st, ferr
		}
		rows = rows[:0]
		fs.EachPartition(func(fp kgo.FetchTopicPartition) {
			p := fp.Partition
			if _, ok := consume[p]; !ok {
				return
			}
			for _, r := range fp.Records {
				if r.Offset >= ends[p] {
					break
				}
				if n, ok := next[p]; ok && r.Offset < n {
					continue // a refetch after a reconnect
				}
				next[p] = r.Offset + 1
				if r.Attrs.IsControl() {
					continue
				}
				row, err := sinkkafka.DecodeRecord(r.Key, r.Value)
				if err != nil {
					st.BadRecords++
					if st.FirstBad == "" {
						st.FirstBad = fmt.Sprintf("%s/%d offset %d: %v", o.Topic, p, r.Offset, err)
					}
					continue
				}
				st.Records++
				rows = append(rows, row)
			}
			if next[p] >= ends[p] {
				delete(consume, p)
				cl.PauseFetchPartitions(map[string][]int32{o.Topic: {p}})
			}
		})
		if len(rows) > 0 {
			if err := fn(rows); err != nil {
				return st, err
			}
		}
	}
	return st, nil
}

// topicBounds returns topic's partitions with their log start and end (last
// stable) offsets.
func topicBounds(ctx context.Context, cl *kgo.Client, topic string) ([]int32, map[int32]int64, map[int32]int64, error) {
	parts, starts, ends, err := kafka.TopicBounds(ctx, cl, topic)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, nil, nil, fmt.Errorf("%w: topic %s does not exist", ErrNoInput, topic)
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("report: %w", err)
	}
	return parts, starts, ends, nil
}

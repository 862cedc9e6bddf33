package kafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"

	"github.com/das-project/das/sources"
)

// Errors returned by the Kafka source. Test with errors.Is.
var (
	// ErrBadURI: a kafka:// URI that ParseURI cannot accept.
	ErrBadURI = errors.New("kafka: bad URI")
	// ErrBadOptions: Options that New cannot accept.
	ErrBadOptions = errors.New("kafka: bad options")
	// ErrNotOpen: Next, Partitions or CommitOffsets before Open.
	ErrNotOpen = errors.New("kafka: source not open")
	// ErrClosed: the source was closed.
	ErrClosed = errors.New("kafka: source closed")
	// ErrUnknownPartition: Options.Partitions names a partition the topic
	// does not have.
	ErrUnknownPartition = errors.New("kafka: unknown partition")
	// ErrOffsetOutOfRange: a partition's resume offset is not in the log
	// (deleted by retention, or beyond the end after the topic was
	// recreated), or the broker lost records the source had read. Resuming
	// anywhere else would skip or repeat records, so the source stops
	// unless Options.AllowDataLoss is set.
	ErrOffsetOutOfRange = errors.New("kafka: resume offset out of range")
)

// Assign selects how the source gets its partitions.
type Assign uint8

const (
	// AssignDirect: the source reads Options.Partitions (all partitions of
	// the topic when nil) itself, with no group membership. The default:
	// one das process owns the topic, and exactly-once needs nothing from
	// Kafka beyond the records.
	AssignDirect Assign = iota
	// AssignGroup: the source joins Options.Group and reads the partitions
	// the group assigns, so several das processes share a topic. Assignment
	// changes are reported through Options.OnAssigned and OnRevoked.
	AssignGroup
)

// Start says where a partition starts when the engine has no offset for it.
type Start uint8

const (
	// StartEarliest starts at the first record still in the log (default).
	StartEarliest Start = iota
	// StartLatest starts at the end: only records produced from now on.
	StartLatest
)

// NoPartition is the Partition of an idle batch: a poll that timed out with
// no records. Such a batch carries no position (NextOffset is -1); the
// engine must not record it as an offset.
const NoPartition int32 = -1

// Decoder turns one record value into an Event. *sources.Decoder is the
// production decoder; its *sources.DecodeError gives the reject reason.
// ev.SQL may point into the decoder's memory until the next Decode call: the
// source copies it.
type Decoder interface {
	Decode(raw []byte, ev *sources.Event) error
}

// Options configures a Kafka source. Zero values mean the stated defaults.
type Options struct {
	// Brokers are seed brokers, HOST:PORT. Required.
	Brokers []string
	// Topic is the topic to read. Required.
	Topic string
	// Group is the consumer group. With AssignDirect it is optional and
	// only receives CommitOffsets (as a "simple" group with no members) so
	// that lag tools see the job's progress; with AssignGroup it is
	// required and assigns partitions. Default "" (no commits).
	Group string
	// Assign selects direct partition reading (default) or group assignment.
	Assign Assign
	// Partitions restricts AssignDirect to these partitions. Default nil:
	// every partition the topic has at Open. Partitions added later are not
	// picked up until the next Open.
	Partitions []int32
	// Start is where a partition with no resume offset starts. Default
	// StartEarliest.
	Start Start
	// StopAtEnd makes the source bounded: it stops at each partition's end
	// (last stable) offset as seen at Open and then Next returns io.EOF.
	// AssignDirect only. Default false (run until closed).
	StopAtEnd bool
	// AllowDataLoss lets the source continue when a resume offset is out of
	// range or the broker lost records: it restarts the partition at the
	// earliest offset still in the log. Default false: Next returns
	// ErrOffsetOutOfRange and the partition stops.
	AllowDataLoss bool
	// PollTimeout is how long Next waits for records before it returns an
	// idle batch (Partition NoPartition). Default 200ms.
	PollTimeout time.Duration
	// Decoder decodes record values. Default a new *sources.Decoder.
	Decoder Decoder
	// TLS enables TLS with this configuration. Default nil (plaintext).
	TLS *tls.Config
	// SASL authenticates with this mechanism (see SASL). Default nil.
	SASL sasl.Mechanism
	// OnAssigned is called in group mode when the group assigns
	// partitions, before any of their records is fetched. It returns the
	// offsets to resume them from (the engine restores their state and
	// reads their offsets from it); a partition absent from the result
	// resumes where this source last left it, else at its Open resume
	// offset, else at Start. Default nil: as if it returned nil.
	//
	// It runs on a client goroutine while the task goroutine is blocked in
	// Next (or Close), so it may touch the task's state without locking.
	OnAssigned func(partitions []int32) (map[int32]int64, error)
	// OnRevoked is called in group mode when partitions are taken away
	// (lost is false: a rebalance; the engine may still checkpoint them) or
	// lost (lost is true: the member was expelled; another member may
	// already own them). Every batch Next returned for them has been
	// processed, and none is returned after. Same goroutine rule as
	// OnAssigned. Default nil.
	OnRevoked func(partitions []int32, lost bool)
	// ClientOpts are passed to the franz-go client after the source's own
	// options, so they override them (e.g. kgo.FetchMaxBytes,
	// kgo.SessionTimeout, kgo.WithLogger).
	ClientOpts []kgo.Opt
}

func (o *Options) validate() error {
	switch {
	case len(o.Brokers) == 0:
		return fmt.Errorf("%w: Brokers is empty", ErrBadOptions)
	case o.Topic == "":
		return fmt.Errorf("%w: Topic is empty", ErrBadOptions)
	case o.Assign > AssignGroup:
		return fmt.Errorf("%w: Assign %d, want AssignDirect or AssignGroup", ErrBadOptions, o.Assign)
	case o.Start > StartLatest:
		return fmt.Errorf("%w: Start %d, want StartEarliest or StartLatest", ErrBadOptions, o.Start)
	case o.Assign == AssignGroup && o.Group == "":
		return fmt.Errorf("%w: AssignGroup needs Group", ErrBadOptions)
	case o.Assign == AssignGroup && o.StopAtEnd:
		return fmt.Errorf("%w: StopAtEnd works with AssignDirect only", ErrBadOptions)
	case o.Assign == AssignGroup && o.Partitions != nil:
		return fmt.Errorf("%w: Partitions works with AssignDirect only", ErrBadOptions)
	case o.PollTimeout < 0:
		return fmt.Errorf("%w: PollTimeout %v, want >= 0", ErrBadOptions, o.PollTimeout)
	}
	if err := validTopic(o.Topic); err != nil {
		return fmt.Errorf("%w: %v", ErrBadOptions, err)
	}
	seen := make(map[int32]bool, len(o.Partitions))
	for _, p := range o.Partitions {
		if p < 0 || seen[p] {
			return fmt.Errorf("%w: Partitions: %d is negative or repeated", ErrBadOptions, p)
		}
		seen[p] = true
	}
	return nil
}

package sqlagg

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/das-project/das/sinks"
	kafkasink "github.com/das-project/das/sinks/kafka"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/kafka"
	"github.com/das-project/das/stream"
)

// openKafka reads a topic directly (one task, all partitions), mirroring
// checkpointed offsets to the URI's group, if any, for lag tools.
func openKafka(uri string, cfg Config) (stream.Source[sources.Event], bool, error) {
	u, err := kafka.ParseURI(uri)
	if err != nil {
		return nil, false, err
	}
	if u.Assign == kafka.AssignGroup {
		// The source can join a group, but this task does not move keyed
		// state between processes when a rebalance moves a partition: the
		// new owner would resume it from its own state, losing or
		// repeating events.
		return nil, false, fmt.Errorf("sqlagg: input %q: assign=group is not supported by das run yet "+
			"(partitions moved by a rebalance would not take their window state along, so exactly-once would not hold); "+
			"run one das run per topic with the default assign=direct, and add group=NAME to mirror offsets for lag tools", uri)
	}
	s, err := kafka.New(kafka.Options{
		Brokers:   u.Brokers,
		Topic:     u.Topic,
		Group:     u.Group,
		Assign:    u.Assign,
		Start:     u.Start,
		StopAtEnd: cfg.KafkaStopAtEnd,
		TLS:       cfg.KafkaTLS,
		SASL:      cfg.KafkaSASL,
	})
	return s, !cfg.KafkaStopAtEnd, err
}

// openKafkaOutput opens the compacted-topic sink named by cfg.KafkaOutput.
func openKafkaOutput(ctx context.Context, cfg Config) (sinks.Sink, error) {
	u, err := kafka.ParseURI(cfg.KafkaOutput)
	if err != nil {
		return nil, fmt.Errorf("sqlagg: kafka output: %w", err)
	}
	o := kafkasink.Options{Brokers: u.Brokers, Topic: u.Topic, TLS: cfg.KafkaTLS, SASL: cfg.KafkaSASL}
	if cfg.KafkaTransactionalID != "" {
		o.TransactionalID = cfg.KafkaTransactionalID
		o.SpoolDir = filepath.Join(cfg.StateDir, "kafka-spool")
	}
	return kafkasink.New(ctx, o)
}

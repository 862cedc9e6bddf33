package sqlagg

import (
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
	s, err := kafka.New(kafka.Options{
		Brokers:   u.Brokers,
		Topic:     u.Topic,
		Group:     u.Group,
		Assign:    u.Assign,
		Start:     u.Start,
		StopAtEnd: cfg.KafkaStopAtEnd,
	})
	return s, !cfg.KafkaStopAtEnd, err
}

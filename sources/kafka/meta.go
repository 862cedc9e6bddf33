package kafka

import (
	"context"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicPartitions returns the sorted partition IDs of topic and its topic ID.
func topicPartitions(ctx context.Context, cl *kgo.Client, topic string) ([]int32, [16]byte, error) {
	var id [16]byte
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return nil, id, fmt.Errorf("kafka: metadata for %s: %w", topic, err)
	}
	if len(resp.Topics) != 1 {
		return nil, id, fmt.Errorf("kafka: metadata for %s: %d topics in the answer", topic, len(resp.Topics))
	}
	t := resp.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return nil, id, fmt.Errorf("kafka: metadata for %s: %w", topic, err)
	}
	ps := make([]int32, 0, len(t.Partitions))
	for _, p := range t.Partitions {
		ps = append(ps, p.Partition)
	}
	slices.Sort(ps)
	return ps, t.TopicID, nil
}

// TopicBounds returns topic's sorted partitions with their log start and
// end offsets as a read_committed consumer sees them (the end is the last
// stable offset): what a bounded read of the whole topic covers. A topic
// that does not exist gives an error wrapping kerr.UnknownTopicOrPartition.
func TopicBounds(ctx context.Context, cl *kgo.Client, topic string) (parts []int32, starts, ends map[int32]int64, err error) {
	if parts, _, err = topicPartitions(ctx, cl, topic); err != nil {
		return nil, nil, nil, err
	}
	if starts, err = listOffsets(ctx, cl, topic, parts, listEarliest); err != nil {
		return nil, nil, nil, err
	}
	if ends, err = listOffsets(ctx, cl, topic, parts, listLatest); err != nil {
		return nil, nil, nil, err
	}
	return parts, starts, ends, nil
}

// Timestamps of ListOffsets that ask for the log's ends.
const (
	listLatest   = -1 // the end: with read_committed, the last stable offset
	listEarliest = -2 // the log start offset
)

// listOffsets returns, for each of topic's partitions in parts, the offset
// at ts (listLatest or listEarliest) as seen by a read_committed consumer.
func listOffsets(ctx context.Context, cl *kgo.Client, topic string, parts []int32, ts int64) (map[int32]int64, error) {
	req := kmsg.NewPtrListOffsetsRequest()
	req.IsolationLevel = 1 // read_committed
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p
		rp.Timestamp = ts
		rp.CurrentLeaderEpoch = -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	ends := make(map[int32]int64, len(parts))
	for _, sh := range cl.RequestSharded(ctx, req) {
		if sh.Err != nil {
			return nil, fmt.Errorf("kafka: list offsets %s: %w", topic, sh.Err)
		}
		for _, t := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("kafka: list offsets %s/%d: %w", topic, p.Partition, err)
				}
				ends[p.Partition] = p.Offset
			}
		}
	}
	for _, p := range parts {
		if _, ok := ends[p]; !ok {
			return nil, fmt.Errorf("kafka: list offsets %s: no answer for partition %d", topic, p)
		}
	}
	return ends, nil
}

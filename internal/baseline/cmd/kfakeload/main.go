// Command kfakeload serves an in-memory kfake Kafka cluster loaded with a
// JSON lines file, for the Kafka figures of scripts/bench.sh:
//
//	kfakeload -input events.jsonl -topic das.sql-events -partitions 4
//	kfakeload ready 127.0.0.1:40123 records=5000000 produce_s=21.4
//
// Each line becomes one record keyed by its instance (as das agents
// produce), so one instance's events stay in one partition. Once every
// record is acknowledged it prints the ready line and serves until SIGINT,
// SIGTERM or end of stdin. kfake is a test broker, never a production store.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/valyala/fastjson"
)

func main() {
	input := flag.String("input", "", "JSON lines file to produce (required)")
	topic := flag.String("topic", "das.sql-events", "topic to create and fill")
	partitions := flag.Int("partitions", 4, "partitions of the topic")
	port := flag.Int("port", 0, "loopback port of the broker (0: any free port)")
	compression := flag.String("compression", "snappy", "producer batch compression: none, snappy, lz4 or zstd")
	flag.Parse()
	if *input == "" || *partitions <= 0 {
		fmt.Fprintln(os.Stderr, "usage: kfakeload -input FILE [-topic T] [-partitions N] [-port P] [-compression C]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *input, *topic, int32(*partitions), *port, *compression); err != nil {
		fmt.Fprintln(os.Stderr, "kfakeload:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, input, topic string, partitions int32, port int, compression string) error {
	codec, err := codecOf(compression)
	if err != nil {
		return err
	}
	opts := []kfake.Opt{kfake.NumBrokers(1)}
	if port > 0 {
		opts = append(opts, kfake.Ports(port))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return err
	}
	defer c.Close()
	addrs := c.ListenAddrs()
	if err := c.CreateTopic(topic, partitions, nil); err != nil {
		return fmt.Errorf("create topic: %w", err)
	}

	start := time.Now()
	n, err := produce(ctx, addrs, topic, input, codec)
	if err != nil {
		return err
	}
	fmt.Printf("kfakeload ready %s records=%d produce_s=%.1f\n", strings.Join(addrs, ","), n, time.Since(start).Seconds())

	// Serve until a signal or the end of stdin (the parent went away).
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		close(eof)
	}()
	select {
	case <-ctx.Done():
	case <-eof:
	}
	return nil
}

func codecOf(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.NoCompression(), fmt.Errorf("compression %q: want none, snappy, lz4 or zstd", name)
}

// produce writes every line of the file as one record keyed by its
// instance and waits until all are acknowledged.
func produce(ctx context.Context, addrs []string, topic, input string, codec kgo.CompressionCodec) (int64, error) {
	f, err := os.Open(input)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic),
		kgo.ProducerBatchCompression(codec), kgo.ProducerLinger(5*time.Millisecond),
		kgo.MaxBufferedRecords(100_000), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		return 0, err
	}
	defer cl.Close()

	var (
		mu       sync.Mutex
		firstErr error
		n        int64
		p        fastjson.Parser
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var key []byte
		if v, err := p.ParseBytes(line); err == nil {
			key = append([]byte(nil), v.GetStringBytes("instance")...)
		}
		rec := &kgo.Record{Key: key, Value: append([]byte(nil), line...)}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
		n++
	}
	if err := sc.Err(); err != nil {
		return n, err
	}
	if err := cl.Flush(ctx); err != nil {
		return n, err
	}
	mu.Lock()
	defer mu.Unlock()
	if firstErr != nil {
		return n, errors.Join(errors.New("produce"), firstErr)
	}
	return n, nil
}

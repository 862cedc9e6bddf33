// Command kfake-broker serves an in-memory (optionally persisted) kfake
// Kafka cluster on fixed loopback ports, for tests and demos that need a
// broker in a process of its own:
//
//	kfake-broker -ports 9092,9093 -data-dir /var/tmp/kfake -topic das.sql-events:8
//
// It prints "kfake-broker ready HOST:PORT,…" once listening and runs until
// SIGINT or SIGTERM, saving its state to -data-dir on the way out. kfake is a
// test broker, never a production store.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/das-project/das/internal/kafkatest"
)

func main() {
	ports := flag.String("ports", "9092", "comma-separated loopback ports, one broker each")
	dataDir := flag.String("data-dir", "", "persistence directory (empty: memory only)")
	var topics topicFlag
	flag.Var(&topics, "topic", "topic to create as NAME:PARTITIONS (repeatable)")
	flag.Parse()

	cfg := kafkatest.BrokerConfig{DataDir: *dataDir, Topics: topics}
	for _, p := range strings.Split(*ports, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 || n > 65535 {
			fmt.Fprintf(os.Stderr, "kfake-broker: bad port %q\n", p)
			os.Exit(2)
		}
		cfg.Ports = append(cfg.Ports, n)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := kafkatest.ServeBroker(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "kfake-broker:", err)
		os.Exit(1)
	}
}

type topicFlag map[string]int32

func (f *topicFlag) String() string { return "" }

func (f *topicFlag) Set(s string) error {
	name, parts, ok := strings.Cut(s, ":")
	n, err := strconv.ParseInt(parts, 10, 32)
	if !ok || name == "" || err != nil || n <= 0 {
		return fmt.Errorf("want NAME:PARTITIONS with PARTITIONS > 0, got %q", s)
	}
	if *f == nil {
		*f = make(topicFlag)
	}
	(*f)[name] = int32(n)
	return nil
}

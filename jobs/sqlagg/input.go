package sqlagg

import (
	"fmt"
	"strings"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/jsonl"
	"github.com/das-project/das/stream"
)

// openInput opens the source named by cfg.Input (DESIGN.md "Data
// contracts"): a bare path or file:PATH is JSON lines, arrow:PATH Arrow IPC,
// kafka://HOST:PORT[,…]/TOPIC a Kafka topic. live reports an unbounded
// input whose idle partitions may follow the wall clock.
func openInput(cfg Config) (src stream.Source[sources.Event], live bool, err error) {
	in := cfg.Input
	scheme, rest, ok := strings.Cut(in, ":")
	if !ok || strings.ContainsAny(scheme, `/\.`) || len(scheme) < 2 {
		scheme, rest = "file", in // a bare path (also "C:\…"-like or "./x:y")
	}
	switch scheme {
	case "file":
		s, err := jsonl.Open(rest, jsonl.Options{BatchSize: cfg.BatchSize})
		return s, false, err
	case "arrow":
		return openArrow(rest, cfg)
	case "kafka":
		return openKafka(in, cfg)
	case "slowlog":
		return openSlowlog(rest, cfg)
	case "pcap":
		return openPcap(rest, cfg)
	case "iface", "perfschema":
		return nil, false, fmt.Errorf("sqlagg: input %q: %s is an agent input (das agent --input %s:…), not a job input", in, scheme, scheme)
	default:
		return nil, false, fmt.Errorf("sqlagg: input %q: unknown scheme %q (want a path, file:PATH, arrow:PATH, slowlog:PATH, pcap:PATH or kafka://HOST:PORT/TOPIC)", in, scheme)
	}
}

// Command baseline runs the plain Go loop of package baseline over a JSON
// lines file and prints one line of figures, for scripts/bench.sh:
//
//	baseline -mode digest -input events.jsonl
//	mode=digest events=5000000 rejected=0 keys=1999007 elapsed_s=31.2 events_per_s=160256
//
// Run it under /usr/bin/time and taskset -c 0 to get CPU time and peak RSS.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/das-project/das/internal/baseline"
)

func main() {
	mode := flag.String("mode", "digest", "decode, map (no fingerprint) or digest (parser.NormalizeDigest)")
	input := flag.String("input", "", "JSON lines file (required)")
	flag.Parse()
	m, err := baseline.ParseMode(*mode)
	if err != nil || *input == "" {
		fmt.Fprintln(os.Stderr, "usage: baseline -mode decode|map|digest -input FILE")
		os.Exit(2)
	}
	f, err := os.Open(*input)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	defer f.Close()
	start := time.Now()
	res, err := baseline.Run(context.Background(), f, m)
	took := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "baseline:", err)
		os.Exit(1)
	}
	fmt.Printf("mode=%s events=%d rejected=%d keys=%d elapsed_s=%.3f events_per_s=%.0f\n",
		m, res.Events, res.Rejected, len(res.Keys), took.Seconds(), float64(res.Events)/took.Seconds())
}

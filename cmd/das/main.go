// Command das is the Database Autonomy Service: one binary with subcommands.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sort"
	"syscall"
)

// command is one das subcommand. It must not call os.Exit; it returns an
// error that main prints.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdio stdio) error
}

// stdio carries the process streams so commands are testable.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

// errUsage is returned by a command whose flags did not parse; the flag
// package has already printed the message.
var errUsage = errors.New("usage")

func commands() map[string]command {
	return map[string]command{
		"agent":       {"ship SQL events from a slow log, capture or performance_schema to Kafka", cmdAgent},
		"compact":     {"merge committed minute Parquet files into hourly files", cmdCompact},
		"detect":      {"score a CSV time series with the online anomaly detectors", cmdDetect},
		"demo":        {"run sqlagg end to end on embedded defaults (in-process Kafka, generated workload)", cmdDemo},
		"fingerprint": {"print template_id<TAB>template for each SQL line", cmdFingerprint},
		"gen":         {"generate a deterministic SQL event workload", cmdGen},
		"run":         {"run a job: das run sqlagg --input … --state DIR --parquet DIR", cmdRun},
		"leaf":        {"distributed ID service: serve, init, tag add", cmdLeaf},
		"report":      {"rank SQL templates over a time range of minute aggregates (pt-query-digest style)", cmdReport},
	}
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: das <command> [flags]\n\ncommands:")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'das <command> -h' for the command's flags.")
}

func main() {
	if len(os.Args) < 2 || os.Args[1] == "-h" || os.Args[1] == "--help" || os.Args[1] == "help" {
		usage(os.Stderr)
		if len(os.Args) < 2 {
			os.Exit(2)
		}
		return
	}
	cmd, ok := commands()[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "das: unknown command %q\n\n", os.Args[1])
		usage(os.Stderr)
		os.Exit(2)
	}
	// DAS_CPUPROFILE=FILE writes a CPU profile of the command (for
	// docs/performance.md investigations).
	if path := os.Getenv("DAS_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if code := runCommand(ctx, cmd); code != 0 {
		pprof.StopCPUProfile()
		os.Exit(code)
	}
}

func runCommand(ctx context.Context, cmd command) int {
	if err := cmd.run(ctx, os.Args[2:], stdio{in: os.Stdin, out: os.Stdout, err: os.Stderr}); err != nil {
		if errors.Is(err, errUsage) {
			return 2
		}
		fmt.Fprintf(os.Stderr, "das %s: %v\n", os.Args[1], err)
		return 1
	}
	return 0
}

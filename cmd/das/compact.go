package main

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/das-project/das/sinks/parquet"
)

// cmdCompact merges committed minute files into hourly files:
// das compact --parquet DIR [--before TIME].
func cmdCompact(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("das compact", flag.ContinueOnError)
	fs.SetOutput(s.err)
	dir := fs.String("parquet", "", "directory of committed minute-aggregate files (the --parquet of das run)")
	before := fs.String("before", "", "only compact hours ending at or before this RFC 3339 time (default: one hour ago, wall clock)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if *dir == "" {
		fmt.Fprintln(s.err, "das compact: --parquet is required")
		return errUsage
	}
	var opts parquet.CompactOptions
	if *before != "" {
		t, err := time.Parse(time.RFC3339, *before)
		if err != nil {
			return fmt.Errorf("--before %q: want RFC 3339, e.g. 2026-01-01T12:00:00Z: %w", *before, err)
		}
		opts.Before = t
	}
	st, err := parquet.Compact(ctx, *dir, opts)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "merged %d files (%d rows) into %d hour files (%d rows, highest version per key); removed %d files\n",
		st.FilesMerged, st.RowsIn, st.Hours, st.RowsOut, st.FilesRemoved)
	return nil
}

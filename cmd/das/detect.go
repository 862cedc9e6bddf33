package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/das-project/das/models"
	"github.com/das-project/das/models/eval"
)

const detectUsage = `usage:
  das detect --input series.csv [--output scores.csv] [flags]
  das detect --evaluate [--seeds 1,2,3] [--heldout-seeds 101,102,103] [--write-dataset DIR]
  das detect --list

Scores a CSV time series with an online anomaly detector, one row at a time
in file order (no look-ahead), and writes one output row per input row, in
the same order:

  timestamp,value,anomaly_score,is_anomaly

timestamp and value are the input fields, byte for byte; anomaly_score is
the detector's graded score in [0,1]; is_anomaly is true on every point
outside the detector's band (a sustained anomaly gives a run of true rows).
--extra adds expected,lower,upper,direction,alert,warm: alert is true only on
the first point of an anomalous episode (what an alerting job would page on).

Timestamps: RFC 3339 (2024-01-01T00:00:00Z, fractional seconds, an offset),
YYYY-MM-DD HH:MM:SS (UTC; also HH:MM, a fraction or an offset), YYYY-MM-DD,
or Unix seconds or milliseconds (digits, an optional fraction; a first value
of 1e11 or more means milliseconds for the whole file). An empty value, NaN,
NA, N/A or null is a missing point: it gets an output row and no score.
The sampling interval is inferred from the first rows (the median step) and
may be anything from milliseconds to days; gaps, repeated or slightly
backwards timestamps are scored in file order with a warning.

--evaluate generates das's labelled synthetic benchmark (package
models/eval) and prints a markdown table scoring every registered detector.

flags:`

// cmdDetect is `das detect`: das's detectors (models.Builtin) over a CSV
// time series, or over the benchmark with --evaluate.
func cmdDetect(ctx context.Context, args []string, s stdio) error {
	return detectMain(ctx, args, s, models.Builtin())
}

// detectMain is cmdDetect with the registry passed in.
func detectMain(ctx context.Context, args []string, s stdio, reg *models.Registry) error {
	fs := flag.NewFlagSet("das detect", flag.ContinueOnError)
	fs.SetOutput(s.err)
	var (
		input      = fs.String("input", "", "CSV file to score, with a header row; - reads standard input")
		output     = fs.String("output", "-", "output CSV file (with --evaluate: the markdown table); - is standard output. A file is written under a temporary name and renamed when complete")
		timeCol    = fs.String("time-col", "timestamp", "name of the timestamp column")
		valueCol   = fs.String("value-col", "value", "name of the value column")
		detector   = fs.String("detector", "", "detector name (default "+models.DefaultDetector+"; see --list); with --evaluate a comma-separated list (default: every registered detector)")
		period     = fs.String("period", "auto", "seasonal period: auto (the detector finds it), none, a number of points, or a duration such as 24h, 1d or 1w")
		interval   = fs.String("interval", "auto", "sampling interval: auto (median step of the first 64 rows) or a duration such as 10s, 5m, 1h, 1d")
		warmup     = fs.Int("warmup", 0, fmt.Sprintf("points before the first possible alert, 1..%d; 0 = 15%% of a file's rows, at most %d (standard input: %d)", models.MaxWarmup, models.DefaultWarmup, models.DefaultWarmup))
		extra      = fs.Bool("extra", false, "also write expected,lower,upper,direction,alert,warm")
		alertsOnly = fs.Bool("alerts-only", false, "write only the rows that raise an alert (the first point of each anomalous episode)")
		quiet      = fs.Bool("quiet", false, "do not print the summary and warnings to standard error")
		list       = fs.Bool("list", false, "list the detectors and exit")
		evaluate   = fs.Bool("evaluate", false, "score the detectors on the labelled synthetic benchmark and print a markdown table")
		seeds      = fs.String("seeds", seedList(eval.DefaultTuningSeeds()), "--evaluate: tuning seeds, comma-separated (empty: none)")
		heldOut    = fs.String("heldout-seeds", seedList(eval.DefaultHeldOutSeeds()), "--evaluate: held-out seeds, never used for tuning (empty: none)")
		dataset    = fs.String("write-dataset", "", "--evaluate: also write every generated series to DIR/seed-N/NAME.csv, labels to DIR/seed-N/labels.csv")
		scale      = fs.Float64("scale", 1, "--evaluate: multiply every series' length by this (quick runs: 0.1)")
		tolerance  = fs.Int("tolerance", 3, "--evaluate: points after a labelled window in which an alert still detects it")
	)
	fs.Usage = func() {
		fmt.Fprintln(s.err, detectUsage)
		fs.PrintDefaults()
		fmt.Fprintln(s.err, "\ndetectors:")
		printDetectors(s.err, reg)
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.err, "das detect: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *list {
		printDetectors(s.out, reg)
		return nil
	}
	if *evaluate {
		for _, name := range []string{"input", "time-col", "value-col", "interval", "warmup", "extra", "alerts-only"} {
			if set[name] {
				return fmt.Errorf("--%s does not apply to --evaluate", name)
			}
		}
		opt := eval.Options{Registry: reg, Gen: eval.GenOptions{Scale: *scale}, Score: eval.ScoreOptions{Tolerance: *tolerance}}
		if *tolerance == 0 {
			opt.Score.Tolerance = -1 // ScoreOptions: 0 means the default
		}
		if *scale <= 0 || *scale > 100 {
			return fmt.Errorf("--scale %v: want a factor in (0,100]", *scale)
		}
		if *tolerance < 0 {
			return fmt.Errorf("--tolerance %d: want 0 or more points", *tolerance)
		}
		var err error
		if opt.TuningSeeds, err = parseSeeds(*seeds); err != nil {
			return fmt.Errorf("--seeds: %w", err)
		}
		if opt.HeldOutSeeds, err = parseSeeds(*heldOut); err != nil {
			return fmt.Errorf("--heldout-seeds: %w", err)
		}
		if len(opt.TuningSeeds)+len(opt.HeldOutSeeds) == 0 {
			return errors.New("--seeds and --heldout-seeds are both empty")
		}
		if opt.Period, err = parsePeriod(*period, 0); err != nil {
			return fmt.Errorf("%w (with --evaluate: auto, none or a number of points; the series have different intervals)", err)
		}
		if *detector != "" {
			for _, d := range strings.Split(*detector, ",") {
				opt.Detectors = append(opt.Detectors, strings.TrimSpace(d))
			}
		}
		return detectEvaluate(ctx, s, opt, *output, *dataset, *quiet)
	}
	for _, name := range []string{"seeds", "heldout-seeds", "write-dataset", "scale", "tolerance"} {
		if set[name] {
			return fmt.Errorf("--%s applies only to --evaluate", name)
		}
	}
	if *input == "" {
		fmt.Fprintln(s.err, "das detect: --input is required (or --evaluate, --list)")
		fs.Usage()
		return errUsage
	}
	opt := detectOptions{
		timeCol: *timeCol, valueCol: *valueCol, detector: *detector, period: *period,
		warmup: *warmup, extra: *extra, alertsOnly: *alertsOnly,
	}
	if opt.detector == "" {
		opt.detector = models.DefaultDetector
	}
	if *interval != "auto" {
		d, err := parseDuration(*interval)
		if err != nil || d <= 0 {
			return fmt.Errorf("--interval %q: want auto or a positive duration such as 10s, 5m, 1h, 1d", *interval)
		}
		opt.interval = d
	}
	if opt.warmup < 0 || opt.warmup > models.MaxWarmup {
		return fmt.Errorf("--warmup %d: want 0 (auto) or 1..%d", opt.warmup, models.MaxWarmup)
	}
	// Check the detector and --period before reading anything.
	if !slices.Contains(reg.Names(), opt.detector) {
		return fmt.Errorf("unknown detector %q (known: %s; see --list)", opt.detector, strings.Join(reg.Names(), ", "))
	}
	if _, err := parsePeriod(opt.period, time.Minute); err != nil {
		return err
	}

	in := s.in
	if *input != "-" {
		f, err := os.Open(*input)
		if err != nil {
			return err
		}
		defer f.Close() // read-only: nothing to flush
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && opt.warmup == 0 {
			// The warm-up depends on the file's length (15% of it), so a
			// short file can alert early: count its lines, then rewind. A
			// pipe cannot be rewound; it gets the default, as stdin does.
			n, err := countLines(f)
			if err != nil {
				return fmt.Errorf("read %s: %w", *input, err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			opt.warmup = eval.WarmupFor(max(n-1, 1))
		}
		in = f
	}
	start := time.Now()
	var st detectStats
	warn := s.err
	if *quiet {
		warn = io.Discard
	}
	_, err := genWriteOutput(*output, s.out, func(w io.Writer) (int64, error) {
		var err error
		st, err = detectSeries(ctx, in, w, warn, reg, opt)
		return st.rows, err
	})
	if err != nil {
		return err
	}
	if !*quiet {
		printDetectSummary(s.err, st, opt, time.Since(start))
	}
	return nil
}

func printDetectors(w io.Writer, reg *models.Registry) {
	names := reg.Names()
	if len(names) == 0 {
		fmt.Fprintln(w, "  (none registered)")
	}
	for _, n := range names {
		def := ""
		if n == models.DefaultDetector && !strings.Contains(reg.Doc(n), "(default)") {
			def = " (default)"
		}
		fmt.Fprintf(w, "  %-14s %s%s\n", n, reg.Doc(n), def)
	}
}

func seedList(seeds []uint64) string {
	s := make([]string, len(seeds))
	for i, v := range seeds {
		s[i] = strconv.FormatUint(v, 10)
	}
	return strings.Join(s, ",")
}

func parseSeeds(s string) ([]uint64, error) {
	out := []uint64{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for _, f := range strings.Split(s, ",") {
		v, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("seed %q: want a non-negative integer", f)
		}
		out = append(out, v)
	}
	return out, nil
}

// parseDuration is time.ParseDuration plus the units d (24h) and w (168h)
// as a whole-number suffix: 1d, 7d, 2w.
func parseDuration(s string) (time.Duration, error) {
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			v, err := strconv.ParseUint(n, 10, 16)
			if err != nil {
				return 0, fmt.Errorf("duration %q: want a whole number of %s", s, suffix)
			}
			return time.Duration(v) * unit, nil
		}
	}
	return time.ParseDuration(s)
}

// parsePeriod turns --period into models.Config.Period: auto = 0, none = -1,
// N points, or a duration divided by the interval (which must be known).
func parsePeriod(s string, interval time.Duration) (int, error) {
	switch s {
	case "auto", "":
		return 0, nil
	case "none":
		return -1, nil
	}
	if n, err := strconv.Atoi(s); err == nil {
		if n < 2 {
			return 0, fmt.Errorf("--period %d: want at least 2 points, auto or none", n)
		}
		return n, nil
	}
	d, err := parseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("--period %q: want auto, none, a number of points or a duration such as 24h, 1d, 1w", s)
	}
	if interval <= 0 {
		return 0, fmt.Errorf("--period %s: the interval is unknown (fewer than two distinct timestamps); give --interval or --period in points", s)
	}
	n := int(math.Round(float64(d) / float64(interval)))
	if n < 2 {
		return 0, fmt.Errorf("--period %s is %d points of %v: want at least 2", s, n, interval)
	}
	return n, nil
}

// countLines counts the lines of r (a last line without "\n" included).
func countLines(r io.Reader) (int, error) {
	buf := make([]byte, 64<<10)
	n, last := 0, byte('\n')
	for {
		k, err := r.Read(buf)
		if k > 0 {
			n += bytes.Count(buf[:k], []byte{'\n'})
			last = buf[k-1]
		}
		if err == io.EOF {
			if last != '\n' {
				n++
			}
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

// detectOptions are the knobs of detectSeries.
type detectOptions struct {
	timeCol, valueCol string
	detector          string
	period            string
	interval          time.Duration // 0 = infer from the first rows
	warmup            int           // models.Config.Warmup; 0 = the detector's default
	extra, alertsOnly bool
}

// detectStats is what detectSeries saw.
type detectStats struct {
	rows, missing, anomalous, alerts, warnings int64
	format                                     tsFormat
	interval                                   time.Duration
	period                                     int
}

// probeRows is how many rows are read before the detector is built, to
// infer the sampling interval; they are then scored in order.
const probeRows = 64

// maxWarningLines bounds the per-row warnings printed; the rest are counted.
const maxWarningLines = 10

// detectSeries reads the CSV series from in, scores each row in file order
// and writes the output rows to out. Memory does not grow with the input:
// it holds the detector's bounded state and at most probeRows rows.
func detectSeries(ctx context.Context, in io.Reader, out io.Writer, warn io.Writer, reg *models.Registry, opt detectOptions) (detectStats, error) {
	var st detectStats
	sr, err := newSeriesReader(in, opt.timeCol, opt.valueCol)
	if err != nil {
		return st, err
	}
	bw := bufio.NewWriterSize(out, 64<<10)
	header := "timestamp,value,anomaly_score,is_anomaly"
	if opt.extra {
		header += ",expected,lower,upper,direction,alert,warm"
	}
	bw.WriteString(header + "\n")

	// Read the first rows to infer the interval, then build the detector.
	var probe []seriesRow
	for len(probe) < probeRows {
		r, err := sr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		probe = append(probe, r)
	}
	st.interval = opt.interval
	if st.interval == 0 {
		st.interval = inferInterval(probe)
	}
	if st.period, err = parsePeriod(opt.period, st.interval); err != nil {
		return st, err
	}
	det, err := reg.New(opt.detector, models.Config{Interval: st.interval, Period: st.period, Warmup: opt.warmup})
	if err != nil {
		return st, err
	}
	st.format = sr.ts.format

	var line []byte
	score := func(r seriesRow) error {
		res := det.Observe(models.Point{T: r.t, V: r.v})
		st.rows++
		if math.IsNaN(r.v) {
			st.missing++
		}
		if res.Anomalous {
			st.anomalous++
		}
		if res.Alert {
			st.alerts++
		}
		// A missing value is counted in the summary; the detector's
		// warning about it would only repeat that.
		if res.Warning != "" && !math.IsNaN(r.v) {
			st.warnings++
			if st.warnings <= maxWarningLines {
				fmt.Fprintf(warn, "das detect: line %d: %s\n", r.line, res.Warning)
			}
		}
		if opt.alertsOnly && !res.Alert {
			return nil
		}
		line = appendCSVField(line[:0], r.tsText)
		line = append(line, ',')
		line = appendCSVField(line, r.valText)
		line = append(line, ',')
		if !math.IsNaN(res.Score) && !math.IsNaN(r.v) {
			line = strconv.AppendFloat(line, res.Score, 'f', 4, 64)
		}
		line = append(line, ',')
		line = strconv.AppendBool(line, res.Anomalous)
		if opt.extra {
			for _, v := range []float64{res.Expected, res.Lower, res.Upper} {
				line = append(line, ',')
				line = appendNumber(line, v)
			}
			line = append(line, ',')
			line = append(line, res.Direction.String()...)
			line = append(line, ',')
			line = strconv.AppendBool(line, res.Alert)
			line = append(line, ',')
			line = strconv.AppendBool(line, res.Warm)
		}
		line = append(line, '\n')
		_, err := bw.Write(line)
		return err
	}
	for _, r := range probe {
		if err := score(r); err != nil {
			return st, fmt.Errorf("write: %w", err)
		}
	}
	probe = nil
	for {
		if st.rows%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
		}
		r, err := sr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return st, err
		}
		if err := score(r); err != nil {
			return st, fmt.Errorf("write: %w", err)
		}
	}
	if st.warnings > maxWarningLines {
		fmt.Fprintf(warn, "das detect: %d warnings in all, the first %d shown\n", st.warnings, maxWarningLines)
	}
	if err := bw.Flush(); err != nil {
		return st, fmt.Errorf("write: %w", err)
	}
	return st, nil
}

func printDetectSummary(w io.Writer, st detectStats, opt detectOptions, took time.Duration) {
	period, warmup := "auto", opt.warmup
	if warmup == 0 {
		warmup = models.DefaultWarmup
	}
	switch {
	case st.period > 0:
		period = fmt.Sprintf("%d points", st.period)
	case st.period < 0:
		period = "none"
	}
	fmt.Fprintf(w, "das detect: %d rows (%d missing values), timestamps %s, interval %v, detector %s, period %s, warm-up %d: %d anomalous points, %d alerts, %d warnings, in %v\n",
		st.rows, st.missing, st.format, st.interval, opt.detector, period, warmup, st.anomalous, st.alerts, st.warnings, took.Round(time.Millisecond))
}

// inferInterval is the median of the positive steps between consecutive
// rows (file order); 0 when there is none.
func inferInterval(rows []seriesRow) time.Duration {
	var steps []int64
	for i := 1; i < len(rows); i++ {
		if d := rows[i].t - rows[i-1].t; d > 0 {
			steps = append(steps, d)
		}
	}
	if len(steps) == 0 {
		return 0
	}
	slices.Sort(steps)
	return time.Duration(steps[(len(steps)-1)/2]) * time.Millisecond
}

// appendCSVField appends f quoted as encoding/csv would quote it: when it
// holds a comma, a quote, a line break, or starts with a space or a tab.
func appendCSVField(b []byte, f string) []byte {
	if f == "" || !strings.ContainsAny(f, ",\"\r\n") && f[0] != ' ' && f[0] != '\t' {
		return append(b, f...)
	}
	b = append(b, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, f[i])
	}
	return append(b, '"')
}

// appendNumber appends v rounded to 6 decimals in its shortest form; NaN
// or an infinity as an empty field.
func appendNumber(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return b
	}
	if r := math.Round(v*1e6) / 1e6; !math.IsInf(r, 0) {
		v = r
	}
	return strconv.AppendFloat(b, v, 'f', -1, 64)
}

func detectEvaluate(ctx context.Context, s stdio, opt eval.Options, output, dataset string, quiet bool) error {
	if dataset != "" {
		for _, seed := range append(slices.Clone(opt.TuningSeeds), opt.HeldOutSeeds...) {
			if err := eval.WriteDataset(dataset, seed, eval.Generate(seed, opt.Gen)); err != nil {
				return fmt.Errorf("--write-dataset: %w", err)
			}
		}
	}
	start := time.Now()
	rep, err := eval.Evaluate(ctx, opt)
	if err != nil {
		return err
	}
	if _, err := genWriteOutput(output, s.out, func(w io.Writer) (int64, error) {
		return 0, rep.WriteMarkdown(w)
	}); err != nil {
		return err
	}
	if !quiet {
		fmt.Fprintf(s.err, "das detect --evaluate: %v\n", time.Since(start).Round(time.Millisecond))
		return rep.WriteTiming(s.err)
	}
	return nil
}

// seriesRow is one data row of the input. The texts are the CSV fields as
// read (unquoted), written back unchanged.
type seriesRow struct {
	line            int // 1-based line of the row's timestamp field
	tsText, valText string
	t               int64   // Unix ms
	v               float64 // NaN when missing
}

// seriesReader reads a CSV time series with a header row, one row at a time.
type seriesReader struct {
	r             *csv.Reader
	tsIdx, valIdx int
	tsName        string
	valName       string
	ts            tsParser
}

func newSeriesReader(in io.Reader, timeCol, valueCol string) (*seriesReader, error) {
	r := csv.NewReader(bufio.NewReaderSize(in, 64<<10))
	r.FieldsPerRecord = -1 // rows are checked for the two columns only
	r.ReuseRecord = true
	header, err := r.Read()
	if err == io.EOF {
		return nil, errors.New("input is empty: want a header row naming the timestamp and value columns")
	}
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	header = slices.Clone(header)
	if len(header) > 0 {
		header[0] = strings.TrimPrefix(header[0], "\ufeff") // a UTF-8 byte-order mark
	}
	sr := &seriesReader{r: r, tsName: timeCol, valName: valueCol}
	if sr.tsIdx, err = findColumn(header, timeCol, "--time-col"); err != nil {
		return nil, err
	}
	if sr.valIdx, err = findColumn(header, valueCol, "--value-col"); err != nil {
		return nil, err
	}
	if sr.tsIdx == sr.valIdx {
		return nil, fmt.Errorf("--time-col and --value-col both name column %q", header[sr.tsIdx])
	}
	return sr, nil
}

// findColumn finds name in header: exactly, else ignoring case and
// surrounding spaces.
func findColumn(header []string, name, flagName string) (int, error) {
	if i := slices.Index(header, name); i >= 0 {
		return i, nil
	}
	for i, h := range header {
		if strings.EqualFold(strings.TrimSpace(h), strings.TrimSpace(name)) {
			return i, nil
		}
	}
	quoted := make([]string, len(header))
	for i, h := range header {
		quoted[i] = strconv.Quote(h)
	}
	return 0, fmt.Errorf("column %q not found (set %s); the header row has %d columns: %s",
		name, flagName, len(header), strings.Join(quoted, ", "))
}

// next returns the next data row; io.EOF after the last.
func (sr *seriesReader) next() (seriesRow, error) {
	rec, err := sr.r.Read()
	if err != nil {
		if err == io.EOF {
			return seriesRow{}, io.EOF
		}
		return seriesRow{}, fmt.Errorf("input: %w", err)
	}
	line, _ := sr.r.FieldPos(0)
	if need := max(sr.tsIdx, sr.valIdx); need >= len(rec) {
		return seriesRow{}, fmt.Errorf("line %d: %d fields, but column %q is field %d", line, len(rec), sr.nameOf(need), need+1)
	}
	row := seriesRow{line: line, tsText: rec[sr.tsIdx], valText: rec[sr.valIdx]}
	if row.t, err = sr.ts.parse(row.tsText); err != nil {
		return seriesRow{}, fmt.Errorf("line %d: column %q: %w", line, sr.tsName, err)
	}
	if row.v, err = parseValue(row.valText); err != nil {
		return seriesRow{}, fmt.Errorf("line %d: column %q: %w", line, sr.valName, err)
	}
	return row, nil
}

func (sr *seriesReader) nameOf(idx int) string {
	if idx == sr.tsIdx {
		return sr.tsName
	}
	return sr.valName
}

// parseValue reads a value field: a decimal or scientific number, or a
// missing value (empty, NaN, NA, N/A, null, None in any case) as NaN.
func parseValue(s string) (float64, error) {
	t := strings.TrimSpace(s)
	switch strings.ToLower(t) {
	case "", "nan", "na", "n/a", "null", "none":
		return math.NaN(), nil
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q is not a number (a missing value may be empty, NaN, NA or null)", s)
	}
	if math.IsInf(v, 0) {
		return 0, fmt.Errorf("value %q is infinite", s)
	}
	return v, nil
}

// tsFormat is the family of a file's timestamps, fixed by its first row.
type tsFormat int8

const (
	tsUnknown   tsFormat = iota
	tsDateTime           // RFC 3339, YYYY-MM-DD[ HH:MM[:SS[.f]]][zone]
	tsUnixSec            // Unix seconds
	tsUnixMilli          // Unix milliseconds
)

func (f tsFormat) String() string {
	switch f {
	case tsDateTime:
		return "date-time"
	case tsUnixSec:
		return "Unix seconds"
	case tsUnixMilli:
		return "Unix milliseconds"
	}
	return "unknown"
}

// unixMilliThreshold: a first Unix timestamp of at least 1e11 is read as
// milliseconds (1e11 s is the year 5138; 1e11 ms is March 1973).
const unixMilliThreshold = 1e11

// tsParser parses timestamps; the first one fixes the family (date-time,
// Unix seconds or Unix milliseconds) for the rest of the file.
type tsParser struct {
	format tsFormat
}

// parse returns s as Unix milliseconds (a finer fraction is truncated).
func (p *tsParser) parse(s string) (int64, error) {
	t := strings.Trim(s, " \t")
	if t == "" {
		return 0, errors.New("empty timestamp")
	}
	dateLike := len(t) >= 10 && t[4] == '-' && t[7] == '-'
	switch p.format {
	case tsUnknown:
		if dateLike {
			ms, err := parseDateTime(t)
			if err != nil {
				return 0, fmt.Errorf("timestamp %q: %w", s, err)
			}
			p.format = tsDateTime
			return ms, nil
		}
		whole, _, err := parseUnix(t, 1)
		if err != nil {
			return 0, fmt.Errorf("timestamp %q: %w (want RFC 3339, YYYY-MM-DD HH:MM:SS, or Unix seconds or milliseconds)", s, err)
		}
		p.format = tsUnixSec
		if whole >= unixMilliThreshold || whole <= -unixMilliThreshold {
			p.format = tsUnixMilli
		}
		return p.parse(s)
	case tsDateTime:
		if !dateLike {
			return 0, fmt.Errorf("timestamp %q: the file's timestamps are dates and times (from its first row)", s)
		}
		ms, err := parseDateTime(t)
		if err != nil {
			return 0, fmt.Errorf("timestamp %q: %w", s, err)
		}
		return ms, nil
	case tsUnixSec, tsUnixMilli:
		unit := int64(1000)
		if p.format == tsUnixMilli {
			unit = 1
		}
		if dateLike {
			return 0, fmt.Errorf("timestamp %q: the file's timestamps are %s (from its first row)", s, p.format)
		}
		_, ms, err := parseUnix(t, unit)
		if err != nil {
			return 0, fmt.Errorf("timestamp %q: %w", s, err)
		}
		return ms, nil
	}
	panic("BUG: unknown timestamp format")
}

// parseUnix parses [-+]digits[.digits] as a count of units of unitMs
// milliseconds; it returns the whole part and the value in milliseconds
// (truncated towards zero).
func parseUnix(s string, unitMs int64) (whole, ms int64, err error) {
	neg := false
	if s[0] == '-' || s[0] == '+' {
		neg = s[0] == '-'
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	if intPart == "" || len(intPart) > 18 || !allDigits(intPart) || hasDot && !allDigits(frac) {
		return 0, 0, errors.New("not a number of seconds or milliseconds")
	}
	whole, _ = strconv.ParseInt(intPart, 10, 64)
	if whole > math.MaxInt64/unitMs-1 {
		return 0, 0, errors.New("out of range")
	}
	ms = whole * unitMs
	// The fraction in milliseconds: its first 3 digits for seconds.
	if unitMs == 1000 {
		var f int64
		for i := range 3 {
			f *= 10
			if i < len(frac) {
				f += int64(frac[i] - '0')
			}
		}
		ms += f
	}
	if neg {
		whole, ms = -whole, -ms
	}
	return whole, ms, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseDateTime parses YYYY-MM-DD, optionally followed by T, t or a space,
// HH:MM, optionally :SS, optionally a fraction (. or ,), optionally a zone:
// Z, or ±HH[:MM] / ±HHMM, optionally after a space. No zone means UTC.
func parseDateTime(s string) (int64, error) {
	bad := func(what string) (int64, error) {
		return 0, fmt.Errorf("bad %s (want RFC 3339, YYYY-MM-DD HH:MM:SS or YYYY-MM-DD)", what)
	}
	num := func(s string) (int, bool) {
		if !allDigits(s) {
			return 0, false
		}
		n, _ := strconv.Atoi(s)
		return n, true
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	if !ok1 || !ok2 || !ok3 || month < 1 || month > 12 || day < 1 || day > daysIn(year, month) {
		return bad("date")
	}
	rest := s[10:]
	var hour, minute, sec, nsec int
	if rest != "" {
		if c := rest[0]; c != 'T' && c != 't' && c != ' ' || len(rest) < 6 || rest[3] != ':' {
			return bad("time")
		}
		var ok1, ok2 bool
		hour, ok1 = num(rest[1:3])
		minute, ok2 = num(rest[4:6])
		if !ok1 || !ok2 || hour > 23 || minute > 59 {
			return bad("time")
		}
		rest = rest[6:]
		if len(rest) >= 3 && rest[0] == ':' {
			var ok bool
			if sec, ok = num(rest[1:3]); !ok || sec > 60 {
				return bad("seconds")
			}
			rest = rest[3:]
			if len(rest) >= 2 && (rest[0] == '.' || rest[0] == ',') {
				i := 1
				for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
					i++
				}
				frac := rest[1:i]
				if frac == "" || len(frac) > 9 {
					return bad("fraction of a second")
				}
				nsec, _ = strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
				rest = rest[i:]
			}
		}
	}
	offset := 0 // seconds east of UTC
	if rest != "" && rest[0] == ' ' && len(rest) > 1 {
		rest = rest[1:]
	}
	switch {
	case rest == "":
	case rest == "Z" || rest == "z" || rest == "UTC" || rest == "GMT":
	case rest[0] == '+' || rest[0] == '-':
		z := rest[1:]
		var hh, mm string
		switch {
		case len(z) == 2:
			hh = z
		case len(z) == 4:
			hh, mm = z[:2], z[2:]
		case len(z) == 5 && z[2] == ':':
			hh, mm = z[:2], z[3:]
		default:
			return bad("zone offset")
		}
		h, ok := num(hh)
		m, okm := 0, true
		if mm != "" {
			m, okm = num(mm)
		}
		if !ok || !okm || h > 23 || m > 59 {
			return bad("zone offset")
		}
		offset = h*3600 + m*60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return bad("time or zone")
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	return t.UnixMilli() - int64(offset)*1000, nil
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

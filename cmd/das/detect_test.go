package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/das-project/das/models"
	"github.com/das-project/das/models/eval"
)

// testZ is a stand-in detector for the command's tests: a robust z-score of
// the last 60 points, alert on the first point of each anomalous run.
type testZ struct {
	hist []float64
	in   bool
}

func (d *testZ) Observe(p models.Point) models.Result {
	var res models.Result
	if math.IsNaN(p.V) {
		return res
	}
	if len(d.hist) >= 30 {
		s := slices.Clone(d.hist)
		sort.Float64s(s)
		med := s[len(s)/2]
		for i := range s {
			s[i] = math.Abs(s[i] - med)
		}
		sort.Float64s(s)
		mad := max(1.4826*s[len(s)/2], 1e-9)
		z := (p.V - med) / mad
		res = models.Result{Warm: true, Score: min(math.Abs(z)/12, 1), Expected: med, Lower: med - 6*mad, Upper: med + 6*mad}
		if math.Abs(z) > 6 {
			res.Anomalous, res.Alert, res.Direction = true, !d.in, models.DirUp
			if z < 0 {
				res.Direction = models.DirDown
			}
		}
	}
	d.in = res.Anomalous
	d.hist = append(d.hist, p.V)
	if len(d.hist) > 60 {
		d.hist = d.hist[1:]
	}
	return res
}

func (d *testZ) MarshalBinary() ([]byte, error) { return nil, errors.New("no encoding") }
func (d *testZ) UnmarshalBinary([]byte) error   { return errors.New("no encoding") }

// testCfg reports the config it was built with in every result: Expected
// = interval in ms, Lower = period, Upper = warm-up; and a warning on a
// backwards timestamp.
type testCfg struct {
	cfg  models.Config
	last int64
}

func (d *testCfg) Observe(p models.Point) models.Result {
	res := models.Result{Expected: float64(d.cfg.Interval.Milliseconds()), Lower: float64(d.cfg.Period), Upper: float64(d.cfg.Warmup)}
	if p.T < d.last {
		res.Warning = "timestamp goes backwards"
	}
	if math.IsNaN(p.V) {
		res.Warning = "missing value"
	}
	d.last = p.T
	return res
}

func (d *testCfg) MarshalBinary() ([]byte, error) { return nil, nil }
func (d *testCfg) UnmarshalBinary([]byte) error   { return nil }

func detectRegistry() *models.Registry {
	r := models.NewRegistry()
	r.Register(models.DefaultDetector, "robust z-score of the last 60 points (test stand-in)", func(models.Config) (models.Detector, error) {
		return &testZ{}, nil
	})
	r.Register("cfg", "reports its config (test)", func(cfg models.Config) (models.Detector, error) {
		return &testCfg{cfg: cfg}, nil
	})
	return r
}

func runDetect(t *testing.T, reg *models.Registry, in string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = detectMain(context.Background(), args, stdio{in: strings.NewReader(in), out: &out, err: &errOut}, reg)
	return out.String(), errOut.String(), err
}

func TestParseTimestamp(t *testing.T) {
	const base = int64(1704067200000) // 2024-01-01T00:00:00Z
	for _, tc := range []struct {
		in   string
		want int64
		fmt  tsFormat
	}{
		{"2024-01-01T00:00:00Z", base, tsDateTime},
		{"2024-01-01t00:00:00z", base, tsDateTime},
		{"2024-01-01T00:00:00.123Z", base + 123, tsDateTime},
		{"2024-01-01T00:00:00.123456789Z", base + 123, tsDateTime},
		{"2024-01-01T00:00:00,5Z", base + 500, tsDateTime},
		{"2024-01-01T08:00:00+08:00", base, tsDateTime},
		{"2023-12-31T19:00:00-05:00", base, tsDateTime},
		{"2024-01-01T05:30:00+0530", base, tsDateTime},
		{"2024-01-01T02:00:00+02", base, tsDateTime},
		{"2024-01-01 00:00:00", base, tsDateTime},
		{"2024-01-01 00:00:00.250", base + 250, tsDateTime},
		{"2024-01-01 00:00:00+00:00", base, tsDateTime},
		{"2024-01-01 01:00:00 +01:00", base, tsDateTime},
		{"2024-01-01 00:00:00 UTC", base, tsDateTime},
		{"2024-01-01 00:00", base, tsDateTime},
		{"2024-01-01", base, tsDateTime},
		{" 2024-01-01T00:00:00Z ", base, tsDateTime},
		{"2024-02-29 12:00:00", base + (59*24+12)*3600000, tsDateTime},
		{"1969-12-31T23:59:59.999Z", -1, tsDateTime},
		{"1704067200", base, tsUnixSec},
		{"1704067200.5", base + 500, tsUnixSec},
		{"1704067200.12345", base + 123, tsUnixSec},
		{"+1704067200", base, tsUnixSec},
		{"0", 0, tsUnixSec},
		{"-86400", -86400000, tsUnixSec},
		{"99999999999", 99999999999000, tsUnixSec},
		{"100000000000", 100000000000, tsUnixMilli},
		{"1704067200000", base, tsUnixMilli},
		{"1704067200000.9", base, tsUnixMilli},
	} {
		var p tsParser
		got, err := p.parse(tc.in)
		if err != nil || got != tc.want || p.format != tc.fmt {
			t.Errorf("parse(%q) = %d, %v, format %v; want %d, %v", tc.in, got, err, p.format, tc.want, tc.fmt)
		}
	}
}

func TestParseTimestampErrors(t *testing.T) {
	for _, in := range []string{
		"", " ", "yesterday", "2024/01/01", "01/02/2024 10:00", "2024-13-01", "2024-02-30", "2023-02-29",
		"2024-01-01X00:00:00", "2024-01-01T25:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:61Z",
		"2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567890Z", "2024-01-01T00:00:00+24:00",
		"2024-01-01T00:00:00+05:3", "2024-01-01T00:00:00 PST", "2024-01-01T00", "2024-01-01T00:00:00Zjunk",
		"1.7e9", "0x10", "12a", "1.2.3", "-", "1234567890123456789", "NaN", "2024-1-1",
	} {
		var p tsParser
		if ms, err := p.parse(in); err == nil {
			t.Errorf("parse(%q) = %d, want an error", in, ms)
		} else if !strings.Contains(err.Error(), "timestamp") {
			t.Errorf("parse(%q): error %q does not say it is the timestamp", in, err)
		}
	}
}

// TestTimestampFamily: the first row fixes the family and, for numbers,
// the unit.
func TestTimestampFamily(t *testing.T) {
	for _, tc := range []struct {
		rows    []string
		want    []int64
		errAt   int // index of the row that must fail; -1 none
		errText string
	}{
		{[]string{"1704067200", "1704067260"}, []int64{1704067200000, 1704067260000}, -1, ""},
		// Milliseconds decided by the first value, kept for small ones.
		{[]string{"1704067200000", "60000"}, []int64{1704067200000, 60000}, -1, ""},
		// Seconds decided by the first value: a later huge one is seconds too.
		{[]string{"60", "100000000000"}, []int64{60000, 100000000000000}, -1, ""},
		{[]string{"2024-01-01T00:00:00Z", "2024-01-01 00:01:00", "2024-01-01"}, []int64{1704067200000, 1704067260000, 1704067200000}, -1, ""},
		{[]string{"2024-01-01T00:00:00Z", "1704067260"}, []int64{1704067200000}, 1, "dates and times"},
		{[]string{"1704067260", "2024-01-01T00:00:00Z"}, []int64{1704067260000}, 1, "Unix seconds"},
		{[]string{"1704067260000", "2024-01-01"}, []int64{1704067260000}, 1, "Unix milliseconds"},
	} {
		var p tsParser
		for i, r := range tc.rows {
			got, err := p.parse(r)
			if i == tc.errAt {
				if err == nil || !strings.Contains(err.Error(), tc.errText) {
					t.Errorf("%v row %d: err %v, want %q", tc.rows, i, err, tc.errText)
				}
				break
			}
			if err != nil || got != tc.want[i] {
				t.Errorf("%v row %d: %d, %v; want %d", tc.rows, i, got, err, tc.want[i])
			}
		}
	}
}

func TestParseValue(t *testing.T) {
	for in, want := range map[string]float64{
		"1": 1, "-2.5": -2.5, " 3 ": 3, "1e3": 1000, "0": 0, "+4": 4, ".5": 0.5,
	} {
		if got, err := parseValue(in); err != nil || got != want {
			t.Errorf("parseValue(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "  ", "NaN", "nan", "NA", "n/a", "null", "NULL", "None"} {
		if got, err := parseValue(in); err != nil || !math.IsNaN(got) {
			t.Errorf("parseValue(%q) = %v, %v; want NaN", in, got, err)
		}
	}
	for _, in := range []string{"abc", "1,5", "Inf", "-infinity", "1e999", "12 34"} {
		if _, err := parseValue(in); err == nil {
			t.Errorf("parseValue(%q): no error", in)
		}
	}
}

// spikeCSV is a one-minute series of n rows around 100 with a spike of
// +60 at row spike (0-based), timestamps written by format.
func spikeCSV(n, spike int, format func(ms int64) string) string {
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range n {
		ms := int64(1704067200000) + int64(i)*60000
		v := 100 + float64((i*7919)%11) - 5 // deterministic wiggle of ±5
		if i == spike {
			v += 60
		}
		fmt.Fprintf(&b, "%s,%g\n", format(ms), v)
	}
	return b.String()
}

func readCSV(t *testing.T, s string) [][]string {
	t.Helper()
	recs, err := csv.NewReader(strings.NewReader(s)).ReadAll()
	if err != nil {
		t.Fatalf("output is not CSV: %v\n%.500s", err, s)
	}
	return recs
}

// TestDetectEndToEnd runs the command over the same series in every
// timestamp format: one output row per input row, in order, the input
// fields echoed byte for byte, and the injected spike flagged.
func TestDetectEndToEnd(t *testing.T) {
	reg := detectRegistry()
	formats := map[string]func(int64) string{
		"rfc3339":      func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) },
		"rfc3339nano":  func(ms int64) string { return time.UnixMilli(ms + 7).UTC().Format(time.RFC3339Nano) },
		"offset":       func(ms int64) string { return time.UnixMilli(ms).In(time.FixedZone("", -7*3600)).Format(time.RFC3339) },
		"datetime":     func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.DateTime) },
		"unix seconds": func(ms int64) string { return strconv.FormatInt(ms/1000, 10) },
		"unix millis":  func(ms int64) string { return strconv.FormatInt(ms, 10) },
	}
	for name, f := range formats {
		t.Run(name, func(t *testing.T) {
			in := spikeCSV(500, 300, f)
			out, stderr, err := runDetect(t, reg, in, "--input", "-", "--extra")
			if err != nil {
				t.Fatalf("%v\n%s", err, stderr)
			}
			inRecs, outRecs := readCSV(t, in), readCSV(t, out)
			if len(outRecs) != len(inRecs) {
				t.Fatalf("%d output rows for %d input rows", len(outRecs), len(inRecs))
			}
			if got := strings.Join(outRecs[0], ","); got != "timestamp,value,anomaly_score,is_anomaly,expected,lower,upper,direction,alert,warm" {
				t.Fatalf("header %q", got)
			}
			var alerts, anomalous []int
			for i := 1; i < len(inRecs); i++ {
				o := outRecs[i]
				if o[0] != inRecs[i][0] || o[1] != inRecs[i][1] {
					t.Fatalf("row %d: %q,%q; input %q", i, o[0], o[1], inRecs[i])
				}
				if o[3] == "true" {
					anomalous = append(anomalous, i-1)
				}
				if o[8] == "true" {
					alerts = append(alerts, i-1)
				}
			}
			if !slices.Equal(alerts, []int{300}) || !slices.Equal(anomalous, []int{300}) {
				t.Fatalf("alerts at %v, anomalous at %v; want the spike at 300", alerts, anomalous)
			}
			if o := outRecs[301]; o[2] != "1.0000" || o[7] != "up" || o[9] != "true" {
				t.Fatalf("spike row %q", o)
			}
			if !strings.Contains(stderr, "500 rows") || !strings.Contains(stderr, "1 alerts") {
				t.Fatalf("summary %q", stderr)
			}
		})
	}
}

// TestDetectColumnsAndMissing: other column names and order, extra
// columns, quoted fields, CRLF, a BOM, missing values.
func TestDetectColumnsAndMissing(t *testing.T) {
	reg := detectRegistry()
	in := "\ufeffhost,Value , Time\r\n" +
		"a,1,\"2024-01-01 00:00:00\"\r\n" +
		"b,,2024-01-01 00:01:00\r\n" +
		"\"c,d\",NaN,2024-01-01 00:02:00\r\n" +
		"e,\" 4\",2024-01-01 00:03:00\r\n"
	out, stderr, err := runDetect(t, reg, in, "--input", "-", "--time-col", "time", "--value-col", "value")
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	want := "timestamp,value,anomaly_score,is_anomaly\n" +
		"2024-01-01 00:00:00,1,0.0000,false\n" +
		"2024-01-01 00:01:00,,,false\n" +
		"2024-01-01 00:02:00,NaN,,false\n" +
		"2024-01-01 00:03:00,\" 4\",0.0000,false\n"
	if out != want {
		t.Fatalf("got\n%s\nwant\n%s", out, want)
	}
	if !strings.Contains(stderr, "4 rows (2 missing values)") {
		t.Fatalf("summary %q", stderr)
	}
	// A header without rows gives a header without rows.
	if out, _, err := runDetect(t, reg, "timestamp,value\n", "--input", "-"); err != nil || out != "timestamp,value,anomaly_score,is_anomaly\n" {
		t.Fatalf("header only: %v %q", err, out)
	}
	// The detector's warnings about missing values are not repeated.
	_, stderr, err = runDetect(t, reg, in, "--input", "-", "--time-col", "time", "--detector", "cfg")
	if err != nil || strings.Contains(stderr, "missing value\n") || !strings.Contains(stderr, "0 warnings") {
		t.Fatalf("%v: %q", err, stderr)
	}
}

// TestDetectConfig: the interval inferred (median step, robust to gaps and
// a repeated timestamp), --interval, --period in points or as a duration,
// and the warm-up from the file's length.
func TestDetectConfig(t *testing.T) {
	reg := detectRegistry()
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	ts := int64(1700000000)
	for i := range 300 {
		switch i {
		case 10:
			ts += 3600 // a gap
		case 20:
			ts -= 300 // a repeated timestamp
		case 30:
			ts -= 600 // backwards
		default:
			ts += 300
		}
		fmt.Fprintf(&b, "%d,%d\n", ts, i)
	}
	in := b.String()
	path := filepath.Join(t.TempDir(), "s.csv")
	if err := os.WriteFile(path, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args                     []string
		interval, period, warmup float64
	}{
		{[]string{"--input", path}, 300000, 0, 45},
		{[]string{"--input", "-"}, 300000, 0, 0},
		{[]string{"--input", path, "--period", "none", "--warmup", "7"}, 300000, -1, 7},
		{[]string{"--input", path, "--period", "1d"}, 300000, 288, 45},
		{[]string{"--input", path, "--period", "2h", "--interval", "10m"}, 600000, 12, 45},
		{[]string{"--input", path, "--period", "1w", "--interval", "1h"}, 3600000, 168, 45},
		{[]string{"--input", path, "--period", "24"}, 300000, 24, 45},
	} {
		out, stderr, err := runDetect(t, reg, in, append(tc.args, "--detector", "cfg", "--extra")...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", tc.args, err, stderr)
		}
		recs := readCSV(t, out)
		if len(recs) != 301 {
			t.Fatalf("%v: %d rows", tc.args, len(recs))
		}
		for _, r := range recs[1:] {
			iv, _ := strconv.ParseFloat(r[4], 64)
			p, _ := strconv.ParseFloat(r[5], 64)
			w, _ := strconv.ParseFloat(r[6], 64)
			if iv != tc.interval || p != tc.period || w != tc.warmup {
				t.Fatalf("%v: config interval %v period %v warmup %v; want %v %v %v", tc.args, iv, p, w, tc.interval, tc.period, tc.warmup)
			}
		}
		// The detector's warning about the backwards step names its line.
		if !strings.Contains(stderr, "line 32: timestamp goes backwards") {
			t.Fatalf("%v: warnings %q", tc.args, stderr)
		}
	}
}

// TestDetectFIFO: a named pipe as --input cannot be counted and rewound;
// it is read once and gets the default warm-up.
func TestDetectFIFO(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	in := spikeCSV(300, 200, func(ms int64) string { return strconv.FormatInt(ms, 10) })
	done := make(chan error, 1)
	go func() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			_, err = io.WriteString(f, in)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		done <- err
	}()
	out, stderr, err := runDetect(t, detectRegistry(), "", "--input", path, "--detector", "cfg", "--extra")
	if err != nil {
		// Unblock the writer if the command never opened the pipe.
		if r, oerr := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); oerr == nil {
			defer r.Close()
		}
	}
	if werr := <-done; werr != nil {
		t.Fatal(werr)
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	recs := readCSV(t, out)
	if len(recs) != 301 || recs[1][6] != "0" || !strings.Contains(stderr, fmt.Sprintf("warm-up %d", models.DefaultWarmup)) {
		t.Fatalf("%d rows, warm-up passed %q, summary %q", len(recs), recs[1][6], stderr)
	}
}

// TestDetectErrors: what a user gets wrong is said clearly, with the line.
func TestDetectErrors(t *testing.T) {
	reg := detectRegistry()
	good := "timestamp,value\n2024-01-01T00:00:00Z,1\n"
	for _, tc := range []struct {
		name, in string
		args     []string
		want     string
	}{
		{"missing column", "time,val,host\n1,2,3\n", nil, `column "timestamp" not found (set --time-col); the header row has 3 columns: "time", "val", "host"`},
		{"missing value column", "timestamp,val\n1,2\n", nil, `column "value" not found (set --value-col)`},
		{"same column", "timestamp,value\n1,2\n", []string{"--value-col", "timestamp"}, "both name column"},
		{"empty input", "", nil, "input is empty"},
		{"bad timestamp", good + "2024-01-01T00:01:00Z,2\nnoon,3\n", nil, `line 4: column "timestamp": timestamp "noon"`},
		{"bad date", good + "2024-02-30T00:00:00Z,2\n", nil, `line 3: column "timestamp": timestamp "2024-02-30T00:00:00Z": bad date`},
		{"mixed formats", good + "1704067260,2\n", nil, `line 3: column "timestamp": timestamp "1704067260": the file's timestamps are dates and times`},
		{"bad value", good + "2024-01-01T00:01:00Z,12kg\n", nil, `line 3: column "value": value "12kg" is not a number`},
		{"infinite value", good + "2024-01-01T00:01:00Z,+Inf\n", nil, `line 3: column "value": value "+Inf" is infinite`},
		{"short row", good + "2024-01-01T00:01:00Z\n", nil, `line 3: 1 fields, but column "value" is field 2`},
		{"bad quoting", good + "\"2024-01-01,1\n", nil, "input: parse error on line 3"},
		{"unknown detector", good, []string{"--detector", "magic"}, `unknown detector "magic" (known: cfg, ensemble`},
		{"bad period", good, []string{"--period", "often"}, `--period "often"`},
		{"period of one point", good, []string{"--period", "1"}, "at least 2 points"},
		{"period without interval", good, []string{"--period", "1d"}, "the interval is unknown"},
		{"bad interval", good, []string{"--interval", "-5m"}, "--interval"},
		{"bad warmup", good, []string{"--warmup", "751"}, "--warmup 751"},
		{"evaluate flag without evaluate", good, []string{"--seeds", "1"}, "--seeds applies only to --evaluate"},
		{"input flag with evaluate", good, []string{"--evaluate", "--extra"}, "--extra does not apply to --evaluate"},
		{"bad seeds", good, []string{"--evaluate", "--seeds", "1,x"}, `--seeds: seed "x"`},
		{"no seeds", good, []string{"--evaluate", "--seeds", "", "--heldout-seeds", ""}, "both empty"},
		{"bad scale", good, []string{"--evaluate", "--scale", "0"}, "--scale"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if !slices.Contains(args, "--evaluate") {
				args = append([]string{"--input", "-"}, args...)
			}
			_, _, err := runDetect(t, reg, tc.in, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
	if _, _, err := runDetect(t, reg, "", "--input", filepath.Join(t.TempDir(), "missing.csv")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	if _, stderr, err := runDetect(t, reg, ""); err != errUsage || !strings.Contains(stderr, "--input is required") {
		t.Fatalf("no input: %v %q", err, stderr)
	}
	if _, _, err := runDetect(t, reg, "", "--bogus"); err != errUsage {
		t.Fatalf("unknown flag: %v", err)
	}
	if _, _, err := runDetect(t, reg, "", "--input", "-", "extra"); err != errUsage {
		t.Fatalf("extra argument: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := detectMain(ctx, []string{"--input", "-"}, stdio{in: strings.NewReader(spikeCSV(10000, 5, func(ms int64) string { return strconv.FormatInt(ms, 10) })), out: io.Discard, err: io.Discard}, reg)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
	err = detectMain(context.Background(), []string{"--input", "-"}, stdio{in: strings.NewReader(good), out: failWriter{}, err: io.Discard}, reg)
	if err == nil || !strings.Contains(err.Error(), "pipe closed") {
		t.Fatalf("write error: %v", err)
	}
}

// TestDetectOutputFile: --output writes the same bytes as stdout, and a
// failed run leaves no file behind.
func TestDetectOutputFile(t *testing.T) {
	reg := detectRegistry()
	dir := t.TempDir()
	in := spikeCSV(200, 100, func(ms int64) string { return strconv.FormatInt(ms/1000, 10) })
	inPath, outPath := filepath.Join(dir, "in.csv"), filepath.Join(dir, "out.csv")
	if err := os.WriteFile(inPath, []byte(in), 0o600); err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runDetect(t, reg, in, "--input", inPath, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err := runDetect(t, reg, "", "--input", inPath, "--output", outPath, "--quiet")
	if err != nil || stderr != "" {
		t.Fatalf("%v %q", err, stderr)
	}
	b, err := os.ReadFile(outPath)
	if err != nil || string(b) != stdout {
		t.Fatalf("file differs from stdout: %v", err)
	}
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte(in+"oops,1\n"), 0o600)
	failed := filepath.Join(dir, "failed.csv")
	if _, _, err := runDetect(t, reg, "", "--input", bad, "--output", failed); err == nil {
		t.Fatal("bad input accepted")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Fatalf("left behind: %v", ents)
	}
	// --alerts-only keeps the spike's row only.
	out, _, err := runDetect(t, reg, in, "--input", "-", "--alerts-only", "--quiet")
	if err != nil || strings.Count(out, "\n") != 2 || !strings.Contains(out, strconv.FormatInt(1704067200+100*60, 10)+",") {
		t.Fatalf("--alerts-only: %v\n%s", err, out)
	}
}

// TestDetectNoLookahead: the rows of a prefix of a file score as they do in
// the whole file (past the first probeRows rows, which fix the interval).
func TestDetectNoLookahead(t *testing.T) {
	reg := detectRegistry()
	in := spikeCSV(400, 250, func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) })
	whole, _, err := runDetect(t, reg, in, "--input", "-", "--extra", "--warmup", "30")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(in, "\n")
	outLines := strings.SplitAfter(whole, "\n")
	for _, n := range []int{probeRows + 1, 100, 251, 300} {
		prefix, _, err := runDetect(t, reg, strings.Join(lines[:n+1], ""), "--input", "-", "--extra", "--warmup", "30")
		if err != nil {
			t.Fatal(err)
		}
		if want := strings.Join(outLines[:n+1], ""); prefix != want {
			t.Fatalf("the first %d rows score differently alone", n)
		}
	}
}

// TestDetectStreams: output rows come out while the input is still being
// written, so the command holds no more than its probe of the input.
// (syncBuffer is leaf_test.go's.)
func TestDetectStreams(t *testing.T) {
	reg := detectRegistry()
	pr, pw := io.Pipe()
	out := &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- detectMain(context.Background(), []string{"--input", "-", "--quiet"}, stdio{in: pr, out: out, err: io.Discard}, reg)
	}()
	fmt.Fprintln(pw, "timestamp,value")
	rows := 0
	write := func(n int) {
		for range n {
			fmt.Fprintf(pw, "%d,%d\n", 1700000000+rows*60, rows%7)
			rows++
		}
	}
	// 20,000 rows (more than the 64 KB output buffer holds) before any
	// more input: the output must have started.
	write(20000)
	deadline := time.Now().Add(10 * time.Second)
	for len(out.String()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(out.String()) == 0 {
		t.Fatal("no output after 20,000 rows of input")
	}
	write(100)
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != rows+1 {
		t.Fatalf("%d lines for %d rows", n, rows)
	}
}

func TestDetectListAndHelp(t *testing.T) {
	reg := detectRegistry()
	out, _, err := runDetect(t, reg, "", "--list")
	if err != nil || !strings.Contains(out, "ensemble") || !strings.Contains(out, "(default)") || !strings.Contains(out, "cfg") {
		t.Fatalf("--list: %v\n%s", err, out)
	}
	_, stderr, err := runDetect(t, reg, "", "-h")
	if err != nil || !strings.Contains(stderr, "--value-col") && !strings.Contains(stderr, "-value-col") || !strings.Contains(stderr, "reports its config") {
		t.Fatalf("-h: %v\n%s", err, stderr)
	}
	out, _, err = runDetect(t, models.NewRegistry(), "", "--list")
	if err != nil || !strings.Contains(out, "none registered") {
		t.Fatalf("empty registry: %v %q", err, out)
	}
}

// TestDetectEvaluate runs --evaluate on a small benchmark, writes the
// dataset, and checks that `das detect` on a written file raises the same
// alerts as the evaluator did on the series in memory.
func TestDetectEvaluate(t *testing.T) {
	reg := detectRegistry()
	dir := t.TempDir()
	md, stderr, err := runDetect(t, reg, "", "--evaluate", "--detector", models.DefaultDetector, "--seeds", "1", "--heldout-seeds", "2",
		"--scale", "0.05", "--write-dataset", dir)
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{"| ensemble | tuning |", "| ensemble | held-out |", "| tuning | 1 |", "| held-out | 2 |", "count_burst"} {
		if !strings.Contains(md, want) {
			t.Fatalf("table lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(stderr, "µs/point") {
		t.Fatalf("timing missing: %q", stderr)
	}
	md2, _, err := runDetect(t, reg, "", "--evaluate", "--detector", models.DefaultDetector, "--seeds", "1", "--heldout-seeds", "2", "--scale", "0.05", "--quiet")
	if err != nil || md2 != md {
		t.Fatalf("second run differs: %v", err)
	}
	series := eval.Generate(2, eval.GenOptions{Scale: 0.05})
	checked := 0
	for _, s := range series {
		path := filepath.Join(dir, "seed-2", s.Name+".csv")
		out, stderr, err := runDetect(t, reg, "", "--input", path, "--extra")
		if err != nil {
			t.Fatalf("%s: %v\n%s", s.Name, err, stderr)
		}
		recs := readCSV(t, out)
		if len(recs) != len(s.Points)+1 {
			t.Fatalf("%s: %d rows for %d points", s.Name, len(recs)-1, len(s.Points))
		}
		var alerts []int64
		for i, r := range recs[1:] {
			if r[8] == "true" {
				alerts = append(alerts, s.Points[i].T)
			}
		}
		d, _ := reg.New(models.DefaultDetector, models.Config{Interval: s.Interval, Warmup: eval.WarmupFor(len(s.Points))})
		if run := eval.Observe(d, s); !slices.Equal(run.Alerts, alerts) {
			t.Fatalf("%s: das detect alerts %v, the evaluator's %v", s.Name, alerts, run.Alerts)
		}
		checked++
	}
	if checked < 20 {
		t.Fatalf("%d series checked", checked)
	}
	if _, err := os.Stat(filepath.Join(dir, "seed-1", "labels.csv")); err != nil {
		t.Fatal(err)
	}
}

// FuzzSeriesReader: any input either fails with an error or yields rows
// whose fields are the CSV's fields, byte for byte, with a line number.
func FuzzSeriesReader(f *testing.F) {
	f.Add([]byte("timestamp,value\n2024-01-01T00:00:00Z,1\n2024-01-01 00:01:00,\n"))
	f.Add([]byte("timestamp,value\n1704067200,1.5\n1704067260,NaN\n"))
	f.Add([]byte("timestamp,value\n1704067200000,1e3\n\"1704067260000\",\" 2\"\n"))
	f.Add([]byte("\ufeffvalue,timestamp\r\n3,2024-01-01\r\n"))
	f.Add([]byte("timestamp,value\n2024-01-01T00:00:00.123456+05:30,-1\n2024-02-30,1\n"))
	f.Add([]byte("timestamp,value\n\"a\nb\",1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		sr, err := newSeriesReader(bytes.NewReader(data), "timestamp", "value")
		if err != nil {
			return
		}
		ref := csv.NewReader(bytes.NewReader(data))
		ref.FieldsPerRecord = -1
		ref.Read() // the header
		lastLine := 0
		for {
			r, err := sr.next()
			if err == io.EOF || err != nil {
				return
			}
			rec, rerr := ref.Read()
			if rerr != nil {
				t.Fatalf("row accepted that encoding/csv rejects: %v", rerr)
			}
			if r.tsText != rec[sr.tsIdx] || r.valText != rec[sr.valIdx] {
				t.Fatalf("fields %q,%q; csv has %q", r.tsText, r.valText, rec)
			}
			if r.line <= lastLine {
				t.Fatalf("line %d after %d", r.line, lastLine)
			}
			lastLine = r.line
			if math.IsInf(r.v, 0) {
				t.Fatalf("infinite value from %q", r.valText)
			}
			var out []byte
			out = appendCSVField(out, r.tsText)
			back, err := csv.NewReader(bytes.NewReader(append(out, ",x\n"...))).Read()
			if err != nil || back[0] != r.tsText {
				t.Fatalf("echo of %q reads back as %q, %v", r.tsText, back, err)
			}
		}
	})
}

// FuzzParseTimestamp: the parser never panics, and a date-time it accepts
// means the same instant as Go's reading of it in the RFC 3339 cases.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2024-01-01T00:00:00Z", "2024-01-01 00:00:00", "2024-01-01", "1704067200", "1704067200000.5",
		"2024-01-01T00:00:00.5+05:30", "-1.5", "2024-02-29T23:59:60Z", "9999-12-31T23:59:59.999999999-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var p tsParser
		ms, err := p.parse(s)
		if err != nil {
			return
		}
		if p.format == tsUnknown {
			t.Fatalf("%q parsed without a format", s)
		}
		if gt, gerr := time.Parse(time.RFC3339Nano, s); gerr == nil && gt.Year() >= 0 && gt.Year() <= 9999 {
			if want := gt.UnixMilli(); want != ms {
				t.Fatalf("%q: %d, time.Parse says %d", s, ms, want)
			}
		}
		// A second parse in the same family gives the same instant.
		if ms2, err := p.parse(s); err != nil || ms2 != ms {
			t.Fatalf("%q parsed twice: %d, %d, %v", s, ms, ms2, err)
		}
	})
}

// TestDetectBuiltinSpike runs the real command (das's own detectors, the
// default one) over three days of a noisy daily-seasonal minute series
// with one spike: one output row per input row, timestamps echoed, and
// the spike raises one alert, at the spike.
func TestDetectBuiltinSpike(t *testing.T) {
	const n, spike = 3 * 1440, 2*1440 + 700
	rng := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	b.WriteString("timestamp,value\n")
	for i := range n {
		ts := time.Unix(1704067200+int64(i)*60, 0).UTC().Format(time.DateTime)
		v := 1000 + 300*math.Sin(2*math.Pi*float64(i)/1440) + 20*rng.NormFloat64()
		if i == spike {
			v += 400
		}
		fmt.Fprintf(&b, "%s,%.2f\n", ts, v)
	}
	in := b.String()
	var out, errOut bytes.Buffer
	err := cmdDetect(context.Background(), []string{"--input", "-", "--extra"}, stdio{in: strings.NewReader(in), out: &out, err: &errOut})
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	inRecs, outRecs := readCSV(t, in), readCSV(t, out.String())
	if len(outRecs) != n+1 {
		t.Fatalf("%d rows for %d", len(outRecs)-1, n)
	}
	var alerts []int
	for i, r := range outRecs[1:] {
		if r[0] != inRecs[i+1][0] || r[1] != inRecs[i+1][1] {
			t.Fatalf("row %d: %q, input %q", i, r[:2], inRecs[i+1])
		}
		if r[8] == "true" {
			alerts = append(alerts, i)
		}
	}
	near := 0
	for _, a := range alerts {
		if a >= spike-30 && a <= spike+30 {
			near++
		}
	}
	if !slices.Contains(alerts, spike) || near != 1 {
		t.Fatalf("alerts at %v; want one at the spike, row %d", alerts, spike)
	}
	if r := outRecs[spike+1]; r[3] != "true" || r[7] != "up" {
		t.Fatalf("spike row %q", r)
	}
	if !strings.Contains(errOut.String(), "detector "+models.DefaultDetector) || !strings.Contains(errOut.String(), "interval 1m0s") {
		t.Fatalf("summary %q", errOut.String())
	}
}

// BenchmarkDetectCSV measures the whole command on a 100,000-row
// one-minute series (RFC 3339 timestamps) with the default detector:
// parsing, scoring and writing.
func BenchmarkDetectCSV(b *testing.B) {
	series := eval.Generate(1, eval.GenOptions{})
	var in bytes.Buffer
	in.WriteString("timestamp,value\n")
	rows := 0
	for rows < 100000 {
		for _, s := range series {
			if s.Profile != "qps_1m" {
				continue
			}
			for _, p := range s.Points[:min(len(s.Points), 100000-rows)] {
				fmt.Fprintf(&in, "%s,%v\n", time.UnixMilli(p.T+int64(rows)*60000).UTC().Format(time.RFC3339), p.V)
			}
			rows += min(len(s.Points), 100000-rows)
		}
	}
	data := in.Bytes()
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		err := cmdDetect(context.Background(), []string{"--input", "-", "--quiet"}, stdio{in: bytes.NewReader(data), out: io.Discard, err: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*100000/b.Elapsed().Seconds(), "rows/s")
}

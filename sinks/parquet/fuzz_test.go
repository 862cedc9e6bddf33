package parquet

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"testing"

	pq "github.com/parquet-go/parquet-go"

	"github.com/das-project/das/sinks"
)

func TestNames(t *testing.T) {
	tests := []struct {
		s    string
		want name
	}{
		{"part-p0-0000000001-0000.parquet", name{kind: kindPart, prefix: "p0", epoch: 1}},
		{".part-p0-0000000001-0003.parquet.inprogress", name{kind: kindPartPrep, prefix: "p0", epoch: 1, seq: 3}},
		{"part-sqlagg_p3-12345678901-12345.parquet", name{kind: kindPart, prefix: "sqlagg_p3", epoch: 12345678901, seq: 12345}},
		{".part-p0-open-0002.parquet.inprogress", name{kind: kindPartOpen, prefix: "p0", seq: 2}},
		{"hour-20260301T10-0001.parquet", name{kind: kindHour, hour: t0, seq: 1}},
		{".hour-20260301T10-0001.parquet.inprogress", name{kind: kindHourTemp, hour: t0, seq: 1}},
		{"part-p0-0000000001-0003.parquet.inprogress", name{}},
		{".part-p0-0000000001-0003.parquet", name{}},
		{".part-p0-open-0002.parquet", name{}},
		// Not ours.
		{"part-p0-open-0002.parquet", name{}},
		{"part-p0-0000000001-0000.parquet.tmp", name{}},
		{"part-p0-000000001-0000.parquet", name{}},
		{"part-p0-00000000001-0000.parquet", name{}},
		{"part-p-0-0000000001-0000.parquet", name{}},
		{"part--0000000001-0000.parquet", name{}},
		{"part-p0-0000000001-+000.parquet", name{}},
		{"hour-20260301T25-0001.parquet", name{}},
		{"hour-2026030110-0001.parquet", name{}},
		{"data.parquet", name{}},
		{"", name{}},
	}
	for _, tt := range tests {
		if got := parseName(tt.s); got != tt.want {
			t.Errorf("parseName(%q) = %+v, want %+v", tt.s, got, tt.want)
		}
	}
	if got := hourName(t0+59*sinks.MinuteMs, 7); got != "hour-20260301T10-0007.parquet" {
		t.Errorf("hourName = %s", got)
	}
}

// format is the inverse of parseName.
func (n name) format() string {
	switch n.kind {
	case kindPart:
		return partName(n.prefix, n.epoch, n.seq)
	case kindPartPrep:
		return tempName(partName(n.prefix, n.epoch, n.seq))
	case kindPartOpen:
		return openName(n.prefix, n.seq)
	case kindHour:
		return hourName(n.hour, n.seq)
	case kindHourTemp:
		return tempName(hourName(n.hour, n.seq))
	}
	return ""
}

func FuzzParseName(f *testing.F) {
	for _, s := range []string{
		"part-p0-0000000001-0000.parquet", ".part-p0-0000000001-0003.parquet.inprogress",
		".part-p0-open-0002.parquet.inprogress", "hour-20260301T10-0001.parquet",
		".hour-20260301T10-0001.parquet.inprogress", "part-a-b-c.parquet",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := parseName(s)
		if n.kind == kindUnknown {
			return
		}
		if got := n.format(); got != s {
			t.Fatalf("parseName(%q) = %+v, which formats as %q", s, n, got)
		}
	})
}

// FuzzReadFile feeds arbitrary bytes to the file decoder. It must return an
// error wrapping ErrCorruptFile or rows; never panic, hang or succeed with
// rows that do not survive a write and read back.
func FuzzReadFile(f *testing.F) {
	rows := newWorkload(40, 2, 3).rows(40, t0, 2)
	for _, c := range []Compression{CompressionZstd, CompressionSnappy, CompressionNone} {
		var buf bytes.Buffer
		fw := newFileWriter(nopSync{&buf}, &fileConfig{codec: must(c.codec()), rowGroupRows: 16, rowGroupBytes: 1 << 20})
		if err := fw.write(rows); err != nil {
			f.Fatal(err)
		}
		if err := fw.finish(false); err != nil {
			f.Fatal(err)
		}
		b := buf.Bytes()
		f.Add(b)
		f.Add(b[:len(b)/2])
		f.Add(b[len(b)/3:])
		flipped := slices.Clone(b)
		flipped[len(b)/2] ^= 0x55
		f.Add(flipped)
	}
	f.Add([]byte("PAR1PAR1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var got []sinks.MinuteRow
		err := decodeFile(bytes.NewReader(b), int64(len(b)), "fuzz", func(pf *pq.File, cols [numCols]int) error {
			return readRows(pf, cols, func(batch []sinks.MinuteRow) error {
				got = append(got, batch...)
				return nil
			})
		})
		if err != nil {
			if !errors.Is(err, ErrCorruptFile) {
				t.Fatalf("error %v does not wrap ErrCorruptFile", err)
			}
			return
		}
		// Whatever decoded must write and read back identically (after the
		// writer's UTF-8 repair, which decoded strings may need).
		for i := range got {
			got[i].MakeValidUTF8()
		}
		path := t.TempDir() + "/f.parquet"
		out, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		fw := newFileWriter(out, &fileConfig{codec: must(CompressionNone.codec()), rowGroupRows: 1 << 20, rowGroupBytes: 1 << 30})
		if err := fw.write(got); err != nil {
			t.Fatal(err)
		}
		if err := fw.finish(false); err != nil {
			t.Fatal(err)
		}
		again, err := ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(again) != len(got) || (len(got) > 0 && !slices.Equal(again, got)) {
			t.Fatalf("decoded rows do not round-trip")
		}
	})
}

type nopSync struct{ *bytes.Buffer }

func (nopSync) Sync() error  { return nil }
func (nopSync) Close() error { return nil }

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

package eval

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
)

// WriteCSV writes s as `timestamp,value` rows, the input `das detect`
// reads: timestamps in the series' own format, a missing value as an
// empty field.
func WriteCSV(w io.Writer, s Series) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("timestamp,value\n")
	var buf []byte
	for _, p := range s.Points {
		buf = s.Format.Append(buf[:0], p.T)
		buf = append(buf, ',')
		if !math.IsNaN(p.V) {
			buf = strconv.AppendFloat(buf, p.V, 'f', -1, 64)
		}
		buf = append(buf, '\n')
		bw.Write(buf)
	}
	return bw.Flush()
}

// WriteLabels writes the labels of series as `series,kind,start,end` rows,
// the timestamps in each series' own format.
func WriteLabels(w io.Writer, series []Series) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("series,kind,start,end\n")
	var buf []byte
	for _, s := range series {
		for _, l := range s.Labels {
			buf = append(buf[:0], s.Name...)
			buf = append(buf, ',')
			buf = append(buf, l.Kind...)
			buf = append(buf, ',')
			buf = s.Format.Append(buf, l.Start)
			buf = append(buf, ',')
			buf = s.Format.Append(buf, l.End)
			buf = append(buf, '\n')
			bw.Write(buf)
		}
	}
	return bw.Flush()
}

// WriteDataset writes every series of one seed to dir/seed-N/NAME.csv and
// their labels to dir/seed-N/labels.csv.
func WriteDataset(dir string, seed uint64, series []Series) error {
	sub := filepath.Join(dir, fmt.Sprintf("seed-%d", seed))
	if err := os.MkdirAll(sub, 0o755); err != nil {
		return err
	}
	write := func(name string, fn func(io.Writer) error) (err error) {
		f, err := os.Create(filepath.Join(sub, name))
		if err != nil {
			return err
		}
		defer func() {
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}()
		return fn(f)
	}
	for _, s := range series {
		if err := write(s.Name+".csv", func(w io.Writer) error { return WriteCSV(w, s) }); err != nil {
			return err
		}
	}
	return write("labels.csv", func(w io.Writer) error { return WriteLabels(w, series) })
}

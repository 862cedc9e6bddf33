package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/das-project/das/operators/fingerprint"
)

// cmdFingerprint prints template_id<TAB>template for every input line: the
// same function and the same id string as the template_id column of the
// minute aggregates. Any line, however odd or long, gets exactly one output
// line; only I/O errors fail the command.
func cmdFingerprint(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("das fingerprint", flag.ContinueOnError)
	fs.SetOutput(s.err)
	file := fs.String("file", "", "read SQL statements from this file, one per line (default: standard input)")
	fs.Usage = func() {
		fmt.Fprintf(s.err, "usage: das fingerprint [--file F]\n\n"+
			"Reads SQL statements, one per line, and prints template_id<TAB>template for each,\n"+
			"with fingerprint version %d.\n\n", fingerprint.Version)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.err, "das fingerprint: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	in := s.in
	if *file != "" {
		f, err := os.Open(*file)
		if err != nil {
			return err
		}
		defer f.Close() // read-only: nothing to flush
		in = f
	}
	return fingerprintLines(ctx, in, s.out)
}

// fingerprintLines fingerprints each line of r. Lines may be of any length;
// a trailing "\r" is dropped, and a last line without "\n" counts.
func fingerprintLines(ctx context.Context, r io.Reader, w io.Writer) error {
	br := bufio.NewReaderSize(r, 64<<10)
	bw := bufio.NewWriterSize(w, 64<<10)
	fp := fingerprint.New()
	var long, buf []byte
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if len(long) > 0 {
			long = append(long, line...)
			line = long
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("read: %w", err)
		}
		if len(line) == 0 && err == io.EOF {
			break
		}
		eof := err == io.EOF
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
		}
		id, tpl := fp.Fingerprint(line)
		buf, _ = id.AppendText(buf[:0])
		buf = append(buf, '\t')
		buf = append(buf, tpl...)
		buf = append(buf, '\n')
		if _, err := bw.Write(buf); err != nil {
			return fmt.Errorf("write: %w", err)
		}
		if cap(long) > 1<<20 {
			long = nil // do not keep a huge line's buffer
		}
		long = long[:0]
		if eof {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

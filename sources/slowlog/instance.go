package slowlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultPort is the port DefaultInstance names when the log does not say.
const DefaultPort = 3306

// headerProbe is how much of the start of a log DefaultInstance reads.
const headerProbe = 64 << 10

// DefaultInstance names the instance whose log is at path (r reads the
// file from its start) when the user gave none: HOST:PORT.
//
// The log does not record the server's host name, so HOST is taken from the
// file name when it is MySQL's default, HOST-slow.log (also with a rotation
// suffix: HOST-slow.log.1, HOST-slow.log-20240102, …), and otherwise is
// this machine's name (hostname(), normally os.Hostname: the log is read
// where the server wrote it). PORT is the "Tcp port:" of the header the
// server writes when it opens the log, if the file starts with one and the
// port is not 0, else 3306.
func DefaultInstance(path string, r io.ReaderAt, hostname func() (string, error)) (string, error) {
	host := hostFromName(filepath.Base(path))
	if host == "" {
		h, err := hostname()
		if err != nil {
			return "", fmt.Errorf("slowlog: %s: no host in the file name and no host name: %w", path, err)
		}
		host = h
	}
	port := DefaultPort
	buf := make([]byte, headerProbe)
	n, err := r.ReadAt(buf, 0)
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("slowlog: %s: %w", path, err)
	}
	if p, ok := headerPort(buf[:n]); ok && p > 0 {
		port = p
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// hostFromName returns HOST of "HOST-slow.log[suffix]", or "".
func hostFromName(name string) string {
	i := strings.LastIndex(name, "-slow.log")
	if i <= 0 {
		return ""
	}
	return name[:i]
}

// headerPort finds "Tcp port: N" in the server header at the start of b.
func headerPort(b []byte) (int, bool) {
	first, rest := cutLine(b)
	if classifyLine(first) != lkVersion {
		return 0, false
	}
	line, _ := cutLine(rest)
	if classifyLine(line) != lkTCPPort {
		return 0, false
	}
	f := bytes.Fields(line[len(pfxTCPPort):])
	if len(f) == 0 {
		return 0, false
	}
	p, err := strconv.Atoi(string(bytes.TrimRight(f[0], ",")))
	if err != nil || p < 0 || p > 65535 {
		return 0, false
	}
	return p, true
}

// recoverDB returns the database in force at offset off of a log: the one
// named by the last "use db;" line before it that the parser would have
// taken as an entry's database (the first line of a body: after a "#" line,
// with more of the entry after it), or "" if a server header or the start
// of the file comes first. It reads backwards in blocks, so its cost is
// the distance to that line.
func recoverDB(ctx context.Context, r io.ReaderAt, off int64) (string, error) {
	const block = 64 << 10
	var (
		buf      []byte // buf holds bytes [pos, pos+len(buf)) of the file, whole lines after its first '\n'
		pos      = off
		after    []byte // the line after the current one
		hasAfter bool   // false for the line just before off
		cand     string // a use line whose previous line must start with '#'
		have     bool
	)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		// Take the complete lines at the end of buf, last first.
		for {
			i := bytes.LastIndexByte(buf[:max(len(buf)-1, 0)], '\n')
			if i < 0 && pos > 0 {
				break // the first line in buf may be incomplete
			}
			line := buf[i+1:]
			buf = buf[:i+1]
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if have {
				if len(line) > 0 && line[0] == '#' {
					return cand, nil
				}
				have = false
			}
			if classifyLine(line) == lkVersion {
				return "", nil
			}
			if db, ok := useLine(line); ok && hasAfter {
				if k := classifyLine(after); k != lkTime && k != lkUserHost && k != lkVersion {
					var p parser
					p.setDB(db)
					cand, have = p.db, true
				}
			}
			after, hasAfter = append(after[:0], line...), true
			if i < 0 {
				return "", nil
			}
		}
		if pos == 0 {
			return "", nil
		}
		n := min(int64(block), pos)
		pos -= n
		nb := make([]byte, int(n)+len(buf))
		if _, err := r.ReadAt(nb[:n], pos); err != nil && err != io.EOF {
			return "", err
		}
		copy(nb[n:], buf)
		buf = nb
	}
}

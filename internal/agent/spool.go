package agent

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// A spool segment holds the Kafka records of one cut on disk:
//
//	magic "das-agent-segment-1\n"
//	uvarint length, the cut's journal entry as JSON
//	per record: uvarint key length, key, uvarint value length, value
//	CRC-32C (little endian) of everything before it
//
// It is written to a temporary name, fsynced and renamed, so a segment
// that exists is complete; the checksum catches a disk that lied.
const segmentMagic = "das-agent-segment-1\n"

const spoolDirName = "spool"

// spool is the directory of segments. Its methods do file I/O only; the
// outbox decides what is spooled and accounts for the bytes.
type spool struct {
	dir    string
	noSync bool
}

func openSpool(stateDir string, noSync bool) (*spool, error) {
	dir := filepath.Join(stateDir, spoolDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	return &spool{dir: dir, noSync: noSync}, nil
}

func segmentName(k int64) string { return fmt.Sprintf("%020d.seg", k) }

func (s *spool) path(k int64) string { return filepath.Join(s.dir, segmentName(k)) }

// segmentSize is the size of c's segment file.
func segmentSize(c *cut, hdr []byte) int64 {
	n := int64(len(segmentMagic)+binary.MaxVarintLen64+len(hdr)) + 4
	for _, r := range c.records {
		n += int64(2*binary.MaxVarintLen64 + len(r.key) + len(r.value))
	}
	return n
}

func cutEntry(c *cut, config string) entry {
	return entry{T: "cut", K: c.k, Stream: c.stream, From: c.from, To: c.to, Statements: c.statements, Records: c.nrec, Config: config}
}

// write writes c's segment (c.records must be set) and returns its size.
func (s *spool) write(c *cut, config string) (int64, error) {
	hdr, err := json.Marshal(cutEntry(c, config))
	if err != nil {
		return 0, err
	}
	buf := make([]byte, 0, segmentSize(c, hdr))
	buf = append(buf, segmentMagic...)
	buf = binary.AppendUvarint(buf, uint64(len(hdr)))
	buf = append(buf, hdr...)
	for _, r := range c.records {
		buf = binary.AppendUvarint(buf, uint64(len(r.key)))
		buf = append(buf, r.key...)
		buf = binary.AppendUvarint(buf, uint64(len(r.value)))
		buf = append(buf, r.value...)
	}
	buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
	if err := writeFileSync(s.path(c.k), buf, s.noSync); err != nil {
		return 0, fmt.Errorf("agent: spool cut %d: %w", c.k, err)
	}
	return int64(len(buf)), nil
}

// read returns the records and journal entry of cut k's segment.
func (s *spool) read(k int64) ([]record, entry, error) {
	var e entry
	path := s.path(k)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, e, fmt.Errorf("agent: spool: %w", err)
	}
	recs, e, err := decodeSegment(data)
	if err != nil {
		return nil, e, fmt.Errorf("%w: %s: %v", ErrCorruptState, path, err)
	}
	if e.K != k {
		return nil, e, fmt.Errorf("%w: %s holds cut %d", ErrCorruptState, path, e.K)
	}
	return recs, e, nil
}

// decodeSegment parses a segment. The records alias data.
func decodeSegment(data []byte) ([]record, entry, error) {
	var e entry
	if len(data) < len(segmentMagic)+4 || !bytes.HasPrefix(data, []byte(segmentMagic)) {
		return nil, e, errors.New("not a segment")
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return nil, e, errors.New("checksum mismatch")
	}
	r := body[len(segmentMagic):]
	next := func() ([]byte, error) {
		n, k := binary.Uvarint(r)
		if k <= 0 || n > uint64(len(r)-k) {
			return nil, io.ErrUnexpectedEOF
		}
		b := r[k : k+int(n) : k+int(n)]
		r = r[k+int(n):]
		return b, nil
	}
	hdr, err := next()
	if err != nil {
		return nil, e, err
	}
	if err := json.Unmarshal(hdr, &e); err != nil || e.T != "cut" {
		return nil, e, fmt.Errorf("bad header %q", hdr)
	}
	if e.Records < 0 || e.Records > MaxCutRecords {
		return nil, e, fmt.Errorf("header says %d records", e.Records)
	}
	recs := make([]record, 0, e.Records)
	for len(r) > 0 {
		key, err := next()
		if err != nil {
			return nil, e, err
		}
		val, err := next()
		if err != nil {
			return nil, e, err
		}
		recs = append(recs, record{key: key, value: val})
	}
	if len(recs) != e.Records {
		return nil, e, fmt.Errorf("%d records, header says %d", len(recs), e.Records)
	}
	return recs, e, nil
}

func (s *spool) remove(k int64) error {
	if err := os.Remove(s.path(k)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("agent: spool: %w", err)
	}
	return nil
}

// list returns the segments present, by cut number, with their sizes, and
// removes leftover temporary files.
func (s *spool) list() (map[int64]int64, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	out := map[int64]int64{}
	for _, de := range ents {
		name := de.Name()
		if strings.HasSuffix(name, ".tmp") {
			os.Remove(filepath.Join(s.dir, name))
			continue
		}
		num, ok := strings.CutSuffix(name, ".seg")
		if !ok {
			continue
		}
		k, err := strconv.ParseInt(num, 10, 64)
		if err != nil || k <= 0 {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			return nil, fmt.Errorf("agent: spool: %w", err)
		}
		out[k] = fi.Size()
	}
	return out, nil
}

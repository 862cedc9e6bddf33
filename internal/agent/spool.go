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

	"github.com/twmb/franz-go/pkg/kgo"
)

// A spool segment holds the Kafka records of one cut on disk:
//
//	magic "das-agent-segment-2\n"
//	uvarint length, the cut's journal entry as JSON
//	one byte: the compression codec of the rest (franz-go codec numbers:
//	0 none, 4 zstd)
//	the records, compressed: per record uvarint key length, key, uvarint
//	value length, value
//	CRC-32C (little endian) of everything before it
//
// It is written to a temporary name, fsynced and renamed, so a segment
// that exists is complete; the checksum catches a disk that lied. Records
// are compressed with zstd, as they would be on the wire, so the spool holds
// several times more than its byte bound of raw records.
const segmentMagic = "das-agent-segment-2\n"

const spoolDirName = "spool"

// spool is the directory of segments. Its methods do file I/O and
// encoding only; the outbox decides what is spooled and accounts for the
// bytes. Safe for concurrent use.
type spool struct {
	dir    string
	noSync bool
	comp   kgo.Compressor
	decomp kgo.Decompressor
}

func openSpool(stateDir string, noSync bool) (*spool, error) {
	dir := filepath.Join(stateDir, spoolDirName)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	comp, err := kgo.DefaultCompressor(kgo.ZstdCompression())
	if err != nil {
		return nil, fmt.Errorf("agent: spool: %w", err)
	}
	return &spool{dir: dir, noSync: noSync, comp: comp, decomp: kgo.DefaultDecompressor()}, nil
}

func segmentName(k int64) string { return fmt.Sprintf("%020d.seg", k) }

func (s *spool) path(k int64) string { return filepath.Join(s.dir, segmentName(k)) }

func cutEntry(c *cut, config string) entry {
	return entry{T: "cut", K: c.k, Stream: c.stream, From: c.from, To: c.to, Statements: c.statements, Records: c.nrec, Config: config, Ckpt: string(c.ckpt)}
}

// encode returns the segment bytes of cut c with records recs.
func (s *spool) encode(c *cut, recs []record, config string) []byte {
	hdr, err := json.Marshal(cutEntry(c, config))
	if err != nil {
		panic("BUG: agent: cut entry does not marshal: " + err.Error())
	}
	var raw []byte
	for _, r := range recs {
		raw = binary.AppendUvarint(raw, uint64(len(r.key)))
		raw = append(raw, r.key...)
		raw = binary.AppendUvarint(raw, uint64(len(r.value)))
		raw = append(raw, r.value...)
	}
	var dst bytes.Buffer
	body, codec := s.comp.Compress(&dst, raw)
	if codec != kgo.CodecZstd {
		body, codec = raw, kgo.CodecNone
	}
	buf := make([]byte, 0, len(segmentMagic)+binary.MaxVarintLen64+len(hdr)+1+len(body)+4)
	buf = append(buf, segmentMagic...)
	buf = binary.AppendUvarint(buf, uint64(len(hdr)))
	buf = append(buf, hdr...)
	buf = append(buf, byte(codec))
	buf = append(buf, body...)
	return binary.LittleEndian.AppendUint32(buf, crc32.Checksum(buf, castagnoli))
}

// write writes segment data for cut k.
func (s *spool) write(k int64, data []byte) error {
	if err := writeFileSync(s.path(k), data, s.noSync); err != nil {
		return fmt.Errorf("agent: spool cut %d: %w", k, err)
	}
	return nil
}

// read returns the records and journal entry of cut k's segment.
func (s *spool) read(k int64) ([]record, entry, error) {
	var e entry
	path := s.path(k)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, e, fmt.Errorf("agent: spool: %w", err)
	}
	recs, e, err := s.decode(data)
	if err != nil {
		return nil, e, fmt.Errorf("%w: %s: %v", ErrCorruptState, path, err)
	}
	if e.K != k {
		return nil, e, fmt.Errorf("%w: %s holds cut %d", ErrCorruptState, path, e.K)
	}
	return recs, e, nil
}

// decode parses a segment. The records may alias data.
func (s *spool) decode(data []byte) ([]record, entry, error) {
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
	if len(r) < 1 {
		return nil, e, io.ErrUnexpectedEOF
	}
	switch codec := kgo.CompressionCodecType(r[0]); codec {
	case kgo.CodecNone:
		r = r[1:]
	case kgo.CodecZstd:
		raw, err := s.decomp.Decompress(r[1:], codec)
		if err != nil {
			return nil, e, fmt.Errorf("decompress: %w", err)
		}
		r = raw
	default:
		return nil, e, fmt.Errorf("unknown codec %d", codec)
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

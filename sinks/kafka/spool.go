package kafka

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/das-project/das/internal/fsutil"
)

// A spool file holds the records of one precommitted epoch until its
// transaction is committed, so that a transaction a crash aborted can be
// produced again. Format: the magic, a uvarint record count, then per
// record a uvarint key length, the key, a uvarint value length, the value;
// then the CRC-32C (Castagnoli) of everything before it, little-endian.
const spoolMagic = "das-kafka-spool-1\n"

// ErrCorruptSpool: a spool file that is not what writeSpool wrote.
var ErrCorruptSpool = errors.New("sinks/kafka: corrupt spool file")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// spoolName is the file name of epoch's spool.
func spoolName(epoch uint64) string { return fmt.Sprintf("epoch-%020d.spool", epoch) }

// parseSpoolName returns the epoch of a spool file name.
func parseSpoolName(name string) (uint64, bool) {
	s, ok := strings.CutPrefix(name, "epoch-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".spool")
	if !ok || len(s) != 20 {
		return 0, false
	}
	e, err := strconv.ParseUint(s, 10, 64)
	return e, err == nil
}

type kv struct{ key, value []byte }

func encodeSpool(recs []kv) []byte {
	n := len(spoolMagic) + 16
	for _, r := range recs {
		n += len(r.key) + len(r.value) + 2*binary.MaxVarintLen32
	}
	b := make([]byte, 0, n)
	b = append(b, spoolMagic...)
	b = binary.AppendUvarint(b, uint64(len(recs)))
	for _, r := range recs {
		b = binary.AppendUvarint(b, uint64(len(r.key)))
		b = append(b, r.key...)
		b = binary.AppendUvarint(b, uint64(len(r.value)))
		b = append(b, r.value...)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeSpool parses a spool file. The records reference b.
func decodeSpool(b []byte) ([]kv, error) {
	corrupt := func(what string) ([]kv, error) { return nil, fmt.Errorf("%w: %s", ErrCorruptSpool, what) }
	if len(b) < len(spoolMagic)+5 || string(b[:len(spoolMagic)]) != spoolMagic {
		return corrupt("magic")
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return corrupt("checksum")
	}
	p := body[len(spoolMagic):]
	count, n := binary.Uvarint(p)
	// Each record takes at least two bytes: bound the allocation by the input.
	if n <= 0 || count > uint64(len(p)-n)/2 {
		return corrupt("record count")
	}
	p = p[n:]
	field := func() ([]byte, bool) {
		l, n := binary.Uvarint(p)
		if n <= 0 || l > uint64(len(p)-n) {
			return nil, false
		}
		f := p[n : n+int(l) : n+int(l)]
		p = p[n+int(l):]
		return f, true
	}
	recs := make([]kv, 0, count)
	for range count {
		k, ok := field()
		if !ok {
			return corrupt("key")
		}
		v, ok := field()
		if !ok {
			return corrupt("value")
		}
		recs = append(recs, kv{k, v})
	}
	if len(p) != 0 {
		return corrupt("trailing bytes")
	}
	return recs, nil
}

// writeSpool writes recs durably as dir/spoolName(epoch): a temporary
// file, fsync, rename, fsync of the directory (unless noSync).
func writeSpool(dir string, epoch uint64, recs []kv, noSync bool) (err error) {
	name := filepath.Join(dir, spoolName(epoch))
	tmp := name + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(encodeSpool(recs)); err == nil && !noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err = os.Rename(tmp, name); err != nil {
		return err
	}
	if noSync {
		return nil
	}
	return fsutil.SyncDir(dir)
}

func readSpool(dir string, epoch uint64) ([]kv, error) {
	b, err := os.ReadFile(filepath.Join(dir, spoolName(epoch)))
	if err != nil {
		return nil, err
	}
	recs, err := decodeSpool(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", spoolName(epoch), err)
	}
	return recs, nil
}

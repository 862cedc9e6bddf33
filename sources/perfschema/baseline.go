package perfschema

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"sort"
)

// A baseline is the poller's memory of the digest table after a poll: the
// server's clock and uptime then, and each row's counters and FIRST_SEEN.
// Saved with the statements it produced and restored at the next start
// (Restore), it makes the first poll after a restart a delta over the whole
// time the poller was away, instead of a new baseline that drops that
// time's statements. Like every delta, those since a restored baseline are
// attributed to the minute at the middle of their interval.

// baselineVersion is the first byte of an encoded baseline.
const baselineVersion = 1

// ErrBaseline: a saved baseline that cannot be used (damaged, another
// format, another server). Restore leaves the poller as it was; the next
// poll then takes a new baseline.
var ErrBaseline = errors.New("perfschema: unusable baseline")

// Baseline returns the encoded baseline after the last poll, or nil before
// the first. Safe to call while Run polls.
func (p *Poller) Baseline() []byte {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	if p.tr.prevUs == 0 {
		return nil
	}
	keys := make([]digestKey, 0, len(p.tr.base))
	for k := range p.tr.base {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].schema != keys[j].schema {
			return keys[i].schema < keys[j].schema
		}
		return keys[i].digest < keys[j].digest
	})
	b := []byte{baselineVersion}
	b = binary.AppendUvarint(b, uint64(len(p.srv.identity)))
	b = append(b, p.srv.identity...)
	b = binary.AppendVarint(b, p.tr.prevUs)
	b = binary.AppendVarint(b, p.tr.uptimeS)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		r := p.tr.base[k]
		b = binary.AppendUvarint(b, uint64(len(k.schema)))
		b = append(b, k.schema...)
		b = binary.AppendUvarint(b, uint64(len(k.digest)))
		b = append(b, k.digest...)
		b = binary.AppendVarint(b, r.firstSeen)
		for _, v := range [...]uint64{r.c.count, r.c.latencyUs, r.c.maxUs, r.c.lockUs, r.c.errors, r.c.rowsSent, r.c.rowsExamined, r.c.rowsAffected} {
			b = binary.AppendUvarint(b, v)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Restore makes an encoded baseline the poller's, before its first poll. A
// baseline of another server (@@hostname:@@port), a damaged one or one
// from a poller that has already polled is refused with ErrBaseline.
func (p *Poller) Restore(data []byte) error {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	if p.tr.prevUs != 0 {
		return fmt.Errorf("%w: the poller has already polled", ErrBaseline)
	}
	tr, identity, err := decodeBaseline(data)
	if err != nil {
		return err
	}
	if identity != p.srv.identity {
		return fmt.Errorf("%w: it was taken on %s, this is %s", ErrBaseline, identity, p.srv.identity)
	}
	p.tr = tr
	return nil
}

func decodeBaseline(data []byte) (tr tracker, identity string, err error) {
	bad := func(what string) (tracker, string, error) {
		return tracker{}, "", fmt.Errorf("%w: %s", ErrBaseline, what)
	}
	if len(data) < 5 {
		return bad("too short")
	}
	body := data[:len(data)-4]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(data[len(data)-4:]) {
		return bad("checksum mismatch")
	}
	if body[0] != baselineVersion {
		return bad(fmt.Sprintf("format %d, this das reads %d", body[0], baselineVersion))
	}
	r := body[1:]
	uv := func() (uint64, bool) {
		v, n := binary.Uvarint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	sv := func() (int64, bool) {
		v, n := binary.Varint(r)
		if n <= 0 {
			return 0, false
		}
		r = r[n:]
		return v, true
	}
	str := func() (string, bool) {
		n, ok := uv()
		if !ok || n > uint64(len(r)) {
			return "", false
		}
		s := string(r[:n])
		r = r[n:]
		return s, true
	}
	var ok bool
	if identity, ok = str(); !ok {
		return bad("truncated server identity")
	}
	if tr.prevUs, ok = sv(); !ok || tr.prevUs <= 0 {
		return bad("bad poll time")
	}
	if tr.uptimeS, ok = sv(); !ok {
		return bad("bad uptime")
	}
	n, ok := uv()
	if !ok || n > uint64(len(r)) { // every row takes more than a byte
		return bad("bad row count")
	}
	tr.base = make(map[digestKey]baseRow, n)
	for range n {
		var k digestKey
		var row baseRow
		if k.schema, ok = str(); !ok {
			return bad("truncated row")
		}
		if k.digest, ok = str(); !ok {
			return bad("truncated row")
		}
		if row.firstSeen, ok = sv(); !ok {
			return bad("truncated row")
		}
		for _, v := range [...]*uint64{&row.c.count, &row.c.latencyUs, &row.c.maxUs, &row.c.lockUs, &row.c.errors, &row.c.rowsSent, &row.c.rowsExamined, &row.c.rowsAffected} {
			if *v, ok = uv(); !ok {
				return bad("truncated row")
			}
		}
		tr.base[k] = row
	}
	if len(r) != 0 {
		return bad("trailing bytes")
	}
	return tr, identity, nil
}

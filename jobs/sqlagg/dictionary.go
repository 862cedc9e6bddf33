package sqlagg

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/state"
)

// SampleMaxBytes bounds the sample_sql column.
const SampleMaxBytes = 1024

// maxDictEntries bounds the in-memory template dictionary; past it the
// clean entries are dropped and re-read from the store on demand.
const maxDictEntries = 200_000

type dictEntry struct {
	id       string // the template_id column, formatted once
	template string
	sample   string
}

// dictionary maps template ids to their text and a redacted sample. The
// texts are stored once per template in the state's NSDict namespace, not
// once per minute key.
type dictionary struct {
	store   *state.Store
	entries map[fingerprint.ID]*dictEntry
	dirty   []fingerprint.ID
	buf     []byte
}

func newDictionary(store *state.Store) *dictionary {
	return &dictionary{store: store, entries: map[fingerprint.ID]*dictEntry{}}
}

func dictKey(dst []byte, id fingerprint.ID) []byte {
	dst = append(dst, state.NSDict)
	return append(dst, byte(id>>56), byte(id>>48), byte(id>>40), byte(id>>32), byte(id>>24), byte(id>>16), byte(id>>8), byte(id))
}

// observe records the template of a statement the first time it is seen
// (by this process; a stored entry is kept as is).
// known reports whether id's entry is in memory (observe would do nothing).
func (d *dictionary) known(id fingerprint.ID) bool {
	_, ok := d.entries[id]
	return ok
}

func (d *dictionary) observe(fp *fingerprint.Fingerprinter, id fingerprint.ID, tmpl, sql []byte) {
	if _, ok := d.entries[id]; ok {
		return
	}
	if e, err := d.load(id); err == nil && e != nil {
		d.entries[id] = e
		return
	}
	d.buf = fp.Redact(d.buf[:0], sql, SampleMaxBytes)
	d.entries[id] = &dictEntry{id: id.String(), template: string(tmpl), sample: string(d.buf)}
	d.dirty = append(d.dirty, id)
}

func (d *dictionary) load(id fingerprint.ID) (*dictEntry, error) {
	v, closer, err := d.store.DB().Get(dictKey(nil, id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	r := state.Reader{B: v}
	e := &dictEntry{id: id.String(), template: string(r.Bytes()), sample: string(r.Bytes())}
	if r.Err != nil {
		return nil, fmt.Errorf("sqlagg: corrupt dictionary entry %s: %w", id, r.Err)
	}
	return e, nil
}

// get returns the entry of id, from memory or the store.
func (d *dictionary) get(id fingerprint.ID) (*dictEntry, error) {
	if e, ok := d.entries[id]; ok {
		return e, nil
	}
	e, err := d.load(id)
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("sqlagg: template %s missing from the state dictionary", id)
	}
	d.entries[id] = e
	return e, nil
}

// stage writes new entries into the checkpoint batch and trims memory.
func (d *dictionary) stage(b *pebble.Batch) error {
	for _, id := range d.dirty {
		e := d.entries[id]
		d.buf = state.AppendBytes(d.buf[:0], []byte(e.template))
		d.buf = state.AppendBytes(d.buf, []byte(e.sample))
		if err := b.Set(dictKey(nil, id), d.buf, nil); err != nil {
			return err
		}
	}
	d.dirty = d.dirty[:0]
	return nil
}

// trim drops clean entries when the dictionary is over its bound; call
// after the checkpoint that staged them committed.
func (d *dictionary) trim() {
	if len(d.entries) > maxDictEntries && len(d.dirty) == 0 {
		d.entries = map[fingerprint.ID]*dictEntry{}
	}
}

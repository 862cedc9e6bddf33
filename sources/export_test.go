package sources

// DecodeSlowForTest is the fastjson-only decoder, the reference the fast
// path is checked against.
func (d *Decoder) DecodeSlowForTest(raw []byte, ev *Event) error { return d.decodeSlow(raw, ev) }

// DecodeFastForTest is the fast path alone; it reports whether it decoded
// raw.
func (d *Decoder) DecodeFastForTest(raw []byte, ev *Event) bool {
	if d.str.max == 0 {
		d.str.max = MaxInterned
	}
	return d.decodeFast(raw, ev)
}

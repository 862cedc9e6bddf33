package perfschema

import (
	"errors"
	"reflect"
	"testing"
)

func testPoller(identity string, tr tracker) *Poller {
	p := &Poller{srv: serverInfo{identity: identity}}
	p.tr = tr
	return p
}

// A baseline round-trips through its encoding; a baseline of another
// server, a damaged one, or a restore after the first poll is refused
// with ErrBaseline and leaves the poller as it was.
func TestBaselineRoundTrip(t *testing.T) {
	if b := testPoller("h:3306", tracker{}).Baseline(); b != nil {
		t.Fatalf("baseline before the first poll: %x", b)
	}
	tr := tracker{prevUs: 1_700_000_000_000_000, uptimeS: 12345, base: map[digestKey]baseRow{
		{"db", "aa11"}:            {c: cnt(10, 1000, 300), firstSeen: 1_699_999_000_000_000},
		{"", ""}:                  {c: cnt(3, 30, 20), firstSeen: 5},
		{"", preparedDigest}:      {c: counters{count: 1 << 40, latencyUs: 1<<63 + 5}, firstSeen: 0},
		{"other", "ffffffffffff"}: {c: cnt(0, 0, 0), firstSeen: -1},
	}}
	data := testPoller("h:3306", tr).Baseline()
	q := testPoller("h:3306", tracker{})
	if err := q.Restore(data); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(q.tr, tr) {
		t.Fatalf("restored %+v, want %+v", q.tr, tr)
	}
	for name, c := range map[string]struct {
		p    *Poller
		data []byte
	}{
		"another server": {testPoller("other:3306", tracker{}), data},
		"already polled": {testPoller("h:3306", tracker{prevUs: 1}), data},
		"damaged":        {testPoller("h:3306", tracker{}), append(append([]byte{}, data[:len(data)/2]...), data[len(data)/2+1:]...)},
		"flipped bit":    {testPoller("h:3306", tracker{}), func() []byte { b := append([]byte{}, data...); b[7] ^= 1; return b }()},
		"empty":          {testPoller("h:3306", tracker{}), nil},
	} {
		before := c.p.tr
		if err := c.p.Restore(c.data); !errors.Is(err, ErrBaseline) {
			t.Errorf("%s: %v, want ErrBaseline", name, err)
		}
		if !reflect.DeepEqual(c.p.tr, before) {
			t.Errorf("%s: a refused baseline changed the poller", name)
		}
	}
}

// FuzzBaseline: decoding never panics, and what decodes re-encodes to a
// baseline that decodes to the same state.
func FuzzBaseline(f *testing.F) {
	f.Add(testPoller("h:1", tracker{prevUs: 9, base: map[digestKey]baseRow{{"s", "d"}: {c: cnt(1, 2, 3)}}}).Baseline())
	f.Add([]byte{baselineVersion, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tr, identity, err := decodeBaseline(data)
		if err != nil {
			if !errors.Is(err, ErrBaseline) {
				t.Fatalf("error %v is not ErrBaseline", err)
			}
			return
		}
		tr2, identity2, err := decodeBaseline(testPoller(identity, tr).Baseline())
		if err != nil || identity2 != identity || !reflect.DeepEqual(tr2, tr) {
			t.Fatalf("re-encoded baseline decodes to %+v %q (%v), want %+v %q", tr2, identity2, err, tr, identity)
		}
	})
}

package pcap

import (
	"errors"
	"time"
)

// errTimeout is returned by a live reader when no packet arrived within
// its poll interval.
var errTimeout = errors.New("pcap: poll timeout")

// ErrPermission is returned by OpenInterface when the process may not
// open a packet socket.
var ErrPermission = errors.New("pcap: live capture needs the CAP_NET_RAW capability (run das as root, or grant it: setcap cap_net_raw+ep PATH-TO-das)")

// LiveOptions configure live capture (OpenInterface) beyond Options.
type LiveOptions struct {
	// PollInterval is how long Next waits for packets before it returns
	// a batch, empty if nothing came (so idle watermarks advance and
	// cancellation is noticed). Default 250ms.
	PollInterval time.Duration
	// RingBytes is the size of the kernel ring buffer shared with das;
	// packets arriving while it is full are dropped by the kernel and
	// counted in Stats.KernelDrops. Default 64 MiB.
	RingBytes int
}

//go:build !linux

package pcap

import (
	"errors"
	"runtime"
)

// OpenInterface is only available on Linux (AF_PACKET); elsewhere capture
// with tcpdump and read the file.
func OpenInterface(name string, opts Options, lopts LiveOptions) (*Source, error) {
	return nil, errors.New("pcap: live capture (iface:" + name + ") is only supported on Linux, not " + runtime.GOOS + "; capture with tcpdump and use pcap:FILE")
}

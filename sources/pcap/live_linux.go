//go:build linux

package pcap

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/afpacket"
	"github.com/gopacket/gopacket/layers"
	"golang.org/x/net/bpf"
)

// OpenInterface returns an unbounded Source capturing the MySQL traffic of
// the named interface live, with an AF_PACKET memory-mapped ring (no cgo,
// no libpcap). A kernel filter passes only TCP to or from opts.Port (and,
// on a loopback interface, each packet once rather than on both its
// outgoing and incoming pass). It needs CAP_NET_RAW: without it the error
// wraps ErrPermission.
//
// Offsets count packets since Open; a live capture cannot resume from an
// offset (Open with a non-zero resume fails with ErrBadOffset).
func OpenInterface(name string, opts Options, lopts LiveOptions) (*Source, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if lopts.PollInterval == 0 {
		lopts.PollInterval = 250e6
	}
	if lopts.RingBytes == 0 {
		lopts.RingBytes = 64 << 20
	}
	if lopts.PollInterval < 1e6 || lopts.RingBytes < 1<<20 {
		return nil, fmt.Errorf("pcap: PollInterval %v (want ≥ 1ms) or RingBytes %d (want ≥ 1 MiB) out of range", lopts.PollInterval, lopts.RingBytes)
	}
	ifc, err := net.InterfaceByName(name)
	if err != nil {
		return nil, fmt.Errorf("pcap: interface %q: %w", name, err)
	}
	const frame = 1 << 16 // a whole GRO/TSO packet on loopback
	const block = frame * 8
	tp, err := afpacket.NewTPacket(
		afpacket.OptInterface(name),
		afpacket.OptFrameSize(frame),
		afpacket.OptBlockSize(block),
		afpacket.OptNumBlocks(max(lopts.RingBytes/block, 1)),
		afpacket.OptPollTimeout(lopts.PollInterval),
		afpacket.OptBlockTimeout(min(lopts.PollInterval, 64e6)),
	)
	if err != nil {
		if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
			return nil, fmt.Errorf("%w: interface %s: %v", ErrPermission, name, err)
		}
		return nil, fmt.Errorf("pcap: interface %s: %w", name, err)
	}
	prog, err := bpf.Assemble(liveFilter(uint16(opts.Port), ifc.Flags&net.FlagLoopback != 0))
	if err == nil {
		err = tp.SetBPF(prog)
	}
	if err != nil {
		tp.Close()
		return nil, fmt.Errorf("pcap: interface %s: kernel filter: %w", name, err)
	}
	s := newSource("iface:"+name, opts)
	s.live = true
	s.rd = &liveReader{tp: tp}
	s.open = func() (packetReader, error) {
		return nil, fmt.Errorf("pcap: %s: a live capture cannot be reopened", s.name)
	}
	return s, nil
}

type liveReader struct {
	tp *afpacket.TPacket
}

func (r *liveReader) read() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	data, ci, err := r.tp.ZeroCopyReadPacketData()
	if errors.Is(err, afpacket.ErrTimeout) {
		err = errTimeout
	}
	return data, ci, layers.LinkTypeEthernet, err
}

func (r *liveReader) kernelDrops() uint64 {
	_, v3, err := r.tp.SocketStats()
	if err != nil {
		return 0
	}
	return uint64(v3.Drops())
}

func (r *liveReader) close() error {
	r.tp.Close()
	return nil
}

// liveFilter is the classic BPF program of a live capture: TCP over IPv4
// or IPv6 with port as source or destination port (IPv4 fragments and
// VLAN-tagged frames pass, for user space to sort out). On loopback every
// packet is seen twice (outgoing and incoming): the outgoing copy is
// dropped, as libpcap does.
func liveFilter(port uint16, loopback bool) []bpf.Instruction {
	type ins struct {
		in     bpf.Instruction
		jt, jf string // labels of a conditional jump ("" = next)
		label  string
	}
	p := uint32(port)
	var prog []ins
	if loopback {
		prog = append(prog,
			ins{in: bpf.LoadExtension{Num: bpf.ExtType}},
			ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 4 /* PACKET_OUTGOING */}, jt: "drop"},
		)
	}
	prog = append(prog,
		ins{in: bpf.LoadAbsolute{Off: 12, Size: 2}},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x0800}, jt: "v4"},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x86dd}, jt: "v6"},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x8100}, jt: "accept"},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0x88a8}, jt: "accept", jf: "drop"},

		ins{label: "v4", in: bpf.LoadAbsolute{Off: 23, Size: 1}},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6}, jf: "drop"},
		ins{in: bpf.LoadAbsolute{Off: 20, Size: 2}},
		ins{in: bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: 0x1fff}, jt: "accept"},
		ins{in: bpf.LoadMemShift{Off: 14}},
		ins{in: bpf.LoadIndirect{Off: 14, Size: 2}},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: p}, jt: "accept"},
		ins{in: bpf.LoadIndirect{Off: 16, Size: 2}},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: p}, jt: "accept", jf: "drop"},

		ins{label: "v6", in: bpf.LoadAbsolute{Off: 20, Size: 1}},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: 6}, jf: "drop"},
		ins{in: bpf.LoadAbsolute{Off: 54, Size: 2}},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: p}, jt: "accept"},
		ins{in: bpf.LoadAbsolute{Off: 56, Size: 2}},
		ins{in: bpf.JumpIf{Cond: bpf.JumpEqual, Val: p}, jt: "accept", jf: "drop"},

		ins{label: "accept", in: bpf.RetConstant{Val: 1 << 18}},
		ins{label: "drop", in: bpf.RetConstant{Val: 0}},
	)
	at := map[string]int{}
	for i, x := range prog {
		if x.label != "" {
			at[x.label] = i
		}
	}
	out := make([]bpf.Instruction, len(prog))
	for i, x := range prog {
		if j, ok := x.in.(bpf.JumpIf); ok {
			if x.jt != "" {
				j.SkipTrue = uint8(at[x.jt] - i - 1)
			}
			if x.jf != "" {
				j.SkipFalse = uint8(at[x.jf] - i - 1)
			}
			x.in = j
		}
		out[i] = x.in
	}
	return out
}

package pcap

import (
	"net/netip"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// linkParser decodes the packets of one link type down to TCP, without
// allocating (gopacket's DecodingLayerParser over preallocated layers).
type linkParser struct {
	parsers []*gopacket.DecodingLayerParser // [0] by link type; raw IP: [0] IPv4, [1] IPv6
	raw     bool
	eth     layers.Ethernet
	dot1q   layers.Dot1Q
	sll     layers.LinuxSLL
	sll2    layers.LinuxSLL2
	loop    layers.Loopback
	ip4     layers.IPv4
	ip6     layers.IPv6
	tcp     layers.TCP
	decoded []gopacket.LayerType
}

// decodedPacket is what the source needs of an IP/TCP packet besides the
// TCP layer itself.
type decodedPacket struct {
	src, dst   netip.Addr
	payloadLen int // TCP payload length on the wire (more than captured if truncated)
	fragment   bool
}

// Link types carrying raw IP (no link header): DLT_RAW's several numbers.
const (
	linkTypeRawBSD     = 12
	linkTypeRawOpenBSD = 14
)

func newLinkParser(link layers.LinkType) *linkParser {
	p := &linkParser{}
	dl := []gopacket.DecodingLayer{&p.eth, &p.dot1q, &p.sll, &p.sll2, &p.loop, &p.ip4, &p.ip6, &p.tcp}
	mk := func(first gopacket.LayerType) *gopacket.DecodingLayerParser {
		dp := gopacket.NewDecodingLayerParser(first, dl...)
		dp.IgnoreUnsupported = true
		return dp
	}
	switch link {
	case layers.LinkTypeEthernet:
		p.parsers = []*gopacket.DecodingLayerParser{mk(layers.LayerTypeEthernet)}
	case layers.LinkTypeLinuxSLL:
		p.parsers = []*gopacket.DecodingLayerParser{mk(layers.LayerTypeLinuxSLL)}
	case layers.LinkTypeLinuxSLL2:
		p.parsers = []*gopacket.DecodingLayerParser{mk(layers.LayerTypeLinuxSLL2)}
	case layers.LinkTypeNull, layers.LinkTypeLoop:
		p.parsers = []*gopacket.DecodingLayerParser{mk(layers.LayerTypeLoopback)}
	case layers.LinkTypeRaw, layers.LinkTypeIPv4, layers.LinkTypeIPv6, linkTypeRawBSD, linkTypeRawOpenBSD:
		p.raw = true
		p.parsers = []*gopacket.DecodingLayerParser{mk(layers.LayerTypeIPv4), mk(layers.LayerTypeIPv6)}
	}
	return p
}

// decode decodes data; ok is false for anything but TCP over IPv4/IPv6 (or
// an unsupported link type). The TCP layer is left in p.tcp, its payload
// pointing into data.
func (p *linkParser) decode(data []byte) (pk decodedPacket, ok bool) {
	if len(p.parsers) == 0 {
		return pk, false
	}
	dp := p.parsers[0]
	if p.raw {
		if len(data) == 0 {
			return pk, false
		}
		if data[0]>>4 == 6 {
			dp = p.parsers[1]
		}
	}
	p.decoded = p.decoded[:0]
	if err := dp.DecodeLayers(data, &p.decoded); err != nil {
		return pk, false
	}
	n := len(p.decoded)
	if n < 2 || p.decoded[n-1] != layers.LayerTypeTCP {
		if n > 0 && p.decoded[n-1] == layers.LayerTypeIPv4 && (p.ip4.Flags&layers.IPv4MoreFragments != 0 || p.ip4.FragOffset != 0) && p.ip4.Protocol == layers.IPProtocolTCP {
			pk.fragment = true
			return pk, true
		}
		return pk, false
	}
	pk.payloadLen = len(p.tcp.Payload)
	switch p.decoded[n-2] {
	case layers.LayerTypeIPv4:
		if p.ip4.Flags&layers.IPv4MoreFragments != 0 || p.ip4.FragOffset != 0 {
			pk.fragment = true
			return pk, true
		}
		pk.src, _ = netip.AddrFromSlice(p.ip4.SrcIP)
		pk.dst, _ = netip.AddrFromSlice(p.ip4.DstIP)
		if want := int(p.ip4.Length) - int(p.ip4.IHL)*4 - int(p.tcp.DataOffset)*4; want > pk.payloadLen {
			pk.payloadLen = want
		}
	case layers.LayerTypeIPv6:
		pk.src, _ = netip.AddrFromSlice(p.ip6.SrcIP)
		pk.dst, _ = netip.AddrFromSlice(p.ip6.DstIP)
		pk.src, pk.dst = pk.src.Unmap(), pk.dst.Unmap()
		if p.ip6.Length != 0 {
			want := int(p.ip6.Length) - int(p.tcp.DataOffset)*4
			if p.ip6.HopByHop != nil {
				want -= p.ip6.HopByHop.ActualLength
			}
			if want > pk.payloadLen {
				pk.payloadLen = want
			}
		}
	default:
		return pk, false
	}
	return pk, true
}

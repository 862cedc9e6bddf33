package sqlagg

import (
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/pcap"
	"github.com/das-project/das/stream"
)

// openPcap opens a pcap/pcapng capture of MySQL traffic as a bounded
// input: cfg.MySQLPort is the server port (default 3306), cfg.Instance, if
// set, names the instance of every statement (default: each connection's
// server ip:port). Offsets are packet indices; resuming re-reads the
// capture from its start and emits only what follows the offset (see
// package pcap).
func openPcap(path string, cfg Config) (stream.Source[sources.Event], bool, error) {
	s, err := pcap.Open(path, pcap.Options{Port: cfg.MySQLPort, Instance: cfg.Instance, BatchSize: cfg.BatchSize})
	if err != nil {
		return nil, false, err
	}
	return s, false, nil
}

package sqlagg

import (
	"fmt"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// openPcap opens a pcap/pcapng capture of MySQL traffic as a bounded input.
func openPcap(path string, cfg Config) (stream.Source[sources.Event], bool, error) {
	return nil, false, fmt.Errorf("sqlagg: input pcap:%s: the capture source is not built yet", path)
}

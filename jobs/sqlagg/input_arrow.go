package sqlagg

import (
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/arrowipc"
	"github.com/das-project/das/stream"
)

func openArrow(path string, cfg Config) (stream.Source[sources.Event], bool, error) {
	s, err := arrowipc.Open(path, arrowipc.Options{BatchSize: cfg.BatchSize})
	return s, false, err
}

package sqlagg

import (
	"fmt"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/slowlog"
	"github.com/das-project/das/stream"
)

// openSlowlog opens a MySQL/MariaDB slow log as a bounded input: every
// entry becomes one event (or one dead-letter line when it is malformed).
// cfg.Instance names the instance; without it the log's host name does
// (slowlog.DefaultInstance).
func openSlowlog(path string, cfg Config) (stream.Source[sources.Event], bool, error) {
	s, err := slowlog.Open(path, slowlog.Options{Instance: cfg.Instance, BatchSize: cfg.BatchSize})
	if err != nil {
		return nil, false, fmt.Errorf("sqlagg: input slowlog:%s: %w", path, err)
	}
	return s, false, nil
}

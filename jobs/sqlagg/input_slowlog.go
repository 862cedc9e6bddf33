package sqlagg

import (
	"fmt"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// openSlowlog opens a MySQL/MariaDB slow log as a bounded input.
func openSlowlog(path string, cfg Config) (stream.Source[sources.Event], bool, error) {
	return nil, false, fmt.Errorf("sqlagg: input slowlog:%s: the slow log source is not built yet", path)
}

package sqlagg

import (
	"errors"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

func openArrow(path string, cfg Config) (stream.Source[sources.Event], bool, error) {
	return nil, false, errors.New("sqlagg: arrow input not wired yet")
}

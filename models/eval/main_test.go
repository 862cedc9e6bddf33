package eval

import (
	"testing"

	"go.uber.org/goleak"
)

// RunAll starts workers; every test must leave none behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

//go:build !unix

package agent

// lockState is a no-op where flock is not available: run one agent per
// state directory.
func lockState(string) (func(), error) { return func() {}, nil }

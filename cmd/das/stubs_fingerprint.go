package main

import (
	"context"
	"errors"
)

// errUsage is returned by a command whose flags did not parse; the flag
// package has already printed the message.
var errUsage = errors.New("usage")

// cmdFingerprint is replaced by the fingerprint implementation.
func cmdFingerprint(ctx context.Context, args []string, s stdio) error {
	return errors.New("not implemented yet")
}

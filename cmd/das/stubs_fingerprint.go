package main

import (
	"context"
	"errors"
)

// cmdFingerprint is replaced by the fingerprint implementation.
func cmdFingerprint(ctx context.Context, args []string, s stdio) error {
	return errors.New("not implemented yet")
}

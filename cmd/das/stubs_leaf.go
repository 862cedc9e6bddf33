package main

import (
	"context"
	"errors"
)

// cmdLeaf is replaced by the leaf implementation.
func cmdLeaf(ctx context.Context, args []string, s stdio) error {
	return errors.New("not implemented yet")
}

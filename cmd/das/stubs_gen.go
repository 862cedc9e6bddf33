package main

import (
	"context"
	"errors"
)

// cmdGen is replaced by the generator implementation.
func cmdGen(ctx context.Context, args []string, s stdio) error {
	return errors.New("not implemented yet")
}

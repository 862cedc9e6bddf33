package main

import (
	"context"
	"errors"
)

func cmdAgent(ctx context.Context, args []string, s stdio) error {
	return errors.New("das agent: not built yet")
}

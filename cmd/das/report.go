package main

import (
	"context"
	"errors"
)

func cmdReport(ctx context.Context, args []string, s stdio) error {
	return errors.New("das report: not built yet")
}

package main

import (
	"context"
	"errors"
)

func cmdDetect(ctx context.Context, args []string, s stdio) error {
	return errors.New("das detect: not built yet")
}

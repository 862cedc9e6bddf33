package leaf

import "errors"

func childSnowflakeStream() error { return errors.New("todo") }

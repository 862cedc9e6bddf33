package kafka

import (
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SASL returns the SASL mechanism named by mechanism — PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512, case-insensitive — authenticating as
// user with pass. Use it with TLS: PLAIN sends the password as is.
// The result also suits the Kafka sink's options.
func SASL(mechanism, user, pass string) (sasl.Mechanism, error) {
	if user == "" {
		return nil, fmt.Errorf("%w: SASL user is empty", ErrBadOptions)
	}
	switch strings.ToUpper(mechanism) {
	case "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("%w: SASL mechanism %q, want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", ErrBadOptions, mechanism)
}

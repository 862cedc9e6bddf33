package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
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

// TLSFiles builds a client TLS configuration from PEM files: caFile (the
// CAs to trust; "" = the system pool) and, for mutual TLS, certFile and
// keyFile (both or neither). serverName overrides the name checked in the
// broker certificates ("" = the host of each broker address).
func TLSFiles(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: TLS CA file %s holds no PEM certificate", ErrBadOptions, caFile)
		}
		cfg.RootCAs = pool
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("%w: TLS client certificate and key go together", ErrBadOptions)
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

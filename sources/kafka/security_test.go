package kafka_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources/kafka"
)

// selfSigned returns a server config for 127.0.0.1 and a client config
// that trusts it. The certificate is good for client authentication too.
func selfSigned(t *testing.T) (server, client *tls.Config) {
	server, client, _, _ = selfSignedPEM(t)
	return server, client
}

// selfSignedPEM is selfSigned that also returns the certificate and key as
// PEM.
func selfSignedPEM(t *testing.T) (server, client *tls.Config, certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "kfake"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	server = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}, MinVersion: tls.VersionTLS12}
	client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	return server, client, certPEM, keyPEM
}

// TestMutualTLSFiles: TLSFiles loads the CA and a client certificate, and
// a broker that requires client certificates accepts it.
func TestMutualTLSFiles(t *testing.T) {
	srv, _, certPEM, keyPEM := selfSignedPEM(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	srv.ClientCAs, srv.ClientAuth = pool, tls.RequireAndVerifyClientCert
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1, Kfake: []kfake.Opt{kfake.TLS(srv)}})
	c.CreateTopic(topic, 1, nil)
	dir := t.TempDir()
	ca, cert, key, junk := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "junk")
	for name, b := range map[string][]byte{ca: certPEM, cert: certPEM, key: keyPEM, junk: []byte("not pem")} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	mtls, err := kafka.TLSFiles(ca, cert, key, "")
	if err != nil {
		t.Fatal(err)
	}
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, TLS: mtls, StopAtEnd: true})
	open(t, src, nil)
	if _, err := src.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Next on an empty topic over mutual TLS: %v", err)
	}

	caOnly, err := kafka.TLSFiles(ca, "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	src = newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, TLS: caOnly})
	octx, ocancel := context.WithTimeout(ctx, time.Second)
	defer ocancel()
	if err := src.Open(octx, nil); err == nil {
		t.Fatal("Open without a client certificate succeeded")
	}

	for _, bad := range [][3]string{
		{filepath.Join(dir, "missing"), "", ""},
		{junk, "", ""},
		{ca, cert, ""},
		{ca, "", key},
		{ca, junk, key},
	} {
		if _, err := kafka.TLSFiles(bad[0], bad[1], bad[2], ""); err == nil {
			t.Errorf("TLSFiles(%q) succeeded", bad)
		}
	}
}

func TestTLSAndSASL(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "scram-sha-512"} {
		t.Run(mech, func(t *testing.T) {
			c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1, Kfake: []kfake.Opt{
				kfake.TLS(srvTLS), kfake.EnableSASL(), kfake.Superuser(strings.ToUpper(mech), "das", "s3cret"),
			}})
			c.CreateTopic(topic, 1, nil)
			good, err := kafka.SASL(mech, "das", "s3cret")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			prod := kafkatest.Client(t, c.Addrs(), kgo.DialTLSConfig(cliTLS), kgo.SASL(good))
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: appendJSON(event(0, 0))}).FirstErr(); err != nil {
				t.Fatal(err)
			}

			src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, StopAtEnd: true, TLS: cliTLS, SASL: good})
			open(t, src, nil)
			b, err := src.Next(ctx)
			if err != nil || len(b.Items) != 1 {
				t.Fatalf("Next = %+v, %v; want one event", b, err)
			}
			if _, err := src.Next(ctx); !errors.Is(err, io.EOF) {
				t.Fatalf("second Next: %v", err)
			}

			bad, err := kafka.SASL(mech, "das", "wrong")
			if err != nil {
				t.Fatal(err)
			}
			for name, o := range map[string]kafka.Options{
				"wrong password": {Brokers: c.Addrs(), Topic: topic, TLS: cliTLS, SASL: bad},
				"no TLS":         {Brokers: c.Addrs(), Topic: topic, SASL: good},
				"no SASL":        {Brokers: c.Addrs(), Topic: topic, TLS: cliTLS},
			} {
				src := newSource(t, o)
				octx, ocancel := context.WithTimeout(ctx, time.Second)
				if err := src.Open(octx, nil); err == nil {
					t.Errorf("%s: Open succeeded", name)
				}
				ocancel()
			}
		})
	}
}

func TestSASLMechanism(t *testing.T) {
	for _, tc := range []struct {
		mech, user string
		ok         bool
	}{
		{"PLAIN", "u", true}, {"plain", "u", true}, {"SCRAM-SHA-256", "u", true}, {"SCRAM-SHA-512", "u", true},
		{"GSSAPI", "u", false}, {"", "u", false}, {"PLAIN", "", false},
	} {
		m, err := kafka.SASL(tc.mech, tc.user, "p")
		if tc.ok != (err == nil) || tc.ok != (m != nil) {
			t.Errorf("SASL(%q, %q) = %v, %v", tc.mech, tc.user, m, err)
		}
		if err != nil && !errors.Is(err, kafka.ErrBadOptions) {
			t.Errorf("SASL(%q, %q): %v is not ErrBadOptions", tc.mech, tc.user, err)
		}
	}
}

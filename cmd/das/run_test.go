package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// TestRunKafkaSASL: the Kafka security flags reach the client — a broker
// that requires SASL is read with the right password and refused with a
// wrong one, with a clear error.
func TestRunKafkaSASL(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1, Kfake: []kfake.Opt{
		kfake.EnableSASL(), kfake.Superuser("PLAIN", "das", "s3cret"),
	}})
	const topic = "das.sql-events"
	c.CreateTopic(topic, 1, nil)
	prod := kafkatest.Client(t, c.Addrs(), kgo.SASL(plain.Auth{User: "das", Pass: "s3cret"}.AsMechanism()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ev := sources.Event{TsMs: time.Now().Add(-time.Hour).UnixMilli(), Instance: "10.0.0.1:3306", SQL: []byte("SELECT 1")}
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: sources.AppendJSON(nil, &ev)}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, pass := range []string{"s3cret", "wrong"} {
		pf := filepath.Join(dir, "pass-"+pass)
		if err := os.WriteFile(pf, []byte(pass+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		rctx, rcancel := context.WithTimeout(ctx, 15*time.Second)
		err := cmdRun(rctx, []string{"sqlagg", "--input", c.URI(topic), "--kafka-stop-at-end", "--open-timeout", "2s",
			"--state", filepath.Join(dir, "st-"+pass), "--parquet", filepath.Join(dir, "pq-"+pass),
			"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "das", "--kafka-sasl-password-file", pf}, stdio{out: &out, err: &errb})
		rcancel()
		if pass == "s3cret" {
			if err != nil || !strings.Contains(out.String(), "records read      1 ") {
				t.Fatalf("right password: %v\n%s%s", err, out.String(), errb.String())
			}
		} else if err == nil || !strings.Contains(err.Error(), "not ready within 2s (check its address, TLS and credentials)") {
			t.Fatalf("wrong password: want a clear error, got %v\n%s", err, out.String())
		}
	}
	if err := cmdRun(ctx, []string{"sqlagg", "--input", c.URI(topic), "--state", dir, "--parquet", dir,
		"--kafka-sasl-mechanism", "PLAIN"}, stdio{out: &bytes.Buffer{}, err: &bytes.Buffer{}}); err == nil || !strings.Contains(err.Error(), "password-file") {
		t.Fatalf("mechanism without a password file: %v", err)
	}
}

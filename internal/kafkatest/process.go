package kafkatest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BrokerConfig describes a kfake cluster served by ServeBroker, usually in a
// process of its own.
type BrokerConfig struct {
	// Ports are the loopback ports to listen on, one per broker. Required:
	// fixed ports are what let a restarted broker come back at the address
	// its clients know.
	Ports []int
	// DataDir persists the log, groups and offsets so that they survive a
	// restart, SIGKILL included. Empty keeps everything in memory.
	DataDir string
	// Topics are created at start (name → partitions) unless they exist.
	Topics map[string]int32
}

// readyPrefix starts the line ServeBroker writes once it listens.
const readyPrefix = "kfake-broker ready "

// brokerEnv carries a JSON BrokerConfig to a child test binary.
const brokerEnv = "DAS_KAFKATEST_BROKER"

// ServeBroker runs a kfake cluster for cfg until ctx is done, then closes it
// (saving its state when DataDir is set). Once the brokers listen it writes
// one line "kfake-broker ready HOST:PORT[,HOST:PORT]" to ready.
func ServeBroker(ctx context.Context, cfg BrokerConfig, ready io.Writer) error {
	if len(cfg.Ports) == 0 {
		return errors.New("kafkatest: BrokerConfig.Ports is required")
	}
	opts := []kfake.Opt{kfake.Ports(cfg.Ports...)}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return fmt.Errorf("kafkatest: start broker: %w", err)
	}
	defer c.Close()
	names := make([]string, 0, len(cfg.Topics))
	for t := range cfg.Topics {
		names = append(names, t)
	}
	slices.Sort(names)
	for _, t := range names {
		if err := c.CreateTopic(t, cfg.Topics[t], nil); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("kafkatest: create topic %s: %w", t, err)
		}
	}
	if _, err := fmt.Fprintf(ready, "%s%s\n", readyPrefix, strings.Join(c.ListenAddrs(), ",")); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// ServeBrokerIfChild must be called first in the TestMain of a package that
// uses StartBrokerProcess. In a child started by StartBrokerProcess it serves
// the broker until its parent closes stdin (or dies), then exits the process;
// in any other process it returns at once.
func ServeBrokerIfChild() {
	raw, ok := os.LookupEnv(brokerEnv)
	if !ok {
		return
	}
	var cfg BrokerConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "kafkatest: bad %s: %v\n", brokerEnv, err)
		os.Exit(2)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		// The parent holds our stdin: EOF means stop (or the parent is gone).
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	if err := ServeBroker(ctx, cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// BrokerProcess is a kfake cluster in a child process: the current test
// binary re-executed, which must call ServeBrokerIfChild in its TestMain.
// Kill and Start let a test crash and restart the broker while the process
// under test keeps running. The child is killed when the test ends.
type BrokerProcess struct {
	tb    testing.TB
	cfg   BrokerConfig
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error // Wait's result, buffered
	addrs []string
}

// StartBrokerProcess starts a broker process. Ports default to fresh free
// ports (one broker); DataDir defaults to a t.TempDir(), so the log survives
// Kill.
func StartBrokerProcess(tb testing.TB, cfg BrokerConfig) *BrokerProcess {
	tb.Helper()
	if len(cfg.Ports) == 0 {
		cfg.Ports = FreePorts(tb, 1)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = tb.TempDir()
	}
	p := &BrokerProcess{tb: tb, cfg: cfg}
	tb.Cleanup(p.Kill)
	p.Start()
	return p
}

// Addrs returns the broker addresses (stable across restarts).
func (p *BrokerProcess) Addrs() []string { return slices.Clone(p.addrs) }

// URI returns kafka://ADDRS/topic.
func (p *BrokerProcess) URI(topic string) string { return URI(p.addrs, topic) }

// Start starts the process if it is not running and waits until it listens.
func (p *BrokerProcess) Start() {
	p.tb.Helper()
	if p.cmd != nil {
		return
	}
	raw, err := json.Marshal(p.cfg)
	if err != nil {
		p.tb.Fatalf("kafkatest: %v", err)
	}
	var lastErr error
	// A port released by a killed broker can take a moment to be bindable.
	for range 20 {
		if lastErr = p.start(raw); lastErr == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.tb.Fatalf("kafkatest: start broker process: %v", lastErr)
}

func (p *BrokerProcess) start(cfg []byte) error {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), brokerEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), readyPrefix) {
				line <- strings.TrimPrefix(sc.Text(), readyPrefix)
				break
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		done <- cmd.Wait()
	}()
	select {
	case l := <-line:
		p.cmd, p.stdin, p.done, p.addrs = cmd, stdin, done, strings.Split(l, ",")
		return nil
	case err := <-done:
		return fmt.Errorf("broker exited before ready: %v", err)
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		return errors.New("broker not ready after 30s")
	}
}

// Kill sends SIGKILL and waits for the process to exit: no state is saved
// beyond what kfake already wrote to DataDir.
func (p *BrokerProcess) Kill() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
	p.stdin.Close()
	p.cmd = nil
}

// Stop shuts the broker down cleanly (it saves its state) and waits.
func (p *BrokerProcess) Stop() {
	p.tb.Helper()
	if p.cmd == nil {
		return
	}
	p.stdin.Close()
	select {
	case err := <-p.done:
		if err != nil {
			p.tb.Errorf("kafkatest: broker process exit: %v", err)
		}
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
		p.tb.Errorf("kafkatest: broker process did not stop in 30s; killed")
	}
	p.cmd = nil
}

// CreateTopic creates topic on any cluster through the CreateTopics request,
// failing the test on error (an existing topic is not an error).
func CreateTopic(tb testing.TB, addrs []string, topic string, partitions int32, configs map[string]string) {
	tb.Helper()
	cl := Client(tb, addrs)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic = topic
	rt.NumPartitions = partitions
	rt.ReplicationFactor = -1
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		tb.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
	for _, t := range resp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			tb.Fatalf("kafkatest: create topic %s: %v", topic, err)
		}
	}
}

package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/das-project/das/internal/fsutil"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/pcap"
	"github.com/das-project/das/sources/perfschema"
	"github.com/das-project/das/sources/slowlog"
)

// Stopper is implemented by inputs that hold data they have not handed out
// yet (performance_schema's last poll). On shutdown the agent calls Stop
// and keeps calling Next, for up to Options.ShutdownTimeout, until io.EOF.
type Stopper interface {
	Stop()
}

// InputOptions configure OpenInput.
type InputOptions struct {
	// Port is the MySQL server port of pcap: and iface: inputs. Default
	// 3306.
	Port int
	// Instance names the instance of the statements: required for
	// perfschema:, optional for slowlog: (default: the slow log's
	// DefaultInstance, from its file name or this host's name) and
	// captures (default: the server address seen).
	Instance string
	// Follow makes a file: or slowlog: input follow the file as it grows
	// and rotates.
	Follow bool
	// FollowPoll is how often a followed file is checked for growth and
	// rotation. Default 250ms (slowlog:) or 200ms (file:).
	FollowPoll time.Duration
	// StateDir is the agent's state directory (Options.StateDir): a
	// followed slow log keeps its position there. Required with Follow for
	// slowlog:.
	StateDir string
	// PerfschemaInterval is the performance_schema poll interval. Default
	// 1 minute.
	PerfschemaInterval time.Duration
	// OnError receives errors an input works around (a failed poll).
	OnError func(error)
}

// Kinds of input OpenInput accepts (the scheme of --input).
var inputKinds = []string{"file", "slowlog", "pcap", "iface", "perfschema"}

// OpenInput opens the input named by spec, the agent's --input:
// file:PATH (JSON lines), slowlog:PATH, pcap:FILE, iface:NAME or
// perfschema:DSN.
func OpenInput(ctx context.Context, spec string, o InputOptions) (Input, error) {
	kind, arg, ok := strings.Cut(spec, ":")
	if !ok || arg == "" {
		return nil, fmt.Errorf("%w: input %q: want KIND:ARG with KIND one of %s", ErrBadOptions, spec, strings.Join(inputKinds, ", "))
	}
	if o.Port == 0 {
		o.Port = 3306
	}
	switch kind {
	case "file":
		return NewFileInput(arg, FileOptions{Follow: o.Follow, Poll: o.FollowPoll})
	case "pcap":
		src, err := pcap.Open(arg, pcap.Options{Port: o.Port, Instance: o.Instance})
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(arg)
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("agent: %w", err)
		}
		// Item offsets are packet indices and a reopened capture emits only
		// the events of packets from the resume index on: replayable.
		return &SourceInput{InputKind: "pcap", Stream: fileIdentity(fi), Source: src, Replay: true, Resume: true}, nil
	case "iface":
		src, err := pcap.OpenInterface(arg, pcap.Options{Port: o.Port, Instance: o.Instance}, pcap.LiveOptions{})
		if err != nil {
			return nil, err
		}
		return &SourceInput{InputKind: "iface", Stream: arg, Source: src}, nil
	case "perfschema":
		if o.Instance == "" {
			return nil, fmt.Errorf("%w: perfschema input needs an instance", ErrBadOptions)
		}
		p, err := perfschema.Open(ctx, arg, perfschema.Options{Interval: o.PerfschemaInterval, OnError: o.OnError})
		if err != nil {
			return nil, err
		}
		return NewPerfschemaInputWith(p, o.Instance, PerfschemaOptions{StateDir: o.StateDir, OnError: o.OnError}), nil
	case "slowlog":
		if o.Follow {
			return NewSlowlogFollowInput(arg, o.StateDir, slowlog.FollowOptions{Options: slowlog.Options{Instance: o.Instance}, PollInterval: o.FollowPoll})
		}
		src, err := slowlog.Open(arg, slowlog.Options{Instance: o.Instance})
		if err != nil {
			return nil, err
		}
		fi, err := os.Stat(arg)
		if err != nil {
			src.Close()
			return nil, fmt.Errorf("agent: %w", err)
		}
		// Offsets are entry byte offsets, every item carries its own, and
		// the source resumes at any of them: replayable.
		return &SourceInput{InputKind: "slowlog", Stream: fileIdentity(fi), Source: src, Replay: true, Resume: true}, nil
	}
	return nil, fmt.Errorf("%w: input %q: unknown kind %q, want one of %s", ErrBadOptions, spec, kind, strings.Join(inputKinds, ", "))
}

// PerfschemaInput turns performance_schema digest deltas into edge partial
// aggregates (one per delta: Count statements of one schema and template
// in one minute, no latency sketch). It cannot be re-read: the agent
// spools each cut before producing it. Stop makes the poller take a last
// poll, which Next hands out before io.EOF.
type PerfschemaInput struct {
	p        *perfschema.Poller
	instance string
	opts     PerfschemaOptions

	ch     chan perfschemaPoll
	errc   chan error
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	n      int64
	batch  Batch

	bases   []polledBase // baselines of polls not yet checkpointed, in order
	written int64        // the last poll whose baseline file was written
}

// PerfschemaOptions configure NewPerfschemaInputWith.
type PerfschemaOptions struct {
	// StateDir, if set, keeps the poller's baseline across restarts: each
	// cut's checkpoint is the baseline after its last poll
	// (STATE/perfschema/base-N until the cut is settled, then
	// STATE/perfschema.baseline), and Open restores it, so the first poll
	// after a restart is a delta over the time the agent was away.
	StateDir string
	// OnError receives a saved baseline that cannot be used (another
	// server, damaged): the poller then starts with a new baseline.
	OnError func(error)
}

type perfschemaPoll struct {
	ds   []perfschema.MinuteDelta
	base []byte // the poller's baseline after this poll
}

type polledBase struct {
	n    int64
	data []byte
}

var (
	_ Input     = (*PerfschemaInput)(nil)
	_ Committer = (*PerfschemaInput)(nil)
)

// NewPerfschemaInput returns an input polling p, without a saved baseline;
// it owns p.
func NewPerfschemaInput(p *perfschema.Poller, instance string) *PerfschemaInput {
	return NewPerfschemaInputWith(p, instance, PerfschemaOptions{})
}

// NewPerfschemaInputWith returns an input polling p; it owns p.
func NewPerfschemaInputWith(p *perfschema.Poller, instance string, opts PerfschemaOptions) *PerfschemaInput {
	return &PerfschemaInput{p: p, instance: instance, opts: opts}
}

const perfschemaBaseline = "perfschema.baseline"

func (in *PerfschemaInput) baseFile(n int64) string {
	return filepath.Join(in.opts.StateDir, "perfschema", "base-"+strconv.FormatInt(n, 10))
}

// Checkpoint implements Committer: the baseline after the last poll at or
// before p (p.Offset counts polls), written to its own file; the
// checkpoint names the poll. Nil without a StateDir or before a baseline.
func (in *PerfschemaInput) Checkpoint(p Position) ([]byte, error) {
	if in.opts.StateDir == "" {
		return nil, nil
	}
	i := len(in.bases) - 1
	for i >= 0 && in.bases[i].n > p.Offset {
		i--
	}
	if i < 0 {
		if in.written == 0 {
			return nil, nil
		}
		return []byte(strconv.FormatInt(in.written, 10)), nil
	}
	b := in.bases[i]
	if err := os.MkdirAll(filepath.Dir(in.baseFile(b.n)), 0o755); err != nil {
		return nil, fmt.Errorf("agent: perfschema baseline: %w", err)
	}
	if err := writeFileSync(in.baseFile(b.n), b.data, false); err != nil {
		return nil, fmt.Errorf("agent: perfschema baseline: %w", err)
	}
	in.written = b.n
	in.bases = append(in.bases[:0], in.bases[i+1:]...)
	return []byte(strconv.FormatInt(b.n, 10)), nil
}

// Commit implements Committer: the baseline of ckpt's poll becomes the one
// the next start restores. Committing an older or already committed
// checkpoint again changes nothing.
func (in *PerfschemaInput) Commit(ckpt []byte) error {
	if len(ckpt) == 0 || in.opts.StateDir == "" {
		return nil
	}
	n, err := strconv.ParseInt(string(ckpt), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: perfschema checkpoint %q", ErrCorruptState, ckpt)
	}
	src := in.baseFile(n)
	if err := os.Rename(src, filepath.Join(in.opts.StateDir, perfschemaBaseline)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil // committed before (or superseded by a later one)
		}
		return fmt.Errorf("agent: perfschema baseline: %w", err)
	}
	if err := fsutil.SyncDir(in.opts.StateDir); err != nil {
		return fmt.Errorf("agent: perfschema baseline: %w", err)
	}
	// Baselines of earlier polls are superseded.
	dir := filepath.Dir(src)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if m, err := strconv.ParseInt(strings.TrimPrefix(e.Name(), "base-"), 10, 64); err == nil && m < n {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
	return nil
}

// Kind implements Input: "perfschema".
func (in *PerfschemaInput) Kind() string { return "perfschema" }

// Replayable implements Input: false.
func (in *PerfschemaInput) Replayable() bool { return false }

// Open starts polling; pos is ignored (the first poll takes a baseline).
func (in *PerfschemaInput) Open(ctx context.Context, _ Position) error {
	if in.ch != nil {
		return errors.New("agent: perfschema input already open")
	}
	if in.opts.StateDir != "" {
		data, err := os.ReadFile(filepath.Join(in.opts.StateDir, perfschemaBaseline))
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return fmt.Errorf("agent: perfschema baseline: %w", err)
		default:
			if err := in.p.Restore(data); err != nil {
				if !errors.Is(err, perfschema.ErrBaseline) {
					return err
				}
				if in.opts.OnError != nil {
					in.opts.OnError(fmt.Errorf("agent: saved perfschema baseline not used, starting a new one (the statements since the last poll before the restart are not counted): %w", err))
				}
			}
		}
	}
	if in.opts.StateDir != "" {
		// Baselines written but not committed before a restart belong to
		// cuts that were not settled: the restored baseline predates them,
		// so the first poll counts their statements again, once.
		if err := os.RemoveAll(filepath.Join(in.opts.StateDir, "perfschema")); err != nil {
			return fmt.Errorf("agent: perfschema baseline: %w", err)
		}
	}
	// The baseline is encoded with each poll only when it is kept.
	baseline := func() []byte { return nil }
	if in.opts.StateDir != "" {
		baseline = in.p.Baseline
	}
	in.ch = make(chan perfschemaPoll)
	in.errc = make(chan error, 1)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel = cancel
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		defer close(in.ch)
		err := in.p.Run(rctx, func(ectx context.Context, ds []perfschema.MinuteDelta) error {
			select {
			case in.ch <- perfschemaPoll{ds: ds, base: baseline()}:
				return nil
			case <-ectx.Done():
				return ectx.Err()
			}
		})
		if err != nil {
			in.errc <- err
		}
	}()
	return nil
}

// Next implements Input: the deltas of one poll, or an empty batch after
// 250ms without one.
func (in *PerfschemaInput) Next(ctx context.Context) (*Batch, error) {
	if in.ch == nil {
		return nil, errors.New("agent: perfschema input not open")
	}
	b := &in.batch
	b.Stream, b.Events, b.Offsets, b.Rejects = "digests", b.Events[:0], nil, nil
	t := time.NewTimer(250 * time.Millisecond)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	case poll, ok := <-in.ch:
		if !ok {
			select {
			case err := <-in.errc:
				return nil, err
			default:
				return nil, io.EOF
			}
		}
		for i := range poll.ds {
			if ev, ok := in.event(&poll.ds[i]); ok {
				b.Events = append(b.Events, ev)
			}
		}
		in.n++
		if poll.base != nil {
			in.bases = append(in.bases, polledBase{n: in.n, data: poll.base})
		}
	}
	b.End = in.n
	return b, nil
}

// event converts one delta; deltas without statements carry nothing.
func (in *PerfschemaInput) event(d *perfschema.MinuteDelta) (sources.Event, bool) {
	if d.Count <= 0 {
		return sources.Event{}, false
	}
	ev := sources.Event{
		TsMs:         d.Minute,
		Instance:     in.instance,
		DB:           d.Schema,
		SQL:          []byte(d.SampleSQL),
		LatencyUs:    max(d.LatencySumUs, 0),
		LockUs:       max(d.LockSumUs, 0),
		RowsSent:     max(d.RowsSentSum, 0),
		RowsExamined: max(d.RowsExaminedSum, 0),
		RowsAffected: max(d.RowsAffectedSum, 0),
		TemplateID:   uint64(d.TemplateID),
		Count:        d.Count,
		Errors:       min(max(d.Errors, 0), d.Count),
	}
	ev.LatencyMaxUs = min(max(d.LatencyMaxUs, 0), ev.LatencyUs)
	return ev, true
}

// Stop implements Stopper: the poller takes its last poll and Next ends
// with io.EOF after handing it out.
func (in *PerfschemaInput) Stop() {
	if in.cancel != nil {
		in.cancel()
	}
}

// Close stops polling and closes the poller.
func (in *PerfschemaInput) Close() error {
	var err error
	in.once.Do(func() {
		if in.cancel != nil {
			in.cancel()
			// Unblock a pending emit: nobody reads any more.
			go func() {
				for range in.ch {
				}
			}()
			in.wg.Wait()
		}
		err = in.p.Close()
	})
	return err
}

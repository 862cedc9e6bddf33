package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

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
		return NewPerfschemaInput(p, o.Instance), nil
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

	ch     chan []perfschema.MinuteDelta
	errc   chan error
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	n      int64
	batch  Batch
}

var _ Input = (*PerfschemaInput)(nil)

// NewPerfschemaInput returns an input polling p; it owns p.
func NewPerfschemaInput(p *perfschema.Poller, instance string) *PerfschemaInput {
	return &PerfschemaInput{p: p, instance: instance}
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
	in.ch = make(chan []perfschema.MinuteDelta)
	in.errc = make(chan error, 1)
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	in.cancel = cancel
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		defer close(in.ch)
		err := in.p.Run(rctx, func(ectx context.Context, ds []perfschema.MinuteDelta) error {
			select {
			case in.ch <- ds:
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
	case ds, ok := <-in.ch:
		if !ok {
			select {
			case err := <-in.errc:
				return nil, err
			default:
				return nil, io.EOF
			}
		}
		for i := range ds {
			if ev, ok := in.event(&ds[i]); ok {
				b.Events = append(b.Events, ev)
			}
		}
		in.n++
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

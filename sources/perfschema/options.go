package perfschema

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by the performance_schema source. Test with errors.Is.
var (
	// ErrBadOptions: Options that Open or New cannot accept.
	ErrBadOptions = errors.New("perfschema: bad options")
	// ErrDisabled: the server runs with performance_schema=OFF (MariaDB's
	// default). It can only be turned on in the server's configuration
	// (performance_schema=ON under [mysqld]) followed by a restart.
	ErrDisabled = errors.New("perfschema: performance_schema is OFF on the server")
	// ErrNoDigests: performance_schema is on but statement digests are not
	// collected (a consumer or every statement instrument is disabled).
	ErrNoDigests = errors.New("perfschema: statement digests are not collected")
	// ErrUnsupported: the server's events_statements_summary_by_digest lacks
	// a column the source needs.
	ErrUnsupported = errors.New("perfschema: unsupported digest table")
	// ErrClosed: Poll or Run after Close.
	ErrClosed = errors.New("perfschema: poller closed")
)

// Defaults of Options.
const (
	DefaultInterval       = time.Minute
	DefaultTimeout        = 20 * time.Second
	DefaultStopTimeout    = 5 * time.Second
	DefaultSampleMaxBytes = 1024
	DefaultTemplateCache  = 50000
)

// Options configures a Poller. Zero values mean the stated defaults.
type Options struct {
	// Interval between polls. Run polls when the clock crosses a multiple of
	// Interval (on the minute for the default), so consecutive polls of
	// several agents line up. Default 1 minute; at least 1 second, since
	// FIRST_SEEN has a resolution of one second on MariaDB and MySQL 5.7.
	Interval time.Duration
	// Timeout bounds one poll (all its queries). Default 20 s; at most
	// Interval.
	Timeout time.Duration
	// StopTimeout bounds the last poll Run makes when its context is
	// cancelled, so that the statements since the last tick are not lost.
	// Default 5 s; negative: no final poll.
	StopTimeout time.Duration
	// SampleMaxBytes bounds MinuteDelta.SampleSQL (cut with the fingerprint
	// package's TruncMark). Default 1024, the sample_sql bound of sqlagg.
	SampleMaxBytes int
	// TemplateCache bounds how many digests' templates are kept between
	// polls (a digest's text is read from the server once, when it first
	// has a delta). Default 50 000; the digest table holds at most
	// performance_schema_digests_size rows (10 000 by default on 8.0).
	TemplateCache int
	// Now is the clock Run aligns its polls on. Default time.Now. The
	// intervals of MinuteDelta come from the server's clock, never this one.
	Now func() time.Time
	// After returns a channel that receives after d, as time.After (the
	// default) does. Run waits on it between polls; tests inject a fake.
	After func(d time.Duration) <-chan time.Time
	// OnError, if set, receives every error of a poll made by Run (Run keeps
	// polling: the next successful poll's deltas cover the missed
	// intervals). It is called from Run's goroutine. Errors are also counted
	// in Stats.PollErrors.
	OnError func(error)
}

func (o *Options) withDefaults() (Options, error) {
	c := *o
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Interval < time.Second {
		return c, fmt.Errorf("%w: Interval %v is below 1s", ErrBadOptions, c.Interval)
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
		if c.Timeout > c.Interval {
			c.Timeout = c.Interval
		}
	}
	if c.Timeout < 0 || c.Timeout > c.Interval {
		return c, fmt.Errorf("%w: Timeout %v must be in (0, Interval=%v]", ErrBadOptions, c.Timeout, c.Interval)
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.SampleMaxBytes == 0 {
		c.SampleMaxBytes = DefaultSampleMaxBytes
	}
	if c.SampleMaxBytes < 16 {
		return c, fmt.Errorf("%w: SampleMaxBytes %d is below 16", ErrBadOptions, c.SampleMaxBytes)
	}
	if c.TemplateCache == 0 {
		c.TemplateCache = DefaultTemplateCache
	}
	if c.TemplateCache < 0 {
		return c, fmt.Errorf("%w: TemplateCache %d is negative", ErrBadOptions, c.TemplateCache)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.After == nil {
		c.After = time.After
	}
	return c, nil
}

// Package models holds das's anomaly detectors: seasonal decomposition,
// generalized ESD, Seasonal Hybrid ESD and robust online baselines, built on
// gonum.
//
// Every detector has an online form: it takes one point at a time for one
// series, keeps bounded history, and scores the point without look-ahead.
// Its state is small and serialisable (MarshalBinary/UnmarshalBinary) so a
// streaming job can keep one detector per series in Pebble.
package models

import (
	"fmt"
	"sort"
	"time"
)

// Point is one observation of a series.
type Point struct {
	T int64   // timestamp, Unix milliseconds
	V float64 // value; NaN means missing
}

// Direction says which way an anomalous point deviates from the expected value.
type Direction int8

const (
	DirNone Direction = 0
	DirUp   Direction = 1
	DirDown Direction = -1
)

func (d Direction) String() string {
	switch d {
	case DirUp:
		return "up"
	case DirDown:
		return "down"
	}
	return "none"
}

// Result is a detector's verdict on one point, computed from that point and
// the points before it only.
type Result struct {
	// Score is the graded anomaly score in [0,1]; 0 = normal.
	Score float64
	// Anomalous is the per-point decision: the point lies outside the band.
	Anomalous bool
	// Alert is true on the first anomalous point of an episode only
	// (debounced): a sustained anomaly raises one alert at its start.
	Alert bool
	// Expected is the value the model predicted; Lower/Upper the band.
	Expected, Lower, Upper float64
	// Direction of the deviation (DirNone when not anomalous).
	Direction Direction
	// Warm is false during warm-up: a cold detector never reports Anomalous.
	Warm bool
	// Warning, when not empty, says what was odd about the input point
	// (a repeated or backwards timestamp, a gap); the point is still scored.
	Warning string
}

// Detector is the online form of a model for one series. It is not safe
// for concurrent use; a job holds one per series.
type Detector interface {
	// Observe scores p given the history so far, then adds p to it.
	Observe(p Point) Result
	// MarshalBinary encodes the full state; UnmarshalBinary restores it so
	// that the restored detector continues exactly as the original would.
	MarshalBinary() ([]byte, error)
	UnmarshalBinary(data []byte) error
}

// Config parameterises a detector.
type Config struct {
	// Interval is the series' sampling interval; 0 = learn it from the
	// first timestamps.
	Interval time.Duration
	// Period is the seasonal period in points; 0 = detect it (from the
	// interval and the data), -1 = no seasonality.
	Period int
	// Warmup is the number of points a detector sees before it may report
	// Anomalous; 0 = DefaultWarmup. Allowed range 1..750. A caller that
	// knows it scores a short file of n points passes about 15% of n so the
	// first alert can come early; a detector never alerts before it has
	// Warmup points, and never because its history is short.
	Warmup int
}

// DefaultWarmup is the warm-up, in points, when Config.Warmup is 0.
const DefaultWarmup = 120

// MaxWarmup is the largest Config.Warmup: alerts are always possible after
// this many points.
const MaxWarmup = 750

// Factory builds a detector from a config.
type Factory func(cfg Config) (Detector, error)

// Registry maps detector names to factories. It is an explicit value
// (DESIGN.md: no package globals); Builtin returns one with das's detectors.
type Registry struct {
	factories map[string]Factory
	doc       map[string]string
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[string]Factory{}, doc: map[string]string{}}
}

// Register adds a detector; a name may be registered once.
func (r *Registry) Register(name, doc string, f Factory) error {
	if name == "" || f == nil {
		return fmt.Errorf("models: register: empty name or nil factory")
	}
	if _, dup := r.factories[name]; dup {
		return fmt.Errorf("models: detector %q registered twice", name)
	}
	r.factories[name] = f
	r.doc[name] = doc
	return nil
}

// New builds the named detector.
func (r *Registry) New(name string, cfg Config) (Detector, error) {
	f, ok := r.factories[name]
	if !ok {
		return nil, fmt.Errorf("models: unknown detector %q (known: %v)", name, r.Names())
	}
	return f(cfg)
}

// Names lists the registered detectors, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.factories))
	for n := range r.factories {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Doc returns the one-line description a detector was registered with.
func (r *Registry) Doc(name string) string { return r.doc[name] }

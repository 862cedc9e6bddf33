package eval

import (
	"errors"
	"math"
	"sort"
	"time"

	"github.com/das-project/das/models"
)

// The detectors below stand in for das's own in these tests: they follow
// the Detector contract and are simple enough to reason about.

// zDetector flags a point whose robust z-score against the previous 60
// points exceeds 6, and alerts on the first point of each anomalous run.
type zDetector struct {
	hist      []float64
	inEpisode bool
}

func (d *zDetector) Observe(p models.Point) models.Result {
	var res models.Result
	if math.IsNaN(p.V) {
		return res
	}
	if len(d.hist) >= 30 {
		res.Warm = true
		s := append([]float64(nil), d.hist...)
		sort.Float64s(s)
		med := s[len(s)/2]
		for i := range s {
			s[i] = math.Abs(s[i] - med)
		}
		sort.Float64s(s)
		mad := max(1.4826*s[len(s)/2], 0.5)
		z := (p.V - med) / mad
		res.Expected, res.Lower, res.Upper = med, med-6*mad, med+6*mad
		res.Score = min(math.Abs(z)/12, 1)
		if math.Abs(z) > 6 {
			res.Anomalous = true
			res.Direction = models.DirUp
			if z < 0 {
				res.Direction = models.DirDown
			}
			res.Alert = !d.inEpisode
		}
	}
	d.inEpisode = res.Anomalous
	d.hist = append(d.hist, p.V)
	if len(d.hist) > 60 {
		d.hist = d.hist[1:]
	}
	return res
}

func (d *zDetector) MarshalBinary() ([]byte, error) {
	return nil, errors.New("test detector: no encoding")
}
func (d *zDetector) UnmarshalBinary([]byte) error { return errors.New("test detector: no encoding") }

// constDetector returns the same result for every point.
type constDetector struct{ res models.Result }

func (d constDetector) Observe(models.Point) models.Result { return d.res }
func (d constDetector) MarshalBinary() ([]byte, error)     { return nil, nil }
func (d constDetector) UnmarshalBinary([]byte) error       { return nil }

func testRegistry() *models.Registry {
	r := models.NewRegistry()
	r.Register("z", "robust z-score over the last 60 points (test)", func(models.Config) (models.Detector, error) {
		return &zDetector{}, nil
	})
	r.Register("never", "never anomalous (test)", func(models.Config) (models.Detector, error) {
		return constDetector{models.Result{Warm: true}}, nil
	})
	r.Register("always", "alerts on every point (test)", func(models.Config) (models.Detector, error) {
		return constDetector{models.Result{Warm: true, Anomalous: true, Alert: true, Score: 1}}, nil
	})
	r.Register("broken", "fails to build (test)", func(cfg models.Config) (models.Detector, error) {
		if cfg.Interval == 0 {
			return nil, errors.New("no interval")
		}
		if cfg.Interval < time.Minute {
			return nil, errors.New("interval too short")
		}
		return constDetector{models.Result{Score: 2}}, nil
	})
	return r
}

type modelsDetector = models.Detector

func modelsConfig(s Series) models.Config { return models.Config{Interval: s.Interval} }

package gen

import (
	"fmt"
	"math"
)

// ExpectedKeys estimates how many distinct (instance, db, template,
// minute) keys cfg.Events events hold: per minute of event time, each of
// the Instances×DBsPerInstance×Templates combinations appears with a
// Poisson count. Late events, the incident and bad records move it by
// a few percent at most. cfg.Events must be > 0.
func ExpectedKeys(cfg Config) (float64, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return 0, err
	}
	if cfg.Events == 0 {
		return 0, fmt.Errorf("%w: ExpectedKeys needs Events > 0", ErrConfig)
	}
	return expectedKeys(cfg, zipfCDF(cfg.Templates, cfg.Skew)), nil
}

func expectedKeys(cfg Config, cdf []float64) float64 {
	combos := float64(cfg.Instances * cfg.DBsPerInstance)
	perMinute := cfg.Rate * 60
	// distinct combinations among e events in one minute
	distinct := func(e float64) float64 {
		k := 0.0
		for r := range cdf {
			k += combos * -math.Expm1(-e*popularity(cdf, r)/combos)
		}
		return k
	}
	n := float64(cfg.Events)
	full := math.Floor(n / perMinute)
	return full*distinct(perMinute) + distinct(n-full*perMinute)
}

// RateForKeys returns the Rate at which cfg.Events events hold about keys
// distinct (instance, db, template, minute) keys, keeping cfg's other
// fields. keys must be less than Events and more than the keys of all
// events falling in one minute. The benchmark of the minute aggregation
// (500 templates, 2 M keys per 5 M events) is
//
//	cfg := gen.Config{Events: 5_000_000, Templates: 500, MeanSQLBytes: 241}
//	cfg.Rate, err = gen.RateForKeys(cfg, 2_000_000)
func RateForKeys(cfg Config, keys int64) (float64, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return 0, err
	}
	if c.Events == 0 || keys <= 0 || keys >= c.Events {
		return 0, fmt.Errorf("%w: RateForKeys needs 0 < keys (%d) < Events (%d)", ErrConfig, keys, c.Events)
	}
	cdf := zipfCDF(c.Templates, c.Skew)
	lo, hi := math.Log(1e-4), math.Log(1e8)
	at := func(x float64) float64 {
		c.Rate = math.Exp(x)
		return expectedKeys(c, cdf)
	}
	if at(hi) > float64(keys) {
		return 0, fmt.Errorf("%w: %d keys are too few for %d events over %d instances × %d dbs × %d templates",
			ErrConfig, keys, c.Events, c.Instances, c.DBsPerInstance, c.Templates)
	}
	for range 100 {
		mid := (lo + hi) / 2
		if at(mid) > float64(keys) { // keys fall as the rate rises
			lo = mid
		} else {
			hi = mid
		}
	}
	return math.Exp((lo + hi) / 2), nil
}

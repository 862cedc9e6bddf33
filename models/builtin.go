package models

// DefaultDetector is the detector `das detect` uses when none is named; it
// is chosen by measurement (docs/models.md).
const DefaultDetector = "ensemble"

// Builtin returns a new registry holding das's detectors. Detectors made
// by one registry share immutable tables (ESD critical values) and
// scratch buffers; the registry is safe for concurrent use once built.
func Builtin() *Registry {
	r := NewRegistry()
	table := &esdTable{maxN: esdWindow + 1, maxRank: esdMaxRank, alpha: esdAlpha}
	sh := &shesdShared{}
	must := func(err error) {
		if err != nil {
			panic("BUG: models: builtin registry: " + err.Error())
		}
	}
	must(r.Register("mad", "rolling median/MAD z-score over the last 64 points; no seasonality, little history",
		func(cfg Config) (Detector, error) { return newMAD(cfg) }))
	must(r.Register("ewma", "Holt-Winters style robust baseline (level + daily/weekly profile chosen online) with a 4σ point test",
		func(cfg Config) (Detector, error) { return newSeasonal(kindEWMA, testPoint, cfg, nil) }))
	must(r.Register("seasonal-esd", "seasonal baseline plus an online generalized ESD test on a window of 128 residuals",
		func(cfg Config) (Detector, error) { return newSeasonal(kindSeasonalESD, testESD, cfg, table) }))
	must(r.Register("shesd", "Seasonal Hybrid ESD re-fitted on a trailing window (≤ 2880 points), scoring each new point once",
		func(cfg Config) (Detector, error) { return newSHESD(cfg, sh) }))
	must(r.Register("cusum", "seasonal baseline plus CUSUM change-point tests (level shifts, variance increases)",
		func(cfg Config) (Detector, error) { return newSeasonal(kindCUSUM, testCUSUM, cfg, nil) }))
	must(r.Register("ensemble", "seasonal baseline with the point test and the CUSUM change-point tests (default)",
		func(cfg Config) (Detector, error) { return newSeasonal(kindEnsemble, testPoint|testCUSUM, cfg, nil) }))
	return r
}

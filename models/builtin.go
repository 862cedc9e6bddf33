package models

// DefaultDetector is the detector `das detect` uses when none is named; it
// is chosen by measurement (docs/models.md).
const DefaultDetector = "ensemble"

// Builtin returns a new registry holding das's detectors.
func Builtin() *Registry {
	r := NewRegistry()
	return r
}

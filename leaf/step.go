package leaf

import (
	"sort"
	"time"
)

// nextStep is Leaf's dynamic step rule. elapsed is the time since the
// previous segment load, i.e. about how long one segment lasted:
//
//   - elapsed < target: demand outgrows the step; double it, capped at
//     max(maxStep, tableStep);
//   - target <= elapsed < 2*target: keep it;
//   - elapsed >= 2*target: halve it, never below the table's step.
//
// A step below the table's step (the table was raised) starts from the
// table's step.
func nextStep(cur, tableStep, maxStep int64, elapsed, target time.Duration) int64 {
	if cur < tableStep {
		cur = tableStep
	}
	limit := max(maxStep, tableStep)
	switch {
	case elapsed < target:
		return min(cur*2, limit)
	case elapsed < 2*target:
		return min(cur, limit)
	default:
		return max(cur/2, tableStep)
	}
}

func sortStatus(s []TagStatus) {
	sort.Slice(s, func(i, j int) bool { return s[i].Tag < s[j].Tag })
}

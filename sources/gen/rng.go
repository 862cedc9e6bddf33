package gen

import (
	"math"
	"math/bits"
)

// rng is xoshiro256** seeded with splitmix64. The generator owns its
// random numbers (rather than math/rand/v2) so that the bytes it writes for
// a seed depend only on this file, not on a Go release's choice of
// algorithms behind IntN or NormFloat64.
type rng struct{ s [4]uint64 }

func newRNG(seed int64, stream uint64) *rng {
	r := &rng{}
	x := uint64(seed) ^ (stream * 0x9e3779b97f4a7c15)
	for i := range r.s {
		x += 0x9e3779b97f4a7c15
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		r.s[i] = z ^ (z >> 31)
	}
	return r
}

func (r *rng) u64() uint64 {
	s := &r.s
	result := bits.RotateLeft64(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = bits.RotateLeft64(s[3], 45)
	return result
}

// float returns a uniform value in [0, 1).
func (r *rng) float() float64 { return float64(r.u64()>>11) / (1 << 53) }

// intn returns a uniform value in [0, n); n > 0.
func (r *rng) intn(n int) int {
	hi, _ := bits.Mul64(r.u64(), uint64(n))
	return int(hi)
}

// int63n returns a uniform value in [0, n); n > 0.
func (r *rng) int63n(n int64) int64 {
	hi, _ := bits.Mul64(r.u64(), uint64(n))
	return int64(hi)
}

// between returns a uniform value in [lo, hi].
func (r *rng) between(lo, hi int64) int64 {
	if hi <= lo {
		return lo
	}
	return lo + r.int63n(hi-lo+1)
}

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float() < p }

// exp returns an exponential value with mean 1.
func (r *rng) exp() float64 { return -math.Log(1 - r.float()) }

// norm returns a standard normal value (Box–Muller; one of the pair is
// dropped to keep the state simple).
func (r *rng) norm() float64 {
	u := 1 - r.float()
	v := r.float()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// geometric returns a value >= 1 with the given mean (>= 1).
func (r *rng) geometric(mean float64) int {
	if mean <= 1 {
		return 1
	}
	p := 1 / mean
	return 1 + int(math.Floor(math.Log(1-r.float())/math.Log(1-p)))
}

// pick returns a uniform element of xs.
func pick[T any](r *rng, xs []T) T { return xs[r.intn(len(xs))] }

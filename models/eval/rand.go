package eval

import (
	"math"
	"math/rand/v2"
)

// rng draws the benchmark's random numbers. Only the raw PCG stream of
// math/rand/v2 is used (its algorithm is specified, so its output is stable
// across Go releases); every distribution is derived here rather than with
// the rand methods, whose sequences Go does not promise to keep.
type rng struct {
	src *rand.PCG
}

func newRNG(seed uint64, stream uint64) *rng {
	return &rng{src: rand.NewPCG(seed, stream*0x9e3779b97f4a7c15+0x632be59bd9b4e019)}
}

// float returns a uniform float64 in [0,1).
func (r *rng) float() float64 { return float64(r.src.Uint64()>>11) / (1 << 53) }

// uniform returns a uniform float64 in [a,b).
func (r *rng) uniform(a, b float64) float64 { return a + (b-a)*r.float() }

// intn returns a uniform int in [0,n); n must be positive.
func (r *rng) intn(n int) int { return int(r.src.Uint64() % uint64(n)) }

// between returns a uniform int in [a,b].
func (r *rng) between(a, b int) int {
	if b <= a {
		return a
	}
	return a + r.intn(b-a+1)
}

// sign returns +1 or -1 with equal probability.
func (r *rng) sign() float64 {
	if r.src.Uint64()&1 == 0 {
		return -1
	}
	return 1
}

// normal returns a standard normal deviate (Box-Muller, one of the pair).
func (r *rng) normal() float64 {
	u := 1 - r.float() // (0,1]
	v := r.float()
	return math.Sqrt(-2*math.Log(u)) * math.Cos(2*math.Pi*v)
}

// studentT3 returns a Student-t deviate with 3 degrees of freedom scaled to
// unit variance (the raw t3 has variance 3).
func (r *rng) studentT3() float64 {
	z := r.normal()
	a, b, c := r.normal(), r.normal(), r.normal()
	chi := (a*a + b*b + c*c) / 3
	if chi < 1e-12 {
		chi = 1e-12
	}
	return z / math.Sqrt(chi) / math.Sqrt(3)
}

// poisson returns a Poisson deviate with mean lambda: Knuth's product
// method below 30, a rounded normal approximation above.
func (r *rng) poisson(lambda float64) float64 {
	if lambda <= 0 {
		return 0
	}
	if lambda < 30 {
		l := math.Exp(-lambda)
		k, p := 0, 1.0
		for {
			p *= r.float()
			if p <= l {
				return float64(k)
			}
			k++
		}
	}
	v := math.Round(lambda + math.Sqrt(lambda)*r.normal())
	if v < 0 {
		v = 0
	}
	return v
}

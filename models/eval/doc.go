// Package eval is das's labelled benchmark for the anomaly detectors of
// package models, and its scorer.
//
// Generate builds, from a seed, a fixed grid of synthetic series: each
// profile (a kind of metric: per-minute QPS, 5-minute latency, near-zero
// error and deadlock counts, hourly orders, 10-second samples, daily sales)
// crossed with each anomaly kind it can carry (spike, dip, level shift,
// variance change, count burst) and a clean copy. The profiles span
// sampling intervals from 10 s to a day, daily and weekly seasonality,
// trends, gaussian (AR(1)), heavy-tailed (Student-t) and Poisson noise,
// isolated missing values and gaps. Each anomalous series carries three
// labelled events after a warm-up of a fifth of the series. The same seed
// gives the same series, bit for bit.
//
// ScoreSeries scores a detector's alerts event by event: an alert inside a
// labelled window, or a few points after it, detects it (one detection per
// window); any other alert is a false alarm. From the tallies come
// precision, recall, F1, the detection delay in points, and a window score
// in the spirit of the Numenta Anomaly Benchmark: a scaled sigmoid rewards
// early detection within the window, each false alarm and each miss costs,
// and the sum is normalised so that the perfect detector scores 100 and the
// silent one 0.
//
// Evaluate runs every detector of a models.Registry over the series of
// tuning seeds and of held-out seeds and reports both, so that a table
// shows generalisation, not fit. `das detect --evaluate` is its command.
package eval

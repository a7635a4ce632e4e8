// Package monitor watches a model in production through its data: it
// profiles rows into small mergeable summaries, compares a window of
// serving traffic with the model's reference profile for drift, and checks
// the window's data quality.
//
// A Profile holds, per feature of the model's signature and per model
// output (the prediction pseudo-features), the counts of valid, missing
// and invalid values, and for numbers the extremes, mean and variance, a
// KLL quantile sketch (Sketch), a histogram in the reference's bins and
// exact counts of up to 20 distinct values; for categories the count of
// each, the unseen ones, and a HyperLogLog cardinality sketch. Profiles
// merge (hours into days, workers into one) and travel as JSON.
//
// The reference profile of a model version is made from its training set
// with ProfileTable and frozen at registration. Serving traffic is
// profiled as it comes, from the prediction log, by a Profiler (AddRow on
// encoded rows, which allocates nothing, or AddInputs on logged inputs) or
// by Windows, which keeps hourly (or other) windows in bounded memory.
// DetectDrift and CheckQuality then compare a window with the reference
// from the profiles alone, in milliseconds whatever the traffic.
//
// The package imports only the model package and the root plinth package:
// the serving path and the workflows above it feed it rows and act on its
// results.
package monitor

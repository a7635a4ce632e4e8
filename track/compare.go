package track

import (
	"sort"
	"strings"
)

// Comparison sets runs side by side: every param with whether it differs,
// and every metric's final and best value per run.
type Comparison struct {
	Runs    []RunHeader `json:"runs"`
	Params  []ParamRow  `json:"params"`
	Metrics []MetricRow `json:"metrics"`
}

// RunHeader names a compared run.
type RunHeader struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Status Status `json:"status"`
}

// ParamRow is one param across the compared runs; a run without the param
// has nil.
type ParamRow struct {
	Key     string    `json:"key"`
	Values  []*string `json:"values"`
	Differs bool      `json:"differs"`
}

// MetricRow is one metric across the compared runs. Final is the latest
// value; Best the minimum or the maximum, as Goal says.
type MetricRow struct {
	Key   string     `json:"key"`
	Goal  string     `json:"goal"` // "min" or "max"
	Final []*float64 `json:"final"`
	Best  []*float64 `json:"best"`
	// BestRun is the index of the run with the best value.
	BestRun int `json:"best_run"`
}

// MetricGoal guesses whether lower or higher is better from a metric's
// name: losses, errors and latencies go down, everything else up.
func MetricGoal(key string) string {
	k := strings.ToLower(key)
	for _, w := range []string{"loss", "error", "err", "rmse", "mse", "mae", "mape", "perplexity", "latency", "time", "duration", "brier", "ece"} {
		if strings.Contains(k, w) {
			return "min"
		}
	}
	return "max"
}

// Compare builds the comparison of runs, in the order given.
func Compare(runs []Run) Comparison {
	c := Comparison{Runs: make([]RunHeader, len(runs)), Params: []ParamRow{}, Metrics: []MetricRow{}}
	paramKeys, metricKeys := map[string]bool{}, map[string]bool{}
	for i, r := range runs {
		c.Runs[i] = RunHeader{ID: r.ID, Name: r.Name, Status: r.Status}
		for k := range r.Params {
			paramKeys[k] = true
		}
		for k := range r.Metrics {
			metricKeys[k] = true
		}
	}
	for _, k := range sortedKeys(paramKeys) {
		row := ParamRow{Key: k, Values: make([]*string, len(runs))}
		for i, r := range runs {
			if v, ok := r.Params[k]; ok {
				row.Values[i] = &v
			}
			if i > 0 && !equalPtr(row.Values[i], row.Values[0]) {
				row.Differs = true
			}
		}
		c.Params = append(c.Params, row)
	}
	for _, k := range sortedKeys(metricKeys) {
		row := MetricRow{Key: k, Goal: MetricGoal(k), Final: make([]*float64, len(runs)), Best: make([]*float64, len(runs)), BestRun: -1}
		for i, r := range runs {
			m, ok := r.Metrics[k]
			if !ok {
				continue
			}
			final, best := m.Value, m.Max
			if row.Goal == "min" {
				best = m.Min
			}
			row.Final[i], row.Best[i] = &final, &best
			if row.BestRun < 0 || row.Goal == "min" && best < *row.Best[row.BestRun] || row.Goal == "max" && best > *row.Best[row.BestRun] {
				row.BestRun = i
			}
		}
		c.Metrics = append(c.Metrics, row)
	}
	return c
}

func equalPtr(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

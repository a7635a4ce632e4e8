package deploy

import (
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/serve"
)

func TestGateJudge(t *testing.T) {
	since := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	g := Gate{Window: plinth.Duration(10 * time.Minute)}.withDefaults()
	healthy := serve.VariantStats{Requests: 1000, Errors: 1, Outputs: 1000, MeanOutput: 0.30, StdOutput: 0.2, MeanMicros: 20}
	for _, tc := range []struct {
		name      string
		candidate serve.VariantStats
		at        time.Duration
		want      string
		reason    string
	}{
		{"too few requests", serve.VariantStats{Requests: 50, Outputs: 50, MeanOutput: 0.3, StdOutput: 0.2}, time.Hour, Wait, "50 of the 100"},
		{"errors", serve.VariantStats{Requests: 200, Errors: 20, Outputs: 180, MeanOutput: 0.3, StdOutput: 0.2, MeanMicros: 20}, time.Minute, Reject, "error rate 0.100"},
		{"constant predictions", serve.VariantStats{Requests: 200, Outputs: 200, MeanOutput: 0.31, StdOutput: 0, MeanMicros: 20}, time.Minute, Reject, "constant"},
		{"mean shift", serve.VariantStats{Requests: 200, Outputs: 200, MeanOutput: 0.55, StdOutput: 0.2, MeanMicros: 20}, time.Minute, Reject, "mean prediction"},
		{"slow", serve.VariantStats{Requests: 200, Outputs: 200, MeanOutput: 0.31, StdOutput: 0.2, MeanMicros: 5000}, time.Minute, Reject, "250.0 times slower"},
		{"slower by microseconds only", serve.VariantStats{Requests: 200, Outputs: 200, MeanOutput: 0.31, StdOutput: 0.2, MeanMicros: 100}, time.Minute, Wait, "window"},
		{"clean, window running", serve.VariantStats{Requests: 200, Outputs: 200, MeanOutput: 0.31, StdOutput: 0.2, MeanMicros: 25}, time.Minute, Wait, "window"},
		{"clean, window over", serve.VariantStats{Requests: 200, Outputs: 200, MeanOutput: 0.31, StdOutput: 0.2, MeanMicros: 25}, 11 * time.Minute, Promote, "clean for 10m0s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := g.Judge(serve.RouteStats{Since: since, Stable: healthy, Candidate: tc.candidate}, since.Add(tc.at))
			if got != tc.want || !strings.Contains(reason, tc.reason) {
				t.Fatalf("Judge = %s (%s), want %s (%q)", got, reason, tc.want, tc.reason)
			}
		})
	}
	if err := (Gate{MinRequests: 1, MaxLatencyRatio: 0.5}).validate(); err == nil {
		t.Fatal("a latency ratio under 1 passed")
	}
}

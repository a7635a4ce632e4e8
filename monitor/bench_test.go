package monitor

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/plinthml/plinth/model"
)

// The benchmarks of issue 7 (figures and commands in BENCHMARKS.md):
//
//	go test ./monitor -run '^$' -bench . -benchtime 3x
//
// BenchmarkProfile: incremental profiling of encoded rows of 50 numeric
// features against a reference (the serving path's AddRow), one window of
// the given size per op; target at least 500,000 rows/s.
//
// BenchmarkDrift50x1M: profile 1,000,000 current rows of 50 features and
// compare them with the reference; target at most 1 s for both.

func wideSig(n int) *model.Signature {
	sig := &model.Signature{}
	for i := range n {
		sig.Features = append(sig.Features, model.Feature{Name: "f" + strconv.Itoa(i), Type: model.Float, Nullable: true})
	}
	return sig
}

// wideColumns returns n rows of the signature's features as columns:
// normal values of various scales, every fourth feature shifted by shift
// standard deviations, one value in a hundred missing.
func wideColumns(seed uint64, features, n int, shift float64) [][]float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	cols := make([][]float64, features)
	for j := range cols {
		scale := float64(1 + j%7)
		mean := float64(j) * 10
		s := 0.0
		if j%4 == 0 {
			s = shift
		}
		col := make([]float64, n)
		for i := range col {
			col[i] = (r.NormFloat64()+s)*scale + mean
		}
		for i := j; i < n; i += 100 {
			col[i] = nan
		}
		cols[j] = col
	}
	return cols
}

var nan = func() float64 { var z float64; return z / z }()

func BenchmarkProfile(b *testing.B) {
	const features = 50
	sig := wideSig(features)
	ref, err := ProfileTable(sig, wideColumns(1, features, 100_000, 0), Options{})
	if err != nil {
		b.Fatal(err)
	}
	// Rows as the serving path has them: one slice per request.
	cols := wideColumns(2, features, 1<<16, 0)
	rows := make([][]float64, 1<<16)
	for i := range rows {
		rows[i] = make([]float64, features)
		for j := range features {
			rows[i][j] = cols[j][i]
		}
	}
	for _, window := range []int{10_000, 1_000_000} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := NewProfiler(sig, Options{Reference: ref})
				if err != nil {
					b.Fatal(err)
				}
				for i := range window {
					p.AddRow(rows[i&(len(rows)-1)])
				}
				_ = p.Profile()
			}
			b.ReportMetric(float64(b.N*window)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

func BenchmarkDrift50x1M(b *testing.B) {
	const features, rows = 50, 1_000_000
	sig := wideSig(features)
	ref, err := ProfileTable(sig, wideColumns(1, features, 100_000, 0), Options{})
	if err != nil {
		b.Fatal(err)
	}
	cur := wideColumns(2, features, rows, 0.5)
	var d *Drift
	var profile, drift time.Duration
	for b.Loop() {
		t0 := time.Now()
		p, err := ProfileTable(sig, cur, Options{Reference: ref, K: DefaultK})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		d, err = DetectDrift(ref, p, DriftOptions{})
		if err != nil {
			b.Fatal(err)
		}
		profile += t1.Sub(t0)
		drift += time.Since(t1)
	}
	if d.Drifted != 13 {
		b.Errorf("%d features drifted, want the 13 shifted ones", d.Drifted)
	}
	b.ReportMetric(profile.Seconds()/float64(b.N), "profile-s/op")
	b.ReportMetric(drift.Seconds()*1000/float64(b.N), "drift-ms/op")
}

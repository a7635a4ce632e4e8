package model_test

import (
	"bytes"
	"compress/gzip"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/xgboost"
)

// The benchmark model: 200 trees of depth 6 trained by XGBoost 1.7 on 20,000
// rows like the LightGBM binary example (scripts/fixtures/xgboost_fixtures.py
// writes it), and the 500 rows of binary.test to score. See
// BENCHMARKS-model.md for the figures and the commands.
const benchDir = "testdata/bench/"

func loadBench(tb testing.TB) (*model.Predictor, [][]float64) {
	tb.Helper()
	f, err := os.Open(benchDir + "higgs200.model.json.gz")
	if err != nil {
		tb.Skipf("benchmark model absent (regenerate with scripts/fixtures/xgboost_fixtures.py --only bench): %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	m, err := xgboost.Decode(zr)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := m.Predictor()
	if err != nil {
		tb.Fatal(err)
	}
	return p, readRows(tb, benchDir+"higgs200.rows.tsv")
}

func readRows(tb testing.TB, path string) [][]float64 {
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var rows [][]float64
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var row []float64
		for _, tok := range strings.Fields(line) {
			v, err := strconv.ParseFloat(tok, 64)
			if err != nil {
				tb.Fatal(err)
			}
			row = append(row, v)
		}
		rows = append(rows, row)
	}
	return rows
}

// TestBenchModel checks the 200-tree model against XGBoost's own margins,
// so the benchmarks measure a predictor that is right.
func TestBenchModel(t *testing.T) {
	p, rows := loadBench(t)
	want := readRows(t, benchDir+"higgs200.margin.txt")
	out := []float64{0}
	for r, row := range rows {
		p.PredictRawRow(row, out)
		if math.Abs(out[0]-want[r][0]) > 1e-6*math.Max(1, math.Abs(want[r][0])) {
			t.Fatalf("row %d: margin %.9g, xgboost %.9g", r, out[0], want[r][0])
		}
	}
}

func BenchmarkPredictRow(b *testing.B) {
	p, rows := loadBench(b)
	out := make([]float64, 1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.PredictRow(rows[i%len(rows)], out)
		i++
	}
}

// BenchmarkPredictRowLatency reports the p50 and p99 of single-row calls,
// each timed on its own (the clock read adds a few tens of ns).
func BenchmarkPredictRowLatency(b *testing.B) {
	p, rows := loadBench(b)
	out := make([]float64, 1)
	var lat []time.Duration
	i := 0
	for b.Loop() {
		start := time.Now()
		p.PredictRow(rows[i%len(rows)], out)
		lat = append(lat, time.Since(start))
		i++
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

func BenchmarkExplainRow(b *testing.B) {
	p, rows := loadBench(b)
	out := make([]float64, p.NumFeatures()+1)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		p.Explain(rows[i%len(rows)], out)
		i++
	}
}

// benchBatch tiles the 500 rows to 100,000 (as bench_xgboost_predict.py
// does) and reports rows per second over all cores.
func benchBatch(b *testing.B, colMajor bool) {
	p, rows := loadBench(b)
	const n = 100_000
	nf := p.NumFeatures()
	x := model.Matrix{Rows: n, Cols: nf, Data: make([]float64, n*nf), ColMajor: colMajor}
	for r := range n {
		for c, v := range rows[r%len(rows)] {
			if colMajor {
				x.Data[c*n+r] = v
			} else {
				x.Data[r*nf+c] = v
			}
		}
	}
	out := make([]float64, n)
	b.ResetTimer()
	for b.Loop() {
		if err := p.Predict(x, out); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(float64(runtime.GOMAXPROCS(0)), "threads")
}

func BenchmarkPredictBatch(b *testing.B)         { benchBatch(b, false) }
func BenchmarkPredictBatchColMajor(b *testing.B) { benchBatch(b, true) }

// BenchmarkParse reads the benchmark model (200 trees) in the native format:
// the cost a deploy pays on the serving machine for a version it has not
// loaded before.
func BenchmarkParse(b *testing.B) {
	f, err := os.Open(benchDir + "higgs200.model.json.gz")
	if err != nil {
		b.Skipf("benchmark model absent: %v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		b.Fatal(err)
	}
	m, err := xgboost.Decode(zr)
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := m.Encode(&buf); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := model.Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

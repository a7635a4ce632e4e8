package train

import (
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/plinthml/plinth/eval"
	"github.com/plinthml/plinth/model"
)

// The benchmarks of the GBT trainer against XGBoost run from
// scripts/bench/gbt_vs_xgboost.py, which builds this package's test binary
// and runs TestGBTBench once per task with PLINTH_GBT_BENCH_TASK set. See
// BENCHMARKS-gbt.md.

const synthCols = 28

// synthTable generates n rows of the synthetic task of
// scripts/bench/gbt_vs_xgboost.py (the same formula; Go's random stream,
// so not the same numbers): for quick benchmarks without Python.
func synthTable(n int, seed uint64) *Table {
	rng := rand.New(rand.NewPCG(seed, 20261122))
	x := make([][]float64, synthCols)
	for j := range x {
		x[j] = make([]float64, n)
		for i := range n {
			x[j][i] = rng.NormFloat64()
		}
	}
	y := make([]float64, n)
	for i := range n {
		x[3][i] = math.Pow(math.Abs(x[3][i]), 1.5)
		x[5][i] = float64(rng.IntN(3)) * 1.1
		x[9][i] = x[0][i]*0.6 + x[9][i]*0.8
		x[12][i] = rng.ExpFloat64()
		for j := range 7 {
			a, b := x[2*j][i], x[2*j+1][i]
			x[21+j][i] = math.Sqrt(a*a+b*b+0.5) + 0.1*rng.NormFloat64()
		}
		step := func(c bool) float64 {
			if c {
				return 1
			}
			return 0
		}
		f := 0.8*x[0][i] - 0.6*x[1][i]*x[2][i] + math.Sin(1.5*x[3][i]) +
			0.5*step(x[4][i] > 0.5)*x[6][i] + 0.4*x[5][i] - 0.5*math.Abs(x[7][i]) +
			0.3*x[21][i] - 0.4*step(x[22][i] > 1.5) + 0.25*x[8][i]*x[10][i] -
			0.3*x[12][i] + 0.2*math.Cos(2*x[13][i]) + 0.3*x[24][i]*step(x[15][i] > 0)
		y[i] = step(rng.Float64() < 1/(1+math.Exp(-f)))
	}
	t := &Table{Label: y}
	for j := range synthCols {
		t.Columns = append(t.Columns, Column{Name: fmt.Sprintf("f%d", j), Type: model.Float, Num: x[j]})
	}
	return t
}

// readF32 reads the benchmark's data file: little-endian float32, rows of
// the label and 28 features.
func readF32(path string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	width := (synthCols + 1) * 4
	if len(data)%width != 0 {
		return nil, fmt.Errorf("%s: %d bytes is not a whole number of rows", path, len(data))
	}
	n := len(data) / width
	t := &Table{Label: make([]float64, n)}
	for j := range synthCols {
		t.Columns = append(t.Columns, Column{Name: fmt.Sprintf("f%d", j), Type: model.Float, Num: make([]float64, n)})
	}
	for i := range n {
		row := data[i*width:]
		t.Label[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(row)))
		for j := range synthCols {
			t.Columns[j].Num[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(row[4*(j+1):])))
		}
	}
	return t, nil
}

// tableRows returns rows [lo, hi) of t, sharing its storage.
func tableRows(t *Table, lo, hi int) *Table {
	s := &Table{Label: t.Label[lo:hi]}
	for _, c := range t.Columns {
		d := Column{Name: c.Name, Type: c.Type}
		if c.Type == model.Categorical {
			d.Cat = c.Cat[lo:hi]
		} else {
			d.Num = c.Num[lo:hi]
		}
		s.Columns = append(s.Columns, d)
	}
	return s
}

func readCSVGz(path, label, positive string, categorical []string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	z, err := gzip.NewReader(f)
	if err != nil {
		return nil, err
	}
	return ReadCSV(z, label, positive, categorical)
}

func concatTables(a, b *Table) *Table {
	t := &Table{Label: slices.Concat(a.Label, b.Label)}
	for j, c := range a.Columns {
		d := Column{Name: c.Name, Type: c.Type}
		d.Num = slices.Concat(c.Num, b.Columns[j].Num)
		d.Cat = slices.Concat(c.Cat, b.Columns[j].Cat)
		t.Columns = append(t.Columns, d)
	}
	return t
}

// benchParams are the parameters of every benchmark task: XGBoost's
// defaults with 256 bins and eta 0.1.
func benchParams() GBTParams {
	p := DefaultGBTParams()
	p.LearningRate, p.MaxBins, p.Seed = 0.1, 256, 1
	return p
}

// TestGBTBench runs one task of scripts/bench/gbt_vs_xgboost.py and prints
// its figures as a JSON line. It is skipped unless PLINTH_GBT_BENCH_TASK
// is set.
func TestGBTBench(t *testing.T) {
	task := os.Getenv("PLINTH_GBT_BENCH_TASK")
	if task == "" {
		t.Skip("set PLINTH_GBT_BENCH_TASK (see scripts/bench/gbt_vs_xgboost.py)")
	}
	dir, root := os.Getenv("PLINTH_GBT_BENCH_DIR"), os.Getenv("PLINTH_GBT_BENCH_ROOT")
	shared := "/work/shared/data"
	p := benchParams()
	if os.Getenv("PLINTH_GBT_BENCH_CATEGORICAL") == "onehot" {
		// Every category one-vs-rest: the splits XGBoost can make on
		// one-hot columns.
		p.MaxCatToOneHot = math.MaxInt32
	}
	var trainT, testT *Table
	var err error
	switch task {
	case "synth":
		rows, _ := strconv.Atoi(os.Getenv("PLINTH_GBT_BENCH_ROWS"))
		var all *Table
		if all, err = readF32(filepath.Join(dir, fmt.Sprintf("synth_%d.f32", rows))); err != nil {
			t.Fatal(err)
		}
		trainT, testT = tableRows(all, 0, rows), tableRows(all, rows, all.Len())
		p.Rounds, p.MaxDepth = 200, 6
	case "higgs":
		if trainT, err = readLightGBMTSV(shared + "/lightgbm/binary.train"); err != nil {
			t.Fatal(err)
		}
		if testT, err = readLightGBMTSV(shared + "/lightgbm/binary.test"); err != nil {
			t.Fatal(err)
		}
		p.Rounds, p.MaxDepth = 100, 6
	case "covertype":
		cats := []string{"Wilderness_Area", "Soil_Type"}
		var parts []*Table
		for _, name := range []string{"testing", "validate", "serving"} {
			tab, err := readCSVGz(shared+"/covertype/covertype_"+name+".csv.gz", "Cover_Type", "", cats)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tab.Label {
				tab.Label[i]--
			}
			parts = append(parts, tab)
		}
		trainT, testT = concatTables(parts[0], parts[1]), parts[2]
		p.Objective, p.NumClass, p.Rounds, p.MaxDepth = model.MultiSoftprob, 7, 200, 8
	case "adult":
		cats := []string{"workclass", "education", "marital_status", "occupation", "relationship", "race", "sex", "native_country"}
		if trainT, err = readCSVGz(root+"/demo/data/adult_train.csv.gz", "income", ">50K", cats); err != nil {
			t.Fatal(err)
		}
		if testT, err = readCSVGz(root+"/demo/data/adult_test.csv.gz", "income", ">50K", cats); err != nil {
			t.Fatal(err)
		}
		p.Rounds, p.MaxDepth = 200, 6
	case "flights":
		// Written by the script: the same rows XGBoost reads.
		cats := []string{"carrier", "origin", "dest"}
		if trainT, err = readCSVGz(filepath.Join(dir, "flights_train.csv.gz"), "late", "1", cats); err != nil {
			t.Fatal(err)
		}
		if testT, err = readCSVGz(filepath.Join(dir, "flights_test.csv.gz"), "late", "1", cats); err != nil {
			t.Fatal(err)
		}
		p.Rounds, p.MaxDepth = 200, 6
	default:
		t.Fatalf("unknown task %q", task)
	}
	start := time.Now()
	m, err := GBT(trainT, nil, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]float64{"seconds": time.Since(start).Seconds()}
	pred, err := PredictTable(m, testT)
	if err != nil {
		t.Fatal(err)
	}
	if p.Objective == model.MultiSoftprob {
		K := p.NumClass
		var correct, loss float64
		for i, y := range testT.Label {
			row := pred[i*K : (i+1)*K]
			if slices.Index(row, slices.Max(row)) == int(y) {
				correct++
			}
			loss -= math.Log(min(max(row[int(y)], 1e-15), 1-1e-15))
		}
		res["accuracy"], res["mlogloss"] = correct/float64(len(testT.Label)), loss/float64(len(testT.Label))
	} else {
		res["auc"], _ = eval.AUC(testT.Label, pred)
		res["logloss"], _ = eval.LogLoss(testT.Label, pred)
	}
	line, _ := json.Marshal(res)
	fmt.Printf("GBTBENCH %s\n", line)
}

// BenchmarkGBT trains the synthetic task (PLINTH_GBT_BENCH_ROWS rows,
// default 200,000; 50 rounds, depth 6) for quick measurements:
//
//	go test -run '^$' -bench GBT -benchtime 1x ./train/
func BenchmarkGBT(b *testing.B) {
	rows := 200_000
	if v, err := strconv.Atoi(os.Getenv("PLINTH_GBT_BENCH_ROWS")); err == nil {
		rows = v
	}
	tab := synthTable(rows, 1)
	p := benchParams()
	p.Rounds = 50
	b.ResetTimer()
	for b.Loop() {
		if _, err := GBT(tab, nil, p, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGBTHist measures the histogram loop alone, per row of 28
// features, on one thread: the inner loop of training.
func BenchmarkGBTHist(b *testing.B) {
	const n = 1 << 17
	tab := synthTable(n, 2)
	sig := tab.Signature()
	bn := newBinned(encodeColumns(tab, sig), sig, n, 256, 1, 1)
	gr := &grower{b: bn, threads: 1, gh: make([]float32, 2*n), all: true}
	for i := range gr.gh {
		gr.gh[i] = float32(i%7) * 0.1
	}
	rows := make([]int32, 0, n)
	for i := 0; i < n; i += 3 { // a node's rows: ascending, with gaps
		rows = append(rows, int32(i))
	}
	h := make([]histBin, bn.slots)
	b.ResetTimer()
	for b.Loop() {
		gr.histRows(h, rows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}

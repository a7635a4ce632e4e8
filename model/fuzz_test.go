package model_test

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/lightgbm"
	"github.com/plinthml/plinth/model/xgboost"
)

// The fuzz targets feed arbitrary bytes to the three parsers. Whatever the
// input, a parser returns a model or an error, never panics; a model it
// returns can be scored and explained, and survives a native round trip.
// Seeds: testdata/fuzz/<target>/, small valid models (large seeds such as
// the fixtures make the fuzzer spend its time minimizing).
//
//	go test ./model -run '^$' -fuzz FuzzParseNative -fuzztime 30s

func FuzzParseNative(f *testing.F) {
	fuzzParser(f, model.Parse)
}

func FuzzParseXGBoost(f *testing.F) {
	fuzzParser(f, xgboost.Parse)
}

func FuzzParseLightGBM(f *testing.F) {
	fuzzParser(f, lightgbm.Parse)
}

func fuzzParser(f *testing.F, parse func([]byte) (*model.Model, error)) {
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := parse(data)
		if err != nil {
			if m != nil {
				t.Fatal("a model and an error")
			}
			return
		}
		exercise(t, m)
		var buf bytes.Buffer
		if err := m.Encode(&buf); err != nil {
			t.Fatalf("encode a parsed model: %v", err)
		}
		back, err := model.Parse(buf.Bytes())
		if err != nil {
			t.Fatalf("re-parse the native form: %v", err)
		}
		exercise(t, back)
	})
}

func exercise(t *testing.T, m *model.Model) {
	p, err := m.Predictor()
	if err != nil {
		t.Fatalf("a parsed model does not compile: %v", err)
	}
	nf, nout := p.NumFeatures(), p.NumOutputs()
	out := make([]float64, nout)
	expl := make([]float64, nout*(nf+1))
	for _, v := range []float64{0, math.NaN(), -1, 1e30} {
		row := make([]float64, nf)
		for i := range row {
			row[i] = v
		}
		if err := p.PredictRow(row, out); err != nil {
			t.Fatal(err)
		}
		_ = p.Explain(row, expl) // may fail for models without covers
	}
	_ = m.GainImportance()
}

// TestFuzzSeeds checks that the hand-written seeds are valid models, so
// that fuzzing starts from inputs that reach the deep code paths.
func TestFuzzSeeds(t *testing.T) {
	for target, parse := range map[string]func([]byte) (*model.Model, error){
		"FuzzParseNative":   model.Parse,
		"FuzzParseXGBoost":  xgboost.Parse,
		"FuzzParseLightGBM": lightgbm.Parse,
	} {
		files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", target, "*"))
		valid := 0
		for _, file := range files {
			raw, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, lit, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lit, "[]byte("), ")"))
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if m, err := parse([]byte(s)); err == nil {
				valid++
				exercise(t, m)
			}
		}
		if valid == 0 {
			t.Errorf("%s: no seed parses", target)
		}
	}
}

// FuzzCheckJSONShape checks the shape scan against the plainest scan there
// is, a byte at a time: the same counts, the same error, for any input.
// Seeds: testdata/fuzz/FuzzCheckJSONShape/.
//
//	go test ./model -run '^$' -fuzz FuzzCheckJSONShape -fuzztime 30s
func FuzzCheckJSONShape(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, maxObjects, maxValues int) {
		got, want := model.CheckJSONShape(data, maxObjects, maxValues), shapeByteAtATime(data, maxObjects, maxValues)
		if (got == nil) != (want == nil) || got != nil && got.Error() != want.Error() {
			t.Fatalf("CheckJSONShape(%q, %d, %d) = %v, want %v", data, maxObjects, maxValues, got, want)
		}
	})
}

func shapeByteAtATime(data []byte, maxObjects, maxValues int) error {
	objects, values, depth := 0, 0, 0
	inString, escaped := false, false
	for i, c := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
			if depth > 64 {
				return plinth.Errorf(plinth.EINVALID, "model file nests JSON deeper than 64 levels (at byte %d)", i)
			}
			if c == '{' {
				if objects++; objects > maxObjects {
					return plinth.Errorf(plinth.EINVALID, "model file has more than %d JSON objects", maxObjects)
				}
			}
		case '}', ']':
			depth--
		case ',':
			if values++; values > maxValues {
				return plinth.Errorf(plinth.EINVALID, "model file has more than %d JSON values", maxValues)
			}
		}
	}
	return nil
}

package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/serve"
)

// FuzzLogRow spools the values of a JSON array, as a request's would be
// decoded, for every kind of feature column of the prediction log, writes
// the spooled record as the converter does and reads the file back:
// whatever the values, nothing panics or fails, and each column holds what
// featureValue says it does. Its seeds are in testdata/fuzz/FuzzLogRow.
func FuzzLogRow(f *testing.F) {
	kinds := []model.Feature{
		{Type: model.Float, Nullable: true},
		{Type: model.Int, Nullable: true},
		{Type: model.Bool, Nullable: true},
		{Type: model.Categorical, Categories: []string{"AA", "BB"}, Nullable: true},
		{Type: model.Categorical, Nullable: true},
	}
	f.Fuzz(func(t *testing.T, data []byte, useNumber bool) {
		dec := json.NewDecoder(bytes.NewReader(data))
		if useNumber {
			dec.UseNumber()
		}
		var values []any
		if dec.Decode(&values) != nil || len(values) > 16 {
			return
		}
		var in serve.Inputs
		for i, v := range values {
			for k, kind := range kinds {
				kind.Name = fmt.Sprintf("f%d_%d", i, k)
				in.Names = append(in.Names, kind.Name)
				in.Features = append(in.Features, kind)
				in.Values = append(in.Values, v)
			}
		}
		lay := newLogLayout(in)
		r := serve.LogRecord{RequestID: "r", Time: time.Now(), Endpoint: "e", Model: "m", Version: 1, Variant: "stable", Inputs: in, Outputs: []float64{0.5}}
		segment := appendFrame(nil, func(b []byte) []byte { return appendLayout(b, lay) })
		segment = appendFrame(segment, func(b []byte) []byte { return appendRecord(b, 0, lay, &r, nil, time.Now()) })
		var spooled spoolRecord
		rd := segmentReader{r: bytes.NewReader(segment)}
		if err := rd.next(&spooled); err != nil {
			t.Fatalf("read back the spooled %v: %v", values, err)
		}
		var file bytes.Buffer
		w := parquet.NewWriter(&file, lay.schema)
		if _, err := w.WriteRows([]parquet.Row{lay.appendRow(nil, &spooled)}); err != nil {
			t.Fatalf("write %v: %v", values, err)
		}
		if err := w.Close(); err != nil {
			t.Fatalf("close %v: %v", values, err)
		}
		rows := make([]parquet.Row, 1)
		n, _ := parquet.NewReader(bytes.NewReader(file.Bytes())).ReadRows(rows)
		if n != 1 {
			t.Fatalf("read back %d rows of %v", n, values)
		}
		got := rows[0]
		for _, v := range got {
			c := v.Column()
			if lay.columns[c] != colFeature {
				continue
			}
			want := lay.featureValue(lay.feature[c], in.Values)
			if v.IsNull() != want.IsNull() || !v.IsNull() && !parquet.Equal(v, want) {
				t.Errorf("%s of %v: read %v, want %v", in.Names[lay.feature[c]], in.Values[lay.feature[c]], v, want)
			}
		}
	})
}

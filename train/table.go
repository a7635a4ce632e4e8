// Package train holds plinth's built-in trainers. They read a Table and
// produce a *model.Model in the native format, so what training evaluates is
// exactly what serving scores.
package train

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/plinthml/plinth/model"
)

// Column is one feature column: numbers (NaN for missing) or category
// names ("" for missing).
type Column struct {
	Name string
	Type model.FeatureType // model.Float or model.Categorical
	Num  []float64
	Cat  []string
}

// Table is a training or evaluation table: feature columns and a label.
type Table struct {
	Columns []Column
	Label   []float64
}

// Len is the number of rows.
func (t *Table) Len() int {
	if len(t.Label) > 0 || len(t.Columns) == 0 {
		return len(t.Label)
	}
	if c := t.Columns[0]; c.Type == model.Categorical {
		return len(c.Cat)
	}
	return len(t.Columns[0].Num)
}

// inferRows is how many rows ReadCSV looks at to tell categorical columns
// from numeric ones when the caller does not say.
const inferRows = 1000

// ReadCSV reads a CSV with a header. Columns named in categorical are read
// as categories; with categorical nil, a column is categorical when one of
// its first 1,000 values is not a number. label names the label column
// (empty: there is none) and positive the label value that means 1 (empty:
// the label is numeric). Empty cells, "NA" and "?" are missing.
func ReadCSV(r io.Reader, label, positive string, categorical []string) (*Table, error) {
	cr := csv.NewReader(r)
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	header = slices.Clone(header)
	var buffered [][]string
	isCat := map[string]bool{}
	if categorical == nil {
		for len(buffered) < inferRows {
			rec, err := cr.Read()
			if err == io.EOF {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read csv line %d: %w", len(buffered)+2, err)
			}
			buffered = append(buffered, rec)
		}
		for i, h := range header {
			for _, rec := range buffered {
				v := strings.TrimSpace(rec[i])
				if v == "" || v == "NA" || v == "?" {
					continue
				}
				if _, err := parseNumber(v); err != nil {
					isCat[strings.TrimSpace(h)] = true
					break
				}
			}
		}
	}
	cr.ReuseRecord = true
	for _, c := range categorical {
		isCat[c] = true
	}
	t := &Table{}
	labelIdx := -1
	colOf := make([]int, len(header))
	for i, h := range header {
		h = strings.TrimSpace(h)
		if h == label {
			labelIdx, colOf[i] = i, -1
			continue
		}
		typ := model.Float
		if isCat[h] {
			typ = model.Categorical
		}
		colOf[i] = len(t.Columns)
		t.Columns = append(t.Columns, Column{Name: h, Type: typ})
	}
	if labelIdx < 0 && label != "" {
		return nil, fmt.Errorf("read csv: no label column %q in header", label)
	}
	line := 1
	for {
		var rec []string
		if line-1 < len(buffered) {
			rec = buffered[line-1]
		} else if rec, err = cr.Read(); err == io.EOF {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("read csv line %d: %w", line, err)
		}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			missing := v == "" || v == "NA" || v == "?"
			if i == labelIdx {
				var y float64
				switch {
				case positive != "":
					if v == positive {
						y = 1
					}
				default:
					if y, err = strconv.ParseFloat(v, 64); err != nil {
						return nil, fmt.Errorf("read csv line %d: label %q is not a number", line, v)
					}
				}
				t.Label = append(t.Label, y)
				continue
			}
			c := &t.Columns[colOf[i]]
			if c.Type == model.Categorical {
				if missing {
					v = ""
				}
				c.Cat = append(c.Cat, v)
				continue
			}
			x := math.NaN()
			if !missing {
				if x, err = parseNumber(v); err != nil {
					return nil, fmt.Errorf("read csv line %d: column %s: %q is not a number", line, c.Name, v)
				}
			}
			c.Num = append(c.Num, x)
		}
	}
	return t, nil
}

// Split returns the first frac of the rows and the rest.
// Strings returns a column's values as text (numbers formatted as
// strconv's 'g' shortest form), or nil if there is no such column: the
// values a slice of metrics is keyed by.
func (t *Table) Strings(name string) []string {
	for _, c := range t.Columns {
		if c.Name != name {
			continue
		}
		if c.Type == model.Categorical {
			return c.Cat
		}
		out := make([]string, len(c.Num))
		for i, v := range c.Num {
			out[i] = strconv.FormatFloat(v, 'g', -1, 64)
		}
		return out
	}
	return nil
}

func (t *Table) Split(frac float64) (*Table, *Table) {
	n := int(float64(t.Len()) * frac)
	a, b := &Table{Label: t.Label[:n]}, &Table{Label: t.Label[n:]}
	for _, c := range t.Columns {
		ca, cb := Column{Name: c.Name, Type: c.Type}, Column{Name: c.Name, Type: c.Type}
		if c.Type == model.Categorical {
			ca.Cat, cb.Cat = c.Cat[:n], c.Cat[n:]
		} else {
			ca.Num, cb.Num = c.Num[:n], c.Num[n:]
		}
		a.Columns, b.Columns = append(a.Columns, ca), append(b.Columns, cb)
	}
	return a, b
}

// Signature derives the model signature from the table: categories are
// ordered by frequency so the common ones get small codes.
func (t *Table) Signature() model.Signature {
	var sig model.Signature
	for _, c := range t.Columns {
		f := model.Feature{Name: c.Name, Type: c.Type, Nullable: true}
		if c.Type == model.Categorical {
			counts := map[string]int{}
			for _, v := range c.Cat {
				if v != "" {
					counts[v]++
				}
			}
			for v := range counts {
				f.Categories = append(f.Categories, v)
			}
			sort.Slice(f.Categories, func(i, j int) bool {
				a, b := f.Categories[i], f.Categories[j]
				if counts[a] != counts[b] {
					return counts[a] > counts[b]
				}
				return a < b
			})
		}
		sig.Features = append(sig.Features, f)
	}
	return sig
}

// Rows encodes the table as row vectors for sig, which must be the table's
// own signature (from Signature): numbers as they are, categories as their
// index in sig (NaN when missing or unseen).
func (t *Table) Rows(sig model.Signature) [][]float64 {
	cols := make([]*Column, len(t.Columns))
	for j := range t.Columns {
		cols[j] = &t.Columns[j]
	}
	return encode(cols, sig, t.Len())
}

// Encode encodes the table for a model's signature, matching columns by
// name: the way to score a file with a model trained elsewhere. A feature
// without a column is an error unless the model accepts it missing.
func (t *Table) Encode(sig model.Signature) ([][]float64, error) {
	byName := map[string]*Column{}
	for j := range t.Columns {
		byName[t.Columns[j].Name] = &t.Columns[j]
	}
	cols := make([]*Column, len(sig.Features))
	for j, f := range sig.Features {
		cols[j] = byName[f.Name]
		if cols[j] == nil && !f.Nullable {
			return nil, fmt.Errorf("the model needs column %q, which the data lacks", f.Name)
		}
	}
	return encode(cols, sig, t.Len()), nil
}

// Matrix is Encode as one row-major matrix, for batch prediction.
func (t *Table) Matrix(sig model.Signature) (model.Matrix, error) {
	rows, err := t.Encode(sig)
	if err != nil {
		return model.Matrix{}, err
	}
	width := len(sig.Features)
	m := model.Matrix{Rows: len(rows), Cols: width}
	if len(rows) > 0 {
		m.Data = rows[0][:len(rows)*width] // the rows share one backing array
	}
	return m, nil
}

// encode writes column cols[j] as feature j; a nil column is all missing.
// The rows share one contiguous backing array, in order.
func encode(cols []*Column, sig model.Signature, n int) [][]float64 {
	index := make([]map[string]int, len(sig.Features))
	for j, f := range sig.Features {
		if f.Type == model.Categorical && len(f.Categories) > 0 {
			index[j] = make(map[string]int, len(f.Categories))
			for i, c := range f.Categories {
				index[j][c] = i
			}
		}
	}
	width := len(sig.Features)
	rows := make([][]float64, n)
	flat := make([]float64, n*width)
	for i := range rows {
		rows[i] = flat[i*width : (i+1)*width]
		for j, c := range cols {
			switch {
			case c == nil:
				rows[i][j] = math.NaN()
			case index[j] == nil && c.Type != model.Categorical:
				rows[i][j] = c.Num[i] // a number, or a category code the model knows by number
			default:
				name := ""
				if c.Type == model.Categorical {
					name = c.Cat[i]
				} else if !math.IsNaN(c.Num[i]) {
					name = strconv.FormatFloat(c.Num[i], 'g', -1, 64)
				}
				if k, ok := index[j][name]; ok {
					rows[i][j] = float64(k)
				} else {
					rows[i][j] = math.NaN()
				}
			}
		}
	}
	return rows
}

// parseNumber reads a number, or a boolean as 1 or 0: the engines write
// boolean columns as true and false, and models read them as numbers.
func parseNumber(v string) (float64, error) {
	switch v {
	case "true":
		return 1, nil
	case "false":
		return 0, nil
	}
	return strconv.ParseFloat(v, 64)
}

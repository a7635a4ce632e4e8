// Package train holds plinth's built-in trainers. They read a Table and
// produce a *model.Model in the native format, so what training evaluates is
// exactly what serving scores.
package train

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
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
func (t *Table) Len() int { return len(t.Label) }

// ReadCSV reads a CSV with a header. Columns named in categorical are read
// as categories; label names the label column and positive the label value
// that means 1 (empty: the label is numeric). Empty cells, "NA" and "?" are
// missing.
func ReadCSV(r io.Reader, label, positive string, categorical []string) (*Table, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read csv header: %w", err)
	}
	isCat := map[string]bool{}
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
	if labelIdx < 0 {
		return nil, fmt.Errorf("read csv: no label column %q in header", label)
	}
	line := 1
	for {
		rec, err := cr.Read()
		if err == io.EOF {
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
				if x, err = strconv.ParseFloat(v, 64); err != nil {
					return nil, fmt.Errorf("read csv line %d: column %s: %q is not a number", line, c.Name, v)
				}
			}
			c.Num = append(c.Num, x)
		}
	}
	return t, nil
}

// Split returns the first frac of the rows and the rest.
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

// Rows encodes the table as row vectors for sig: numbers as they are,
// categories as their index in sig (NaN when missing or unseen).
func (t *Table) Rows(sig model.Signature) [][]float64 {
	index := make([]map[string]int, len(sig.Features))
	for j, f := range sig.Features {
		if f.Type == model.Categorical {
			index[j] = make(map[string]int, len(f.Categories))
			for i, c := range f.Categories {
				index[j][c] = i
			}
		}
	}
	rows := make([][]float64, t.Len())
	flat := make([]float64, t.Len()*len(t.Columns))
	for i := range rows {
		rows[i] = flat[i*len(t.Columns) : (i+1)*len(t.Columns)]
		for j, c := range t.Columns {
			if c.Type != model.Categorical {
				rows[i][j] = c.Num[i]
				continue
			}
			if k, ok := index[j][c.Cat[i]]; ok {
				rows[i][j] = float64(k)
			} else {
				rows[i][j] = math.NaN()
			}
		}
	}
	return rows
}

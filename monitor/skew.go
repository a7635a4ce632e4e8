package monitor

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// Skew compares the features an endpoint was served online with the
// features the offline store computes for the same entities and times —
// the training–serving skew check. A feature that disagrees often is
// computed, materialized or joined differently in the two paths, or the
// online store lags.
type Skew struct {
	Endpoint string        `json:"endpoint"`
	Service  string        `json:"service"`
	Sampled  int           `json:"sampled"`
	Features []SkewFeature `json:"features"` // most mismatched first
	// Skewed names the features that disagree on more than 1% of the
	// sampled requests.
	Skewed []string `json:"skewed"`
}

// SkewFeature is one feature's agreement between the paths.
type SkewFeature struct {
	Feature    string       `json:"feature"`
	Compared   int          `json:"compared"`
	Mismatched int          `json:"mismatched"`
	Rate       float64      `json:"rate"`
	Example    *SkewExample `json:"example,omitempty"`
}

// SkewExample is one disagreement.
type SkewExample struct {
	RequestID string `json:"request_id"`
	Online    any    `json:"online"`
	Offline   any    `json:"offline"`
}

// logged is a request by entity from the prediction log.
type logged struct {
	id      string
	at      time.Time
	request map[string]any
	inputs  map[string]any
}

// newestByEntity reads the newest sample requests by entity from the
// prediction log's files (oldest first, as Joiner.Files gives them), and
// the names of their keys. It reads the newest files one at a time until
// they hold the sample: the periodic checks must not scan a whole log that
// grows without end. And each file is read alone: the files of different
// model versions hold different features, which read together would merge
// into one struct, giving each record the other versions' features as
// NULL, like values that were missing.
func (j *Joiner) newestByEntity(ctx context.Context, files []string, sample int) ([]logged, map[string]bool, error) {
	var sampled []logged
	for i := len(files) - 1; i >= 0 && len(sampled) < sample; i-- {
		got, err := j.newestInFile(ctx, files[i], sample)
		if err != nil {
			return nil, nil, err
		}
		sampled = append(sampled, got...)
	}
	sort.SliceStable(sampled, func(a, b int) bool { return sampled[a].at.After(sampled[b].at) })
	sampled = sampled[:min(len(sampled), sample)]
	keys := map[string]bool{}
	for _, l := range sampled {
		for k := range l.request {
			keys[k] = true
		}
	}
	return sampled, keys, nil
}

// newestInFile reads a prediction log file's newest requests by entity.
// The served features are a struct in the files of this version, JSON text
// in older ones.
func (j *Joiner) newestInFile(ctx context.Context, file string, limit int) ([]logged, error) {
	rows, err := j.DB.QueryContext(ctx, fmt.Sprintf(`SELECT * FROM read_parquet(%s)
		WHERE request IS NOT NULL AND request <> '' ORDER BY time DESC LIMIT %d`, quoteList([]string{file}), limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var out []logged
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		var l logged
		ok := true
		for i, c := range cols {
			switch v := vals[i]; c {
			case "request_id":
				l.id, _ = v.(string)
			case "time":
				l.at, _ = v.(time.Time)
			case "request":
				s, _ := v.(string)
				ok = ok && json.Unmarshal([]byte(s), &l.request) == nil
			case "inputs":
				s, _ := v.(string)
				ok = ok && json.Unmarshal([]byte(s), &l.inputs) == nil
			case "features":
				l.inputs, _ = v.(map[string]any)
			}
		}
		if ok {
			out = append(out, l)
		}
	}
	return out, rows.Err()
}

// BuildOffline builds the point-in-time features of a feature service for
// a label table (CSV with a timestamp column) into a Parquet file.
type BuildOffline func(ctx context.Context, service, labels, timestamp, output string) error

// Skew samples the newest requests by entity from the prediction log and
// compares what serving used with what the offline store gives at the
// same times. workDir holds the temporary label table.
func (j *Joiner) Skew(ctx context.Context, predictions, service string, sample int, build BuildOffline, workDir string) (*Skew, error) {
	pf, err := j.Files(ctx, predictions)
	if err != nil {
		return nil, err
	}
	out := &Skew{Service: service, Features: []SkewFeature{}, Skewed: []string{}}
	if len(pf) == 0 {
		return out, nil
	}
	sampled, keys, err := j.newestByEntity(ctx, pf, sample)
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", predictions, err)
	}
	out.Sampled = len(sampled)
	if len(sampled) == 0 {
		return out, nil
	}
	// The label table: each request's keys and data, its time and id.
	cols := make([]string, 0, len(keys))
	for k := range keys {
		cols = append(cols, k)
	}
	sort.Strings(cols)
	dir, err := os.MkdirTemp(workDir, "skew-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	labels := filepath.Join(dir, "labels.csv")
	f, err := os.Create(labels)
	if err != nil {
		return nil, err
	}
	w := csv.NewWriter(f)
	w.Write(append([]string{"__request_id", "__time"}, cols...))
	for _, l := range sampled {
		rec := []string{l.id, l.at.UTC().Format(time.RFC3339Nano)}
		for _, c := range cols {
			if v, ok := l.request[c]; ok && v != nil {
				rec = append(rec, fmt.Sprint(v))
			} else {
				rec = append(rec, "")
			}
		}
		w.Write(rec)
	}
	w.Flush()
	if err := f.Close(); err != nil {
		return nil, err
	}
	built := filepath.Join(dir, "offline.parquet")
	if err := build(ctx, service, labels, "__time", built); err != nil {
		return nil, fmt.Errorf("offline features: %w", err)
	}
	offline, err := j.DB.QueryContext(ctx, fmt.Sprintf(`SELECT * FROM read_parquet(%s)`, quoteList([]string{built})))
	if err != nil {
		return nil, err
	}
	defer offline.Close()
	names, _ := offline.Columns()
	byID := map[string]logged{}
	for _, l := range sampled {
		byID[l.id] = l
	}
	stats := map[string]*SkewFeature{}
	vals := make([]any, len(names))
	ptrs := make([]any, len(names))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for offline.Next() {
		if err := offline.Scan(ptrs...); err != nil {
			return nil, err
		}
		var id string
		for i, n := range names {
			if n == "__request_id" {
				id = fmt.Sprint(vals[i])
			}
		}
		l, ok := byID[id]
		if !ok {
			continue
		}
		for i, n := range names {
			online, served := l.inputs[n]
			if !served {
				continue // not a feature the model read
			}
			s := stats[n]
			if s == nil {
				s = &SkewFeature{Feature: n}
				stats[n] = s
			}
			s.Compared++
			if !sameValue(online, vals[i]) {
				s.Mismatched++
				if s.Example == nil {
					s.Example = &SkewExample{RequestID: id, Online: online, Offline: vals[i]}
				}
			}
		}
	}
	for _, s := range stats {
		s.Rate = float64(s.Mismatched) / float64(s.Compared)
		out.Features = append(out.Features, *s)
		if s.Rate > 0.01 {
			out.Skewed = append(out.Skewed, s.Feature)
		}
	}
	sort.Slice(out.Features, func(a, b int) bool {
		if out.Features[a].Rate != out.Features[b].Rate {
			return out.Features[a].Rate > out.Features[b].Rate
		}
		return out.Features[a].Feature < out.Features[b].Feature
	})
	sort.Strings(out.Skewed)
	return out, offline.Err()
}

// sameValue compares a value served online (decoded from JSON) with the
// offline one (from DuckDB): numbers within a relative 1e-6, booleans and
// strings exactly, null only with null.
func sameValue(online, offline any) bool {
	num := func(v any) (float64, bool) {
		switch x := v.(type) {
		case float64:
			return x, true
		case float32:
			return float64(x), true
		case int64:
			return float64(x), true
		case int32:
			return float64(x), true
		case int:
			return float64(x), true
		case bool:
			if x {
				return 1, true
			}
			return 0, true
		}
		return 0, false
	}
	if online == nil || offline == nil {
		return online == nil && offline == nil
	}
	a, aok := num(online)
	b, bok := num(offline)
	if aok && bok {
		return math.Abs(a-b) <= 1e-6*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
	}
	return fmt.Sprint(online) == fmt.Sprint(offline)
}

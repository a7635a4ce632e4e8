// Package bundle is embedded inference: a model version exported with
// everything needed to score it inside another Go program, with no
// server — the model in the native format, its signature, and the
// on-demand features of its feature service, computed by the same code as
// in training and serving.
//
//	b, err := bundle.Open("delays-2.tar.gz")
//	out, err := b.Predict(map[string]any{"weather__temp": 31.0, "sched_hour": 18.0, ...})
//
// A bundle is a gzip-compressed tar of manifest.json and model.json.
package bundle

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/model"
)

// Manifest describes a bundle: where the model came from and the
// on-demand features it needs.
type Manifest struct {
	FormatVersion int                `json:"format_version"`
	Model         string             `json:"model"`
	Version       int                `json:"version"`
	ExportedAt    time.Time          `json:"exported_at"`
	RunID         string             `json:"run_id,omitempty"`
	Metrics       map[string]float64 `json:"metrics,omitempty"`
	// FeatureService is the service the version was trained on, with its
	// version; OnDemand are its on-demand features, computed from the
	// request and the other features before scoring.
	FeatureService        string             `json:"feature_service,omitempty"`
	FeatureServiceVersion int                `json:"feature_service_version,omitempty"`
	OnDemand              []feature.OnDemand `json:"on_demand,omitempty"`
}

// FormatVersion is the bundle layout this package writes and reads.
const FormatVersion = 1

// maxFile bounds one member of a bundle.
const maxFile = 512 << 20

// Write writes a bundle of m and its manifest.
func Write(w io.Writer, man Manifest, m *model.Model) error {
	man.FormatVersion = FormatVersion
	mj, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	var mb bytes.Buffer
	if err := m.Encode(&mb); err != nil {
		return err
	}
	zw := gzip.NewWriter(w)
	tw := tar.NewWriter(zw)
	for _, f := range []struct {
		name string
		body []byte
	}{{"manifest.json", mj}, {"model.json", mb.Bytes()}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), ModTime: man.ExportedAt}); err != nil {
			return err
		}
		if _, err := tw.Write(f.body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return zw.Close()
}

// Bundle is an opened bundle, ready to score; safe for concurrent use.
type Bundle struct {
	Manifest  Manifest
	Model     *model.Model
	predictor *model.Predictor
	onDemand  *feature.Program
}

// Open reads a bundle file.
func Open(path string) (*Bundle, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return b, nil
}

// Read reads a bundle; a damaged or foreign file is an EINVALID error.
func Read(r io.Reader) (*Bundle, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, plinth.Invalid("bundle", "not a gzip file: %v", err)
	}
	tr := tar.NewReader(zr)
	files := map[string][]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, plinth.Invalid("bundle", "not a tar archive: %v", err)
		}
		if h.Size > maxFile {
			return nil, plinth.Invalid("bundle", "%s is larger than %d bytes", h.Name, maxFile)
		}
		body, err := io.ReadAll(io.LimitReader(tr, maxFile))
		if err != nil {
			return nil, plinth.Invalid("bundle", "%s: %v", h.Name, err)
		}
		files[h.Name] = body
	}
	var man Manifest
	if err := json.Unmarshal(files["manifest.json"], &man); err != nil {
		return nil, plinth.Invalid("manifest.json", "%v", err)
	}
	if man.FormatVersion != FormatVersion {
		return nil, plinth.Invalid("manifest.json.format_version", "%d, this plinth reads %d", man.FormatVersion, FormatVersion)
	}
	m, err := model.Decode(bytes.NewReader(files["model.json"]))
	if err != nil {
		return nil, fmt.Errorf("model.json: %w", err)
	}
	p, err := model.Compile(m)
	if err != nil {
		return nil, err
	}
	b := &Bundle{Manifest: man, Model: m, predictor: p}
	if len(man.OnDemand) > 0 {
		var inputs []string
		names := map[string]bool{}
		for _, od := range man.OnDemand {
			names[od.Name] = true
		}
		for _, f := range m.Signature.Features {
			if !names[f.Name] {
				inputs = append(inputs, f.Name)
			}
		}
		if b.onDemand, err = feature.Compile(man.OnDemand, inputs); err != nil {
			return nil, fmt.Errorf("manifest.json: on-demand features: %w", err)
		}
	}
	return b, nil
}

// Predict scores one instance: its features by name, and the request data
// the on-demand features read (as in a training set's label table). The
// on-demand features are computed first, by the code training used.
func (b *Bundle) Predict(instance map[string]any) ([]float64, error) {
	values := instance
	if b.onDemand != nil {
		values = make(map[string]any, len(instance)+len(b.Manifest.OnDemand))
		features := map[string]any{}
		for k, v := range instance {
			if b.Model.Signature.Index(k) >= 0 {
				values[k] = v
				features[k] = v
			}
		}
		for i, v := range b.onDemand.Eval(instance, features) {
			values[b.onDemand.Names()[i]] = v
		}
	}
	row := make([]float64, b.Model.NumFeatures())
	if err := b.Model.Signature.EncodeRow(values, row); err != nil {
		return nil, err
	}
	out := make([]float64, b.predictor.NumOutputs())
	if err := b.predictor.PredictRow(row, out); err != nil {
		return nil, err
	}
	return out, nil
}

// Package formats reads a model file in any format plinth understands —
// the native format, XGBoost JSON, LightGBM text — into a *model.Model,
// telling the format from the content when the caller does not know it.
// The registry records a version's format with the names used here.
package formats

import (
	"bytes"
	"io"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/model"
	"github.com/plinthml/plinth/model/lightgbm"
	"github.com/plinthml/plinth/model/xgboost"
)

// Format names, as the registry records them.
const (
	Native   = "plinth"
	XGBoost  = "xgboost-json"
	LightGBM = "lightgbm-text"
)

// MaxFileSize bounds a model file read into memory.
const MaxFileSize = 1 << 30

// Detect names the format of a model file from its first bytes, or returns
// "" when it is none of them.
func Detect(data []byte) string {
	head := bytes.TrimSpace(data[:min(len(data), 64<<10)])
	switch {
	case bytes.HasPrefix(head, []byte("{")):
		if bytes.Contains(head, []byte(`"learner"`)) {
			return XGBoost
		}
		if bytes.Contains(head, []byte(`"format_version"`)) {
			return Native
		}
	case bytes.HasPrefix(head, []byte("tree\n")), bytes.HasPrefix(head, []byte("tree\r\n")):
		return LightGBM
	}
	return ""
}

// Parse reads a model file in the given format ("" to detect it).
func Parse(data []byte, format string) (*model.Model, error) {
	if format == "" {
		if format = Detect(data); format == "" {
			return nil, plinth.Invalid("model", "not a model file plinth reads (native JSON, XGBoost JSON or LightGBM text)")
		}
	}
	switch format {
	case Native:
		return model.Parse(data)
	case XGBoost:
		return xgboost.Parse(data)
	case LightGBM:
		return lightgbm.Parse(data)
	}
	return nil, plinth.Invalid("format", "%q is not one of %s, %s, %s", format, Native, XGBoost, LightGBM)
}

// Read reads a whole model file from r (at most MaxFileSize bytes) and
// parses it.
func Read(r io.Reader, format string) (*model.Model, string, error) {
	data, err := model.ReadAll(r, MaxFileSize)
	if err != nil {
		return nil, "", err
	}
	if format == "" {
		format = Detect(data)
	}
	m, err := Parse(data, format)
	return m, format, err
}

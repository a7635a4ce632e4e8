package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/plinthml/plinth"
)

// Limits bound what a model file may make this package allocate, so that a
// hostile file is an error rather than an out-of-memory kill. They are far
// above what real models need (a 2,000-tree depth-10 ensemble has ~4M nodes
// only if every tree is full).
const (
	MaxFileBytes   = 256 << 20 // size of a model file
	MaxNodes       = 1 << 22   // nodes over all trees
	MaxTreeNodes   = 1 << 20   // nodes in one tree
	MaxTrees       = 1 << 20   // trees in an ensemble
	MaxDepth       = 256       // depth of a tree (TreeSHAP's scratch is quadratic in it)
	MaxFeatures    = 1 << 17   // features in a signature (wide sparse models are not plinth's tabular case)
	MaxClasses     = 1 << 12   // outputs of a multiclass model
	MaxCategory    = 1 << 20   // largest category index a split may name
	MaxJSONObjects = 1 << 23   // JSON objects in a file (checked before decoding)
	MaxJSONValues  = 1 << 25   // JSON array elements and object members in a file
)

// ReadAll reads r to its end, failing once it passes limit bytes: model
// files are read whole, and never more than limit of them.
func ReadAll(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read model: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, plinth.Errorf(plinth.EINVALID, "model file is larger than the limit of %d bytes", limit)
	}
	return data, nil
}

// Decode reads a native model from r (at most MaxFileBytes) and validates it.
func Decode(r io.Reader) (*Model, error) {
	data, err := ReadAll(r, MaxFileBytes)
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// Parse parses and validates a native model file. Unknown fields are an
// error: a file written by a newer plinth carries a newer format_version and
// is refused by name rather than silently misread.
func Parse(data []byte) (*Model, error) {
	if len(data) > MaxFileBytes {
		return nil, plinth.Errorf(plinth.EINVALID, "model file is larger than the limit of %d bytes", MaxFileBytes)
	}
	if err := CheckJSONShape(data, MaxJSONObjects, MaxJSONValues); err != nil {
		return nil, err
	}
	m := new(Model)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	err := dec.Decode(m)
	if err == nil {
		if _, tail := dec.Token(); tail != io.EOF {
			return nil, plinth.Errorf(plinth.EINVALID, "model file has data after its JSON document (at byte %d)", dec.InputOffset())
		}
	}
	if err != nil || m.FormatVersion != FormatVersion {
		// A future file must get a version error, not an unknown-field
		// error; only a failed parse pays for this second look.
		var head struct {
			FormatVersion *int `json:"format_version"`
		}
		if json.Unmarshal(data, &head) == nil {
			if head.FormatVersion == nil {
				return nil, plinth.Invalid("format_version", "missing: not a plinth model file")
			}
			if *head.FormatVersion != FormatVersion {
				return nil, plinth.Invalid("format_version", "version %d is not supported (this build reads %d)", *head.FormatVersion, FormatVersion)
			}
		}
		if err != nil {
			return nil, JSONError(err)
		}
	}
	p, err := Compile(m)
	if err != nil {
		return nil, err
	}
	m.compiled.Store(p)
	return m, nil
}

// Encode writes m in the native format, after validating it.
func (m *Model) Encode(w io.Writer) error {
	if err := m.Validate(); err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return fmt.Errorf("encode model: %w", err)
	}
	return nil
}

// JSONError turns an encoding/json error into an EINVALID error that names
// the field (for type errors) or the byte offset (for syntax errors).
func JSONError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return plinth.Errorf(plinth.EINVALID, "model file is truncated: %v", err)
	case errors.As(err, &syn) && strings.Contains(syn.Error(), "unexpected end of JSON input"):
		return plinth.Errorf(plinth.EINVALID, "model file is truncated: the JSON document ends early (%d bytes)", syn.Offset)
	case errors.As(err, &syn):
		return plinth.Errorf(plinth.EINVALID, "model file is not valid JSON at byte %d: %v", syn.Offset, syn)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(document)"
		}
		return plinth.Invalid(field, "cannot hold a JSON %s (at byte %d)", typ.Value, typ.Offset)
	}
	return plinth.Errorf(plinth.EINVALID, "model file: %v", err)
}

// CheckJSONShape scans data once, without allocating, and fails if it is
// nested deeper than 64 levels, holds more than maxObjects JSON objects or
// more than maxValues array elements and object members (counted by their
// commas). encoding/json would otherwise happily build tens of gigabytes of
// structs from a few hundred megabytes of "{},{},{}".
func CheckJSONShape(data []byte, maxObjects, maxValues int) error {
	objects, values, depth := 0, 0, 0
	for i := 0; i < len(data); i++ {
		c := data[i]
		if !shapeByte[c] {
			continue // most of a model file: digits, letters, spaces
		}
		switch c {
		case '"':
			// Skip the string to its closing quote, escapes included. An
			// unterminated one ends the scan: the decoder reports it.
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '{', '[':
			depth++
			if depth > 64 {
				return plinth.Errorf(plinth.EINVALID, "model file nests JSON deeper than 64 levels (at byte %d)", i)
			}
			if c == '{' {
				objects++
				if objects > maxObjects {
					return plinth.Errorf(plinth.EINVALID, "model file has more than %d JSON objects", maxObjects)
				}
			}
		case '}', ']':
			depth--
		case ',':
			values++
			if values > maxValues {
				return plinth.Errorf(plinth.EINVALID, "model file has more than %d JSON values", maxValues)
			}
		}
	}
	return nil
}

// shapeByte marks the bytes CheckJSONShape looks at.
var shapeByte = [256]bool{'"': true, '{': true, '[': true, '}': true, ']': true, ',': true}

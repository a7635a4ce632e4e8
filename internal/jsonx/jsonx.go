// Package jsonx appends JSON for the hot paths that encoding/json's
// reflection makes slow: flat maps and slices of plain values (numbers,
// strings, booleans, null), as the prediction log and the online feature
// API write them.
package jsonx

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"
)

// AppendObject appends m as a JSON object with sorted keys. keys holds
// the sorted keys of the previous call and is returned for the next: maps
// with the same keys (a model's features, record after record) are not
// sorted again.
func AppendObject(b []byte, keys []string, m map[string]any) ([]byte, []string) {
	if !sameKeys(keys, m) {
		keys = keys[:0]
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
	}
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		b = AppendValue(b, m[k])
	}
	return append(b, '}'), keys
}

// AppendFields appends the JSON object whose keys are names, in their
// order, and whose values are values (the same length).
func AppendFields(b []byte, names []string, values []any) []byte {
	b = append(b, '{')
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = AppendString(b, n)
		b = append(b, ':')
		b = AppendValue(b, values[i])
	}
	return append(b, '}')
}

// sameKeys reports whether m's keys are those of keys, which are distinct.
func sameKeys(keys []string, m map[string]any) bool {
	if len(keys) != len(m) {
		return false
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return false
		}
	}
	return true
}

// AppendValue appends v as JSON. NaN and infinities, which JSON cannot
// hold, become null; types other than nil, float64, int64, int, string
// and bool go through encoding/json (null if it fails).
func AppendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case nil:
		return append(b, "null"...)
	case float64:
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return append(b, "null"...)
		}
		return strconv.AppendFloat(b, v, 'g', -1, 64)
	case int64:
		return strconv.AppendInt(b, v, 10)
	case int:
		return strconv.AppendInt(b, int64(v), 10)
	case string:
		return AppendString(b, v)
	case bool:
		return strconv.AppendBool(b, v)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, j...)
}

// AppendString appends s as a JSON string; invalid UTF-8 becomes U+FFFD,
// as with encoding/json.
func AppendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\\ufffd"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

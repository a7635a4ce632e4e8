package duckdb

import "strings"

//go:generate go test . -run TestKeywords -update

// FieldName writes a name as DuckDB writes it in a type, as a field of a
// STRUCT: bare when it is a plain identifier (letters, digits and
// underscores, not starting with a digit) that is none of DuckDB's
// keywords, of any category, and quoted otherwise. A recorded type then
// reads as the engine's own (DESCRIBE, typeof): STRUCT("time" DOUBLE,
// dep_delay DOUBLE), not STRUCT(time DOUBLE, ...).
func FieldName(name string) string {
	if name != "" && isPlain(name) {
		if _, kw := keywords[strings.ToLower(name)]; !kw {
			return name
		}
	}
	return quote(name)
}

// isPlain reports whether s is letters, digits and underscores, not
// starting with a digit.
func isPlain(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

package duckdb

// Keywords lists keywords.go's keywords, for the test that compares them
// with the linked DuckDB's.
func Keywords() []string {
	out := make([]string, 0, len(keywords))
	for k := range keywords {
		out = append(out, k)
	}
	return out
}

//go:build !amd64

package train

// histRowsFast adds rows to h over all nf features.
func histRowsFast(h []histBin, bins []uint8, nf int, gh []float32, rows []int32) {
	histRowsAll(h[:nf*256], bins, nf, gh, rows)
}

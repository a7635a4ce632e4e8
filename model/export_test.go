package model

// RowMajorWalk lets the benchmarks compare the two batch strategies.
var RowMajorWalk = &rowMajorWalk

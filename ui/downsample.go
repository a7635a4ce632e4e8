package ui

import "math"

// Point is one point of a chart series.
type Point struct{ X, Y float64 }

// LTTB downsamples points (sorted by X) to at most threshold points with
// Largest-Triangle-Three-Buckets (Steinarsson, 2013): the first and last
// points stay, and from each of threshold-2 equal buckets in between it
// keeps the point that spans the largest triangle with the point kept
// before it and the mean of the next bucket. Unlike averaging it keeps
// spikes and the visual shape, so a 100k-step loss curve drawn from 1,000
// points looks like the whole series. It runs in one pass, O(len(points)).
//
// Series no longer than threshold (or a threshold under 3) come back as
// they are.
func LTTB(points []Point, threshold int) []Point {
	n := len(points)
	if threshold >= n || threshold < 3 {
		return points
	}
	out := make([]Point, 0, threshold)
	out = append(out, points[0])
	// Buckets split the points between the first and the last.
	every := float64(n-2) / float64(threshold-2)
	a := 0 // index of the point kept last
	for i := 0; i < threshold-2; i++ {
		// The mean of the next bucket is the third corner.
		nextStart := int(math.Floor(float64(i+1)*every)) + 1
		nextEnd := min(int(math.Floor(float64(i+2)*every))+1, n)
		if nextStart >= nextEnd {
			nextStart, nextEnd = n-1, n
		}
		var avgX, avgY float64
		for j := nextStart; j < nextEnd; j++ {
			avgX += points[j].X
			avgY += points[j].Y
		}
		cnt := float64(nextEnd - nextStart)
		avgX /= cnt
		avgY /= cnt

		start := int(math.Floor(float64(i)*every)) + 1
		end := int(math.Floor(float64(i+1)*every)) + 1
		pa := points[a]
		best, bestArea := start, -1.0
		for j := start; j < end; j++ {
			area := math.Abs((pa.X-avgX)*(points[j].Y-pa.Y) - (pa.X-points[j].X)*(avgY-pa.Y))
			if area > bestArea {
				best, bestArea = j, area
			}
		}
		out = append(out, points[best])
		a = best
	}
	return append(out, points[n-1])
}

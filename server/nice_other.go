//go:build !unix

package server

// lowerPriority leaves the priority as it is where there is no nice.
func lowerPriority() {}

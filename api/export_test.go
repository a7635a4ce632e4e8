package api

// TimersArmed is how many request deadlines have armed a timer.
func TimersArmed() int64 { return timersArmed.Load() }

// PredictionRoutes lists the routes a token limited to endpoints may call.
func PredictionRoutes() []string {
	out := make([]string, 0, len(predictionRoutes))
	for r := range predictionRoutes {
		out = append(out, r)
	}
	return out
}

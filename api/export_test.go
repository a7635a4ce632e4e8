package api

// TimersArmed is how many request deadlines have armed a timer.
func TimersArmed() int64 { return timersArmed.Load() }

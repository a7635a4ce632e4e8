package pipeline

import (
	"fmt"
	"regexp"

	"github.com/google/cel-go/cel"
)

var metricName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// evalCondition evaluates a gate condition, a CEL expression over the
// metrics as numbers: "auc >= 0.7 && delta_auc > 0.001". A metric the
// expression names but the step did not compute is an error, not false.
func evalCondition(expr string, metrics map[string]float64) (bool, error) {
	opts := []cel.EnvOption{cel.CrossTypeNumericComparisons(true)}
	vars := map[string]any{}
	for n, v := range metrics {
		if metricName.MatchString(n) {
			opts = append(opts, cel.Variable(n, cel.DoubleType))
			vars[n] = v
		}
	}
	env, err := cel.NewEnv(opts...)
	if err != nil {
		return false, err
	}
	ast, iss := env.Compile(expr)
	if iss.Err() != nil {
		return false, fmt.Errorf("%q: %v (the metrics are %s)", expr, iss.Err(), formatMetrics(metrics))
	}
	if ast.OutputType() != cel.BoolType {
		return false, fmt.Errorf("%q is a %s, not a condition", expr, ast.OutputType())
	}
	prg, err := env.Program(ast)
	if err != nil {
		return false, err
	}
	out, _, err := prg.Eval(vars)
	if err != nil {
		return false, fmt.Errorf("%q: %v", expr, err)
	}
	b, _ := out.Value().(bool)
	return b, nil
}

package tune_test

import (
	"context"
	"fmt"
	"log"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/plinthml/plinth/train"
	"github.com/plinthml/plinth/train/tune"
)

// A search over gradient-boosted trees as a pipeline step runs it: the
// configuration from YAML, each trial trained by TrainGBT with its
// validation log loss reported per round so that ASHA can stop the trials
// that trail.
func Example() {
	const step = `
trials: 30
parallel: 2
seed: 1
asha: {min_resource: 5, eta: 3}
space:
  max_depth:     {int: [2, 8]}
  learning_rate: {log_uniform: [0.01, 0.3]}
  subsample:     {uniform: [0.5, 1]}
`
	var cfg tune.Config
	dec := yaml.NewDecoder(strings.NewReader(step))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil {
		log.Fatal(err)
	}
	trainT, valid := loadTables()
	base := train.DefaultGBTParams()
	base.Threads = 1 // the trials share the cores

	res, err := tune.Run(context.Background(), cfg, func(ctx context.Context, t *tune.Trial) (float64, error) {
		// Here a pipeline would open a child run for t.Number with t.Params,
		// log each round from the report callback, and close it.
		_, logLoss, err := tune.TrainGBT(ctx, t, trainT, valid, base, nil)
		return logLoss, err
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("best", res.Best.Params, res.Best.Value)
	for _, p := range res.Curve {
		fmt.Println("after trial", p.Trial, "best", p.Best)
	}
}

// loadTables stands for reading the training and validation sets.
func loadTables() (trainT, valid *train.Table) { return &train.Table{}, &train.Table{} }

package demo_test

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/plinthml/plinth/demo"
)

// TestDemo runs the main job as a user would with --exit and checks what it
// claims: real learning, a search that beats the baseline, the registry and
// the champion alias moved to the winner.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	res, err := demo.Run(context.Background(), demo.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Exit: true, Out: &out})
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	if res.Runs != 9 {
		t.Errorf("tracked %d runs, want 9 (baseline, search parent, 7 trials)", res.Runs)
	}
	if res.BestAUC < 0.91 || res.TestAUC < 0.92 {
		t.Errorf("best validation AUC %.4f, test AUC %.4f: the models did not learn", res.BestAUC, res.TestAUC)
	}
	if res.Quarantined != 200 {
		t.Errorf("quarantined %d rows of the corrupted batch, want all 200", res.Quarantined)
	}
	if res.Champion != 2 {
		t.Errorf("champion = v%d, want v2 (the search winner)", res.Champion)
	}
	if res.ServedVersion != 2 || res.ServedAUC < res.TestAUC-1e-9 || res.ServedAUC > res.TestAUC+1e-9 {
		t.Errorf("endpoint served v%d with AUC %.6f; want v2 scoring the offline test AUC %.6f", res.ServedVersion, res.ServedAUC, res.TestAUC)
	}
	for _, want := range []string{"endpoint income serves v2", "version 1 (22792 rows)", "quarantined whole", "age: below min 17 (50)", "baseline  run", "search    best trial", "champion moved v1 -> v2", "alias.set v2 @champion", "done in"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("narration lacks %q:\n%s", want, out.String())
		}
	}
}

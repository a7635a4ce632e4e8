package demo_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinthml/plinth/demo"
)

// TestDemo runs the main job as a user would with --exit and checks the
// story it tells: the quarantine, the first model, the drift alert, the
// performance drop, the retraining the alert started, the promotion of a
// better challenger and the automatic rollback of a broken one.
func TestDemo(t *testing.T) {
	var out bytes.Buffer
	res, err := demo.Run(context.Background(), demo.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", Exit: true, Out: &out})
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	if res.Quarantined != 200 {
		t.Errorf("quarantined %d rows of the corrupted batch, want all 200", res.Quarantined)
	}
	if res.FirstVersion != 1 || res.FirstAUC < 0.65 {
		t.Errorf("first model v%d, holdout AUC %.4f: it did not learn", res.FirstVersion, res.FirstAUC)
	}
	if len(res.Months) != 5 {
		t.Fatalf("served %d months, want April to August", len(res.Months))
	}
	drifted, dropped := false, false
	for _, m := range res.Months {
		if m.Served == 0 || m.P99 <= 0 {
			t.Errorf("%s: served %d", m.Name, m.Served)
		}
		drifted = drifted || m.DriftShare >= 0.3 && strings.Contains(strings.Join(m.Drifted, " "), "weather__")
		dropped = dropped || m.AUC > 0 && m.AUC < res.FirstAUC-0.03
	}
	if !drifted {
		t.Errorf("no month shows the weather drifting: %+v", res.Months)
	}
	if !dropped {
		t.Errorf("no month shows the performance drop against the holdout AUC %.3f: %+v", res.FirstAUC, res.Months)
	}
	if len(res.Alerts) == 0 || res.Alerts[0] != "drift" {
		t.Errorf("alerts %v, want the drift alert first", res.Alerts)
	}
	if res.RetrainRun == "" || res.Challenger != 2 || res.ChallengerAUC <= res.ChampionAUC {
		t.Errorf("retraining run %q registered v%d with AUC %.4f against the champion's %.4f", res.RetrainRun, res.Challenger, res.ChallengerAUC, res.ChampionAUC)
	}
	if !res.Promoted {
		t.Error("the challenger's canary was not promoted")
	}
	if res.BadVersion != 3 || !res.RolledBack || !strings.Contains(res.RollbackReason, "mean prediction") {
		t.Errorf("broken v%d: rolled back %v (%q)", res.BadVersion, res.RolledBack, res.RollbackReason)
	}
	if b, err := os.ReadFile(filepath.Join(res.DataDir, "report.html")); err != nil || !bytes.Contains(b, []byte("<svg")) {
		t.Errorf("the HTML report has no plots: %v", err)
	}
	for _, want := range []string{"quarantined whole", "reference profile frozen", "alert     drift", "promote   the gate promoted delays@2", "rollback  the gate rolled delays@3 back", "done"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("narration lacks %q:\n%s", want, out.String())
		}
	}
}

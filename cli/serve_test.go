package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestEndpointCommands(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	trainCSV := filepath.Join(dir, "train.csv")
	gunzipTo(t, "../demo/data/adult_train.csv.gz", trainCSV)
	m := filepath.Join(dir, "m.json")
	run(t, "model", "train", "--data", trainCSV, "--label", "income", "--positive", ">50K", "--param", "rounds=20", "-o", m)
	for i := 0; i < 2; i++ {
		run(t, "models", "register", "income", "--file", m, "--data", data)
	}
	run(t, "models", "alias", "income", "champion", "1", "--data", data)
	if out := run(t, "endpoints", "deploy", "income", "income@champion", "--reason", "launch", "--data", data); !strings.Contains(out, "serves income@1 (champion)") {
		t.Fatalf("deploy: %s", out)
	}
	out := run(t, "endpoints", "predict", "income", "--input", "age=39", "--input", "workclass=State-gov", "--input", "education_num=13", "--explain", "2", "--data", data)
	if !strings.Contains(out, "income version 1") || strings.Count(out, "\n") < 4 {
		t.Fatalf("predict:\n%s", out)
	}
	run(t, "endpoints", "deploy", "income", "income@2", "--data", data)
	if out := run(t, "endpoints", "rollback", "income", "--data", data); !strings.Contains(out, "rolled back to income@1") {
		t.Fatalf("rollback: %s", out)
	}
	if out := run(t, "endpoints", "history", "income", "--data", data); strings.Count(out, "\n") != 4 || !strings.Contains(out, "launch") {
		t.Fatalf("history:\n%s", out)
	}
	if out := run(t, "endpoints", "--data", data); !strings.Contains(out, "income    single    income@1") {
		t.Fatalf("list:\n%s", out)
	}
	out = run(t, "endpoints", "deploy", "income", "income@1", "--strategy", "canary", "--candidate", "income@2", "--weight", "0.1",
		"--gate-window", "30m", "--gate-min-requests", "50", "--output", "json", "--data", data)
	if !strings.Contains(out, `"window": "30m0s"`) || !strings.Contains(out, `"min_requests": 50`) {
		t.Fatalf("canary with gate: %s", out)
	}
}

package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
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
	// The prediction log shows what that request's model read, by the
	// request id the answer carried.
	_, id, _ := strings.Cut(out, "(request ")
	id, _, _ = strings.Cut(id, ")")
	trace := run(t, "endpoints", "trace", "income", id, "--data", data)
	if !strings.Contains(trace, "income version 1, stable") || !strings.Contains(trace, "request "+id) || !regexp.MustCompile(`(?m)^  age +39$`).MatchString(trace) {
		t.Fatalf("trace %s:\n%s", id, trace)
	}
	var stdout, stderr bytes.Buffer
	env := &Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	if code := Main(context.Background(), []string{"endpoints", "trace", "income", "no-such-request", "--data", data}, env); code == 0 || !strings.Contains(stderr.String(), `prediction of request "no-such-request" not found`) {
		t.Fatalf("trace of an unknown request: exit %d, %s", code, stderr.String())
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
	// Blue-green: green is loaded beside blue and answers only the
	// requests that ask for it, until promote switches everything.
	run(t, "endpoints", "deploy", "income", "income@1", "--strategy", "bluegreen", "--candidate", "income@2", "--data", data)
	predict := func(args ...string) string {
		return run(t, append([]string{"endpoints", "predict", "income", "--input", "age=39", "--data", data}, args...)...)
	}
	for range 20 {
		if out := predict(); !strings.Contains(out, "income version 1, stable") {
			t.Fatalf("blue answers everyone: %s", out)
		}
	}
	if out := predict("--variant", "candidate"); !strings.Contains(out, "income version 2, candidate") {
		t.Fatalf("green answers its smoke test: %s", out)
	}
	run(t, "endpoints", "promote", "income", "--reason", "smoke tests passed", "--data", data)
	if out := predict(); !strings.Contains(out, "income version 2, stable") {
		t.Fatalf("after the switch: %s", out)
	}
	if out := run(t, "endpoints", "rollback", "income", "--data", data); !strings.Contains(out, "income@1") {
		t.Fatalf("switch back: %s", out)
	}
}

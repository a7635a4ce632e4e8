package cli

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// runFails runs a command that must fail and returns what it printed on
// standard error.
func runFails(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errOut := runMain(args...)
	if code == 0 {
		t.Fatalf("plinth %s succeeded:\n%s", strings.Join(args, " "), out)
	}
	return errOut
}

// A server started with --auth makes an admin token on its first start,
// and only then; the admin makes tokens for others, each can do what its
// role allows, and a revoked one stops working. Server and client are
// separate processes, as for a user.
func TestTokens(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	data := filepath.Join(t.TempDir(), "data")
	ready := regexp.MustCompile(`addr=(http://[0-9.:]+)`)
	start := func() (*proc, string) {
		p := startPlinth(t, "server", "--auth", "--data", data, "--addr", "127.0.0.1:0")
		waitFor(t, "the server", 60*time.Second, func() bool { return ready.MatchString(p.out.String()) })
		return p, ready.FindStringSubmatch(p.out.String())[1]
	}
	p, url := start()
	m := regexp.MustCompile(`(?m)^    (plt_[a-z0-9]+)$`).FindStringSubmatch(p.out.String())
	if m == nil {
		t.Fatalf("no admin token printed:\n%s", p.out.String())
	}
	admin := m[1]

	if msg := runFails(t, "experiments", "list", "--url", url); !strings.Contains(msg, "requires a token") || !strings.Contains(msg, "(unauthorized)") {
		t.Errorf("without a token: %s", msg)
	}
	ci := strings.TrimSpace(run(t, "tokens", "create", "ci", "--role", "editor", "--url", url, "--token", admin))
	viewer := strings.TrimSpace(run(t, "tokens", "create", "dash", "--role", "viewer", "--ttl", "1h", "--url", url, "--token", admin))
	run(t, "experiments", "create", "churn", "--url", url, "--token", ci)
	if out := run(t, "experiments", "list", "--url", url, "--token", viewer); !strings.Contains(out, "churn") {
		t.Errorf("viewer's list: %s", out)
	}
	if msg := runFails(t, "experiments", "create", "other", "--url", url, "--token", viewer); !strings.Contains(msg, "(forbidden)") {
		t.Errorf("viewer's create: %s", msg)
	}
	if msg := runFails(t, "tokens", "create", "sneaky", "--role", "admin", "--url", url, "--token", ci); !strings.Contains(msg, "needs admin") {
		t.Errorf("editor making a token: %s", msg)
	}
	// A token an application embeds predicts on its endpoints only.
	app := strings.TrimSpace(run(t, "tokens", "create", "app", "--role", "viewer", "--endpoints", "delays,fraud", "--url", url, "--token", admin))
	if msg := runFails(t, "experiments", "list", "--url", url, "--token", app); !strings.Contains(msg, "may only call the prediction routes of endpoint delays, fraud") {
		t.Errorf("a token limited to endpoints listing experiments: %s", msg)
	}
	// An editor ingests a batch, one row of which fails the spec.
	dir := t.TempDir()
	spec, batch := filepath.Join(dir, "weather.yaml"), filepath.Join(dir, "weather.csv")
	if err := os.WriteFile(spec, []byte("columns: [{name: temp, type: float, not_null: true}]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(batch, []byte("origin,temp\nJFK,39\nLGA,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, "datasets", "spec", "weather", spec, "--url", url, "--token", ci)
	run(t, "datasets", "ingest", "weather", batch, "--url", url, "--token", ci)
	list := run(t, "tokens", "list", "--url", url, "--token", admin)
	if !regexp.MustCompile(`(?m)^ci +editor +all .* admin +never +`).MatchString(list) || !regexp.MustCompile(`(?m)^app +viewer +delays,fraud +`).MatchString(list) || !regexp.MustCompile(`(?m)^admin +admin .* plinth +never +`).MatchString(list) || strings.Contains(list, "plt_") {
		t.Errorf("tokens list:\n%s", list)
	}
	// Expiry, then last use: the admin's use is recorded off the request's
	// path, a write that may wait for SQLite's lock behind the requests'.
	used := regexp.MustCompile(`(?m)^admin +admin .* plinth +never +\d{4}-`)
	waitFor(t, "the admin token's use to be recorded", 10*time.Second, func() bool {
		return used.MatchString(run(t, "tokens", "list", "--url", url, "--token", admin))
	})
	run(t, "tokens", "revoke", "ci", "--url", url, "--token", admin)
	if msg := runFails(t, "experiments", "list", "--url", url, "--token", ci); !strings.Contains(msg, "unknown or revoked token") {
		t.Errorf("a revoked token: %s", msg)
	}
	if list := run(t, "tokens", "list", "--url", url, "--token", admin); strings.Contains(list, "ci ") {
		t.Errorf("tokens in force list the revoked one:\n%s", list)
	}
	if list := run(t, "tokens", "list", "--revoked", "--url", url, "--token", admin); !regexp.MustCompile(`(?m)^ci +editor .* by admin *$`).MatchString(list) {
		t.Errorf("tokens list --revoked:\n%s", list)
	}

	// The audit trail shows who made and revoked which token, and who
	// ingested which batch.
	trail := run(t, "audit", "--url", url, "--token", admin)
	for _, want := range []string{`plinth +token\.create +token admin \(admin\)`, `admin +token\.create +token ci \(editor\)`, `admin +token\.revoke +token ci \(editor\)`,
		`ci +dataset\.spec +dataset weather`, `ci +dataset\.ingest +dataset weather version 1 +1 rows from \S*/weather\.csv`, `ci +dataset\.quarantine +dataset weather quarantine \S+ +1 rows from \S*/weather\.csv`} {
		if !regexp.MustCompile(want).MatchString(trail) {
			t.Errorf("audit has no %s:\n%s", want, trail)
		}
	}
	if mine := run(t, "audit", "--principal", "plinth", "--since", "1h", "--url", url, "--token", admin); strings.Count(mine, "\n") != 2 {
		t.Errorf("audit --principal plinth:\n%s", mine)
	}

	// A restart keeps the tokens and makes no second admin.
	p.kill9(t)
	p, url = start()
	if strings.Contains(p.out.String(), "plt_") {
		t.Errorf("the second start printed a token:\n%s", p.out.String())
	}
	run(t, "experiments", "list", "--url", url, "--token", viewer)
}

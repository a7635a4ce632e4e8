package track

import (
	"strconv"
	"strings"
	"testing"

	"github.com/plinthml/plinth"
)

func TestParseFilter(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // rendering of the AST, or "error: <substring>"
	}{
		{"", "<all>"},
		{"metrics.auc > 0.9", "metrics.auc > 0.9"},
		{`params.depth = "6"`, `params.depth = "6"`},
		{`params.depth == '6'`, `params.depth = "6"`},
		{"params.lr <= 0.01", "params.lr <= 0.01"},
		{`metrics.auc > 0.9 and params.depth = "6"`, `(metrics.auc > 0.9 AND params.depth = "6")`},
		{`a.b = 1 or metrics.x < 2`, "error: unknown field kind"},
		{`status = "failed" or not (tags.x like "a%" and metrics.m >= 1)`, `(attributes.status = "failed" OR NOT (tags.x like "a%" AND metrics.m >= 1))`},
		{`tags.team in ("a", 'b')`, `tags.team in [a b]`},
		{`tags.team not in ("a")`, `tags.team not in [a]`},
		{"metrics.loss is null", "metrics.loss is null"},
		{"METRICS.loss IS NOT NULL", "metrics.loss is not null"},
		{"metrics.`val loss` < 1", "metrics.val loss < 1"},
		{`run_id = "abc"`, `attributes.id = "abc"`},
		{`start_time > "2026-01-02T03:04:05Z"`, "attributes.start_time > 1.767323045e+15"},
		{`start_time > "yesterday"`, "error: RFC 3339"},
		{`metrics.auc = "high"`, "error: compares with a number"},
		{`metrics.auc like "a"`, "error: cannot be used"},
		{`metrics.auc in (1, 2)`, "error: cannot be used"},
		{"metrics.auc >", "error: want a number or a quoted string"},
		{"metrics.auc > 1 and", "error: want a field"},
		{"(metrics.auc > 1", "error: want ) to close"},
		{"metrics.auc > 1)", "error: unexpected"},
		{`params.x = "unterminated`, "error: unterminated"},
		{"metrics.auc ~ 1", "error: unexpected character"},
		{"attributes.colour = 1", "error: unknown attribute"},
		{"metrics. > 1", "error: no name after the dot"},
		{strings.Repeat("(", 100) + "metrics.a > 1" + strings.Repeat(")", 100), "error: nested deeper"},
		{strings.Repeat("not ", 100) + "metrics.a > 1", "error: nested deeper"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			f, err := ParseFilter(tc.in)
			if strings.HasPrefix(tc.want, "error: ") {
				if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(tc.want, "error: ")) {
					t.Fatalf("ParseFilter(%q) error = %v, want one containing %q", tc.in, err, strings.TrimPrefix(tc.want, "error: "))
				}
				if !plinth.IsCode(err, plinth.EINVALID) {
					t.Fatalf("error code = %q, want invalid", plinth.ErrorCode(err))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := render(f.Expr); got != tc.want {
				t.Fatalf("ParseFilter(%q) = %s, want %s", tc.in, got, tc.want)
			}
		})
	}
}

func render(e Expr) string {
	switch e := e.(type) {
	case nil:
		return "<all>"
	case *And:
		return join(e.Terms, " AND ")
	case *Or:
		return join(e.Terms, " OR ")
	case *Not:
		return "NOT " + render(e.X)
	case *Cmp:
		s := e.Field.String() + " " + string(e.Op)
		switch {
		case e.Op == OpIsNull || e.Op == OpIsNotNull:
		case e.Values != nil:
			s += " [" + strings.Join(e.Values, " ") + "]"
		case e.Numeric:
			s += " " + strconv.FormatFloat(e.Num, 'g', -1, 64)
		default:
			s += " " + `"` + e.Str + `"`
		}
		return s
	}
	return "?"
}

func join(terms []Expr, sep string) string {
	parts := make([]string, len(terms))
	for i, t := range terms {
		parts[i] = render(t)
	}
	return "(" + strings.Join(parts, sep) + ")"
}

func TestParseOrder(t *testing.T) {
	keys, err := ParseOrder([]string{"metrics.auc desc", "name", "params.`learning rate` ASC"})
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 3 || !keys[0].Desc || keys[1].Field != (Field{KindAttribute, "name"}) || keys[2].Field.Name != "learning rate" || keys[2].Desc {
		t.Fatalf("ParseOrder = %+v", keys)
	}
	for _, bad := range [][]string{{"metrics.auc up"}, {""}, {"bogus.x"}, {"a b c"}} {
		if _, err := ParseOrder(bad); !plinth.IsCode(err, plinth.EINVALID) {
			t.Errorf("ParseOrder(%q) error = %v, want invalid", bad, err)
		}
	}
}

// FuzzParseFilter checks the parser never panics and that anything it
// accepts renders back to something it accepts again.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		`metrics.auc > 0.9 and params.depth = "6"`, `tags.t in ("a", "b") or not status = 'x'`,
		"metrics.`a b` is not null", `start_time >= "2026-01-01T00:00:00Z"`, `((((metrics.a < -1e9))))`,
		`params.x like 'a''b%'`, `p.x = 1`, `m.x != 2 AND t.y NOT IN ('z')`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		flt, err := ParseFilter(s)
		if err != nil {
			if !plinth.IsCode(err, plinth.EINVALID) {
				t.Fatalf("ParseFilter(%q) error %v is not invalid", s, err)
			}
			return
		}
		_ = render(flt.Expr)
	})
}

package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/api"
	"github.com/plinthml/plinth/auth"
)

func runTokens(ctx context.Context, e *Env, args []string) error {
	sub, args := subcommand(args, "list")
	f := newFlags(e, "tokens "+sub)
	role := f.String("role", "", "viewer (reads and predictions), editor (also changes) or admin (also tokens) (create)")
	ttl := f.Duration("ttl", 0, "lifetime, e.g. 720h; 0: never expires (create)")
	endpoints := f.String("endpoints", "", "comma-separated endpoints: the viewer token may call only their prediction routes (create)")
	revoked := f.Bool("revoked", false, "also list revoked tokens, with who revoked them and when (list)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	switch sub {
	case "list":
		ts, err := c.Tokens(ctx, *revoked)
		if err != nil {
			return err
		}
		return f.emit(e, ts, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "NAME\tROLE\tENDPOINTS\tCREATED\tBY\tEXPIRES\tLAST USED\tREVOKED")
			for _, t := range ts {
				scope := "all"
				if t.Endpoints != nil {
					scope = strings.Join(t.Endpoints, ",")
				}
				expires, used, revoked := "never", "never", ""
				if t.ExpiresAt != nil {
					expires = t.ExpiresAt.Local().Format(time.DateTime)
				}
				if t.LastUsedAt != nil {
					used = t.LastUsedAt.Local().Format(time.DateTime)
				}
				if t.RevokedAt != nil {
					revoked = t.RevokedAt.Local().Format(time.DateTime) + " by " + t.RevokedBy
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, t.Role, scope, t.CreatedAt.Local().Format(time.DateTime), t.CreatedBy, expires, used, revoked)
			}
		})
	case "create":
		if len(pos) != 1 {
			return usagef("usage: plinth tokens create NAME --role viewer|editor|admin [--ttl 720h] [--endpoints E1,E2 (viewers)]")
		}
		if *role == "" {
			return usagef("--role: give viewer, editor or admin")
		}
		req := api.CreateTokenRequest{Name: pos[0], Role: auth.Role(*role), TTL: plinth.Duration(*ttl)}
		if *endpoints != "" {
			req.Endpoints = strings.Split(*endpoints, ",")
		}
		t, err := c.CreateToken(ctx, req)
		if err != nil {
			return err
		}
		if f.output == "json" {
			return f.emit(e, t, nil)
		}
		fmt.Fprintln(e.Stdout, t.Secret)
		scope := ""
		if t.Endpoints != nil {
			scope = ", prediction on " + strings.Join(t.Endpoints, ", ") + " only"
		}
		fmt.Fprintf(e.Stderr, "token %s (%s%s) created; the secret above is shown this once\n", t.Name, t.Role, scope)
		return nil
	case "revoke":
		if len(pos) != 1 {
			return usagef("usage: plinth tokens revoke NAME")
		}
		if err := c.RevokeToken(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "revoked %s\n", pos[0])
		return nil
	}
	return usagef("unknown subcommand %q: want list, create or revoke", sub)
}

func runAudit(ctx context.Context, e *Env, args []string) error {
	f := newFlags(e, "audit")
	principal := f.String("principal", "", "only this principal's changes")
	since := f.Duration("since", 0, "only changes in this past span, e.g. 24h")
	limit := f.Int("limit", 100, "at most this many entries")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	q := auth.AuditQuery{Principal: *principal, Limit: *limit}
	if *since > 0 {
		q.Since = time.Now().Add(-*since)
	}
	entries, err := c.AuditTrail(ctx, q)
	if err != nil {
		return err
	}
	return f.emit(e, entries, func(w *tabwriter.Writer) {
		fmt.Fprintln(w, "TIME\tWHO\tACTION\tOBJECT\tREASON")
		for _, x := range entries {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", x.Time.Local().Format(time.DateTime), x.Principal, x.Action, x.Object, x.Reason)
		}
	})
}

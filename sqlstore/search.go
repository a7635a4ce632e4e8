package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/plinthml/plinth/track"
)

// SearchRuns compiles the query to one SQL statement that selects the IDs of
// a page of runs, then loads those runs whole (loadRuns).
//
// Top-level conjuncts that require a metric, param or tag become inner
// joins on its (run_id, key) row, so the planner can start from the most
// selective (key, value) index instead of scanning every run; the rest (or,
// not, is null, attributes) are WHERE conditions. Ordering by a metric that
// is also filtered on reuses the filter's join, which lets SQLite walk the
// (key, value) index in order and stop after one page.
func (s *Store) SearchRuns(ctx context.Context, q track.Query) ([]track.Run, bool, error) {
	var terms []track.Expr
	if q.Filter != nil && q.Filter.Expr != nil {
		terms = []track.Expr{q.Filter.Expr}
		if and, ok := q.Filter.Expr.(*track.And); ok {
			terms = and.Terms
		}
	}
	filterJoin := map[string]string{} // metric name -> alias of its filter join
	for i, term := range terms {
		if c, ok := term.(*track.Cmp); ok && joinable(c) && c.Field.Kind == track.KindMetric {
			filterJoin[c.Field.Name] = fmt.Sprintf("f%d", i)
		}
	}

	var sb strings.Builder
	var joinArgs, whereArgs []any
	sb.WriteString(`SELECT r.id FROM runs r`)

	var orderTerms []string
	for i, k := range q.OrderBy {
		dir := " ASC"
		if k.Desc {
			dir = " DESC"
		}
		alias := fmt.Sprintf("o%d", i)
		switch k.Field.Kind {
		case track.KindMetric:
			if f, ok := filterJoin[k.Field.Name]; ok {
				orderTerms = append(orderTerms, f+".value"+dir)
				continue
			}
			fmt.Fprintf(&sb, ` LEFT JOIN latest_metrics %s ON %s.run_id = r.id AND %s.key = ?`, alias, alias, alias)
			joinArgs = append(joinArgs, k.Field.Name)
			orderTerms = append(orderTerms, alias+".value"+dir+" NULLS LAST")
		case track.KindParam, track.KindTag:
			fmt.Fprintf(&sb, ` LEFT JOIN %s %s ON %s.run_id = r.id AND %s.key = ?`, tableOf(k.Field.Kind), alias, alias, alias)
			joinArgs = append(joinArgs, k.Field.Name)
			// Numbers sort as numbers and before text; runs without the
			// key sort last either way.
			orderTerms = append(orderTerms, alias+".num_value"+dir+" NULLS LAST", alias+".value"+dir+" NULLS LAST")
		case track.KindAttribute:
			orderTerms = append(orderTerms, "r."+k.Field.Name+dir+" NULLS LAST")
		}
	}

	var where []string
	if len(q.ExperimentIDs) > 0 {
		where = append(where, `r.experiment_id IN (`+placeholders(len(q.ExperimentIDs))+`)`)
		for _, id := range q.ExperimentIDs {
			whereArgs = append(whereArgs, id)
		}
	}
	for i, term := range terms {
		if c, ok := term.(*track.Cmp); ok && joinable(c) {
			alias := fmt.Sprintf("f%d", i)
			fmt.Fprintf(&sb, ` JOIN %s %s ON %s.run_id = r.id AND %s.key = ?`, tableOf(c.Field.Kind), alias, alias, alias)
			joinArgs = append(joinArgs, c.Field.Name)
			if c.Op != track.OpIsNotNull {
				sb.WriteString(" AND " + valueCond(alias+"."+valueColumn(c), c, &joinArgs))
			}
			continue
		}
		cond, err := compileExpr(term, &whereArgs)
		if err != nil {
			return nil, false, err
		}
		where = append(where, cond)
	}
	if len(where) > 0 {
		sb.WriteString(" WHERE ")
		sb.WriteString(strings.Join(where, " AND "))
	}
	orderTerms = append(orderTerms, "r.start_time DESC", "r.id")
	sb.WriteString(" ORDER BY ")
	sb.WriteString(strings.Join(orderTerms, ", "))
	sb.WriteString(" LIMIT ? OFFSET ?")

	args := append(joinArgs, whereArgs...)
	args = append(args, q.Limit+1, q.Offset)
	rows, err := s.query(ctx, s.db, sb.String(), args...)
	if err != nil {
		return nil, false, fmt.Errorf("search runs: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("search runs: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("search runs: %w", err)
	}
	more := len(ids) > q.Limit
	if more {
		ids = ids[:q.Limit]
	}
	runs, err := s.loadRuns(ctx, s.db, ids)
	return runs, more, err
}

var attributeColumns = map[string]string{
	"id": "r.id", "name": "r.name", "status": "r.status", "experiment_id": "r.experiment_id",
	"parent_id": "r.parent_id", "note": "r.note", "start_time": "r.start_time", "end_time": "r.end_time",
}

func compileExpr(e track.Expr, args *[]any) (string, error) {
	switch e := e.(type) {
	case *track.And:
		return compileTerms(e.Terms, " AND ", args)
	case *track.Or:
		return compileTerms(e.Terms, " OR ", args)
	case *track.Not:
		x, err := compileExpr(e.X, args)
		if err != nil {
			return "", err
		}
		return "NOT (" + x + ")", nil
	case *track.Cmp:
		return compileCmp(e, args)
	}
	return "", fmt.Errorf("search runs: unknown filter node %T", e)
}

func compileTerms(terms []track.Expr, sep string, args *[]any) (string, error) {
	parts := make([]string, len(terms))
	for i, t := range terms {
		p, err := compileExpr(t, args)
		if err != nil {
			return "", err
		}
		parts[i] = p
	}
	return "(" + strings.Join(parts, sep) + ")", nil
}

// compileCmp turns one comparison into a condition on r.
func compileCmp(c *track.Cmp, args *[]any) (string, error) {
	if c.Field.Kind == track.KindAttribute {
		col := attributeColumns[c.Field.Name]
		isTime := track.Attributes[c.Field.Name] == track.AttrTime
		switch c.Op {
		case track.OpIsNull, track.OpIsNotNull:
			cond := col + " = ''"
			if isTime {
				cond = col + " IS NULL"
			}
			if c.Op == track.OpIsNotNull {
				cond = "NOT (" + cond + ")"
			}
			return cond, nil
		}
		if isTime {
			// Bind an integer: PostgreSQL infers the parameter's type from
			// the BIGINT column.
			*args = append(*args, int64(c.Num))
			return col + " " + string(c.Op) + " ?", nil
		}
		return valueCond(col, c, args), nil
	}

	*args = append(*args, c.Field.Name)
	sub := "SELECT run_id FROM " + tableOf(c.Field.Kind) + " WHERE key = ?"
	switch c.Op {
	case track.OpIsNull:
		return "r.id NOT IN (" + sub + ")", nil
	case track.OpIsNotNull:
		return "r.id IN (" + sub + ")", nil
	}
	return "r.id IN (" + sub + " AND " + valueCond(valueColumn(c), c, args) + ")", nil
}

// joinable reports whether a comparison can only hold for runs that have
// the key, so it can be an inner join.
func joinable(c *track.Cmp) bool {
	return c.Field.Kind != track.KindAttribute && c.Op != track.OpIsNull
}

func tableOf(k track.Kind) string {
	switch k {
	case track.KindParam:
		return "run_params"
	case track.KindTag:
		return "run_tags"
	}
	return "latest_metrics"
}

// valueColumn is the column a comparison reads: params and tags compare
// numerically through num_value.
func valueColumn(c *track.Cmp) string {
	if c.Numeric && c.Field.Kind != track.KindMetric {
		return "num_value"
	}
	return "value"
}

// valueCond compares column col with the comparison's value(s).
func valueCond(col string, c *track.Cmp, args *[]any) string {
	switch c.Op {
	case track.OpIn, track.OpNotIn:
		for _, v := range c.Values {
			*args = append(*args, v)
		}
		op := " IN ("
		if c.Op == track.OpNotIn {
			op = " NOT IN ("
		}
		return col + op + placeholders(len(c.Values)) + ")"
	case track.OpLike:
		*args = append(*args, c.Str)
		return col + " LIKE ?"
	case track.OpILike:
		*args = append(*args, c.Str)
		return "LOWER(" + col + ") LIKE LOWER(?)"
	}
	if c.Numeric {
		*args = append(*args, c.Num)
	} else {
		*args = append(*args, c.Str)
	}
	return col + " " + string(c.Op) + " ?"
}

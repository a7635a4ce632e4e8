package sqlstore

import (
	"context"
	"fmt"
	"strings"

	"github.com/plinthml/plinth/track"
)

// SearchRuns compiles the query to one SQL statement that selects the IDs of
// a page of runs, then loads those runs whole. Filters on metrics, params
// and tags become IN-subqueries that the (key, value) indexes answer, so a
// selective filter never scans every run.
func (s *Store) SearchRuns(ctx context.Context, q track.Query) ([]track.Run, bool, error) {
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
			fmt.Fprintf(&sb, ` LEFT JOIN latest_metrics %s ON %s.run_id = r.id AND %s.key = ?`, alias, alias, alias)
			joinArgs = append(joinArgs, k.Field.Name)
			orderTerms = append(orderTerms, alias+".value"+dir+" NULLS LAST")
		case track.KindParam, track.KindTag:
			table := "run_params"
			if k.Field.Kind == track.KindTag {
				table = "run_tags"
			}
			fmt.Fprintf(&sb, ` LEFT JOIN %s %s ON %s.run_id = r.id AND %s.key = ?`, table, alias, alias, alias)
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
	if q.Filter != nil && q.Filter.Expr != nil {
		cond, err := compileExpr(q.Filter.Expr, &whereArgs)
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

	table, valueCol := "latest_metrics", "value"
	switch c.Field.Kind {
	case track.KindParam:
		table = "run_params"
	case track.KindTag:
		table = "run_tags"
	}
	if c.Numeric && c.Field.Kind != track.KindMetric {
		valueCol = "num_value"
	}
	*args = append(*args, c.Field.Name)
	sub := "SELECT run_id FROM " + table + " WHERE key = ?"
	switch c.Op {
	case track.OpIsNull:
		return "r.id NOT IN (" + sub + ")", nil
	case track.OpIsNotNull:
		return "r.id IN (" + sub + ")", nil
	}
	return "r.id IN (" + sub + " AND " + valueCond(valueCol, c, args) + ")", nil
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

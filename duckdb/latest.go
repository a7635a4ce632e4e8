package duckdb

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/feature"
)

var _ feature.Latester = (*Engine)(nil)

// Latest streams, for every entity, its newest row (by event time, then
// ingestion time when the view has one) among the view's rows, in batches.
// Keys come out as text, the way online lookups encode them.
func (e *Engine) Latest(ctx context.Context, spec feature.LatestSpec) (int64, error) {
	v := spec.View
	src, err := viewRelation(v)
	if err != nil {
		return 0, plinth.Invalid("view.source", "%s", plinth.ErrorMessage(err))
	}
	ev := "epoch_us(CAST(" + quote(v.Timestamp) + " AS TIMESTAMPTZ))"
	ing := "0"
	if v.Ingested != "" {
		ing = "epoch_us(CAST(" + quote(v.Ingested) + " AS TIMESTAMPTZ))"
	}
	var keyParts []string
	for _, k := range spec.Keys {
		keyParts = append(keyParts, "CAST("+quote(k)+" AS VARCHAR)")
	}
	keyExpr := "concat_ws(" + literal(feature.KeySeparator) + ", " + strings.Join(keyParts, ", ") + ")"
	var cols []string
	for _, f := range v.Features {
		cols = append(cols, quote(f))
	}
	q := "SELECT " + keyExpr + " AS __key, " + ev + " AS __ev, " + ing + " AS __ing, " + strings.Join(cols, ", ") +
		" FROM " + src + " WHERE " + ev + " IS NOT NULL" +
		" QUALIFY row_number() OVER (PARTITION BY " + strings.Join(quoteAll(spec.Keys), ", ") + " ORDER BY __ev DESC, __ing DESC) = 1"
	if len(v.Aggregations) > 0 {
		// A windowed aggregation's value at At: the last change point of
		// its step function at or before At — an event, or an event
		// leaving a window, so an entity whose events all aged out reads
		// count 0 and a null mean, as a training set would at At.
		if spec.At.IsZero() {
			return 0, plinth.Invalid("at", "aggregating %s online needs the time to aggregate at", v.Name)
		}
		at := spec.At.UnixMicro()
		var aggCols []string
		for _, f := range v.Features {
			aggCols = append(aggCols, quote(feature.Column(v.Name, f)))
		}
		q = "SELECT " + keyExpr + " AS __key, " + fmt.Sprint(at) + " AS __ev, 0 AS __ing, " + strings.Join(aggCols, ", ") +
			" FROM (" + aggregateSQL(v, spec.Keys, src, ev, "") + ") WHERE __ev <= " + fmt.Sprint(at) +
			" QUALIFY row_number() OVER (PARTITION BY " + strings.Join(quoteAll(spec.Keys), ", ") + " ORDER BY __ev DESC) = 1"
	}
	rows, err := e.db.QueryContext(ctx, q)
	if err != nil {
		return 0, plinth.Invalid("view", "materialization query for %s failed: %v", v.Name, err)
	}
	defer rows.Close()
	size := spec.BatchSize
	if size <= 0 {
		size = 4096
	}
	batch := make([]feature.LatestRow, 0, size)
	var n int64
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := spec.Emit(batch)
		batch = batch[:0]
		return err
	}
	for rows.Next() {
		var key *string
		var evUS, ingUS int64
		vals := make([]any, len(v.Features))
		dest := []any{&key, &evUS, &ingUS}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return n, fmt.Errorf("materialize %s: %w", v.Name, err)
		}
		if key == nil {
			continue // an entity key is null: nothing can look it up
		}
		batch = append(batch, feature.LatestRow{Key: *key, EventTime: time.UnixMicro(evUS).UTC(), Values: vals})
		n++
		if len(batch) == size {
			if err := flush(); err != nil {
				return n, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return n, fmt.Errorf("materialize %s: %w", v.Name, err)
	}
	if err := flush(); err != nil {
		return n, err
	}
	return n, nil
}

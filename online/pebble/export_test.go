package pebble

import pebbledb "github.com/cockroachdb/pebble/v2"

// SetRaw stores data as the record of (view, key) without any check, so
// tests can damage a record.
func (s *Store) SetRaw(view, key string, data []byte) error {
	return s.db.Set(appendKey(nil, view, key), data, pebbledb.Sync)
}

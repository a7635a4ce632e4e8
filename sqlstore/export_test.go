package sqlstore

import "context"

// Exec runs a statement on the store's database, for tests that set up
// rows the API cannot write.
func (s *Store) Exec(ctx context.Context, query string, args ...any) error {
	_, err := s.exec(ctx, s.db, query, args...)
	return err
}

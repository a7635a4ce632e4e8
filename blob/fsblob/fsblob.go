// Package fsblob stores blobs in a local directory: the embedded default.
//
// Layout: ROOT/sha256/ab/abcdef... holds the blob whose digest starts with
// "ab"; ROOT/tmp holds uploads in progress. A blob is written to tmp, synced,
// and renamed into place, then the directory is synced: a crash at any point
// leaves either no blob or the whole blob, never a partial one.
package fsblob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/plinthml/plinth/blob"
)

var _ blob.Store = (*Store)(nil)

// Store is a blob.Store over a local directory.
type Store struct {
	root string
}

// Open returns a Store rooted at dir, creating it if needed, and removes
// uploads left behind by a crash more than an hour ago.
func Open(dir string) (*Store, error) {
	s := &Store{root: dir}
	for _, d := range []string{s.tmpDir(), filepath.Join(dir, "sha256")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("open blob store: %w", err)
		}
	}
	s.sweepTmp(time.Hour)
	return s, nil
}

func (s *Store) tmpDir() string { return filepath.Join(s.root, "tmp") }

func (s *Store) path(d blob.Digest) string {
	h := d.Hex()
	return filepath.Join(s.root, "sha256", h[:2], h)
}

// sweepTmp removes temp files older than age. Younger ones may belong to a
// Put running in another process on the same directory.
func (s *Store) sweepTmp(age time.Duration) {
	entries, err := os.ReadDir(s.tmpDir())
	if err != nil {
		return
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			os.Remove(filepath.Join(s.tmpDir(), e.Name()))
		}
	}
}

// Put streams r to a temp file while hashing it, then moves it into place.
func (s *Store) Put(ctx context.Context, r io.Reader) (blob.Info, error) {
	tmp, err := os.CreateTemp(s.tmpDir(), "put-*")
	if err != nil {
		return blob.Info{}, fmt.Errorf("put blob: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()

	h := blob.NewHasher()
	if _, err := io.Copy(io.MultiWriter(tmp, h), ctxReader{ctx, r}); err != nil {
		return blob.Info{}, fmt.Errorf("put blob: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return blob.Info{}, fmt.Errorf("put blob: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return blob.Info{}, fmt.Errorf("put blob: %w", err)
	}
	info := h.Info()
	// Once in place, the temporary file is the blob; when the blob was
	// there already, the deferred cleanup drops the copy.
	committed, err = s.place(tmp.Name(), info.Digest)
	if err != nil {
		return blob.Info{}, fmt.Errorf("put blob: %w", err)
	}
	return info, nil
}

// place renames a complete, synced file into place as the blob d and
// syncs its directory. It reports false, and leaves the file, when the
// blob is stored already. Rename is atomic: two concurrent writers of the
// same bytes both succeed and leave identical content in place.
func (s *Store) place(path string, d blob.Digest) (moved bool, err error) {
	dst := s.path(d)
	if _, err := os.Stat(dst); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return false, err
	}
	if err := os.Chmod(path, 0o444); err != nil {
		return false, err
	}
	if err := os.Rename(path, dst); err != nil {
		return false, err
	}
	if err := syncDir(filepath.Dir(dst)); err != nil {
		return true, fmt.Errorf("sync dir: %w", err)
	}
	return true, nil
}

// Move implements blob.Mover: it syncs the file and renames it into
// place, as Put does with its temporary copy.
func (s *Store) Move(ctx context.Context, path string, info blob.Info) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("move blob: %w", err)
	}
	if _, err := blob.ParseDigest(string(info.Digest)); err != nil {
		return fmt.Errorf("move blob %s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("move blob: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() != info.Size {
		err = fmt.Errorf("%s holds %d bytes, not the %d its digest was computed over", path, st.Size(), info.Size)
	}
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return fmt.Errorf("move blob: %w", err)
	}
	moved, err := s.place(path, info.Digest)
	if err != nil {
		return fmt.Errorf("move blob: %w", err)
	}
	if !moved {
		return os.Remove(path) // stored already
	}
	return nil
}

// Open returns a verifying reader over the blob.
func (s *Store) Open(ctx context.Context, d blob.Digest) (io.ReadCloser, error) {
	f, err := os.Open(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, blob.NotFound(d)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return blob.VerifyReader(f, d), nil
}

// Stat returns the blob's size without reading it.
func (s *Store) Stat(ctx context.Context, d blob.Digest) (blob.Info, error) {
	fi, err := os.Stat(s.path(d))
	if errors.Is(err, fs.ErrNotExist) {
		return blob.Info{}, blob.NotFound(d)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", d, err)
	}
	return blob.Info{Digest: d, Size: fi.Size()}, nil
}

// Delete removes the blob if it exists.
func (s *Store) Delete(ctx context.Context, d blob.Digest) error {
	err := os.Remove(s.path(d))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// Path returns the file holding d. Readers that need random access (Parquet
// snapshots, DuckDB) use it; they must not write to it.
func (s *Store) Path(d blob.Digest) string { return s.path(d) }

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// ctxReader stops a long copy when the request is cancelled.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

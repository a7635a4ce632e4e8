// Package blobtest is the contract every blob.Store implementation passes.
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
)

// Corrupter damages a stored blob in place, so the suite can check that reads
// detect it.
type Corrupter func(t *testing.T, s blob.Store, d blob.Digest)

// Run runs the contract suite against the store returned by open; each
// subtest gets a fresh, empty store. corrupt may be nil for a store whose
// bytes the test cannot reach.
func Run(t *testing.T, open func(t *testing.T) blob.Store, corrupt Corrupter) {
	ctx := context.Background()

	t.Run("PutOpenRoundTrip", func(t *testing.T) {
		s := open(t)
		data := []byte("hello, plinth")
		info, err := s.Put(ctx, bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		want := digestOf(data)
		if info.Digest != want || info.Size != int64(len(data)) {
			t.Fatalf("Put = %+v, want digest %s size %d", info, want, len(data))
		}
		if got := readAll(t, s, info.Digest); !bytes.Equal(got, data) {
			t.Fatalf("read back %q, want %q", got, data)
		}
		st, err := s.Stat(ctx, info.Digest)
		if err != nil || st != info {
			t.Fatalf("Stat = %+v, %v; want %+v", st, err, info)
		}
	})

	t.Run("Move", func(t *testing.T) {
		s := open(t)
		m, ok := s.(blob.Mover)
		if !ok {
			t.Skip("the store cannot take files by moving them")
		}
		data := []byte("a prediction log batch")
		h := blob.NewHasher()
		h.Write(data)
		info := h.Info()
		path := filepath.Join(t.TempDir(), "batch.parquet")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		short := info
		short.Size--
		if err := m.Move(ctx, path, short); err == nil {
			t.Fatal("Move with the wrong size succeeded")
		}
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("a failed Move lost the file: %v", err)
		}
		if err := m.Move(ctx, path, info); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the file is still there after Move: %v", err)
		}
		if got := readAll(t, s, info.Digest); !bytes.Equal(got, data) {
			t.Fatalf("read back %q, want %q", got, data)
		}
		// The same bytes again: already stored, the file is dropped.
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := m.Move(ctx, path, info); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("the file is still there after a second Move: %v", err)
		}
	})

	t.Run("Empty", func(t *testing.T) {
		s := open(t)
		info, err := s.Put(ctx, bytes.NewReader(nil))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != 0 || info.Digest != digestOf(nil) {
			t.Fatalf("Put(empty) = %+v", info)
		}
		if got := readAll(t, s, info.Digest); len(got) != 0 {
			t.Fatalf("read back %d bytes, want 0", len(got))
		}
	})

	t.Run("Dedup", func(t *testing.T) {
		s := open(t)
		a, err := s.Put(ctx, strings.NewReader("same bytes"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Put(ctx, strings.NewReader("same bytes"))
		if err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Fatalf("same content stored as %v and %v", a, b)
		}
	})

	t.Run("Large", func(t *testing.T) {
		// Larger than any single buffer or multipart part an implementation
		// might use, so streaming paths are exercised.
		s := open(t)
		data := make([]byte, 17<<20+123)
		rand.Read(data)
		info, err := s.Put(ctx, onlyReader{bytes.NewReader(data)})
		if err != nil {
			t.Fatal(err)
		}
		if info.Digest != digestOf(data) || info.Size != int64(len(data)) {
			t.Fatalf("Put = %+v", info)
		}
		if got := readAll(t, s, info.Digest); !bytes.Equal(got, data) {
			t.Fatal("large blob read back differs")
		}
	})

	t.Run("NotFound", func(t *testing.T) {
		s := open(t)
		d := digestOf([]byte("never stored"))
		if _, err := s.Open(ctx, d); !plinth.IsCode(err, plinth.ENOTFOUND) {
			t.Fatalf("Open(missing) error = %v, want not_found", err)
		}
		if _, err := s.Stat(ctx, d); !plinth.IsCode(err, plinth.ENOTFOUND) {
			t.Fatalf("Stat(missing) error = %v, want not_found", err)
		}
		if err := s.Delete(ctx, d); err != nil {
			t.Fatalf("Delete(missing) = %v, want nil", err)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		info, err := s.Put(ctx, strings.NewReader("to delete"))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, info.Digest); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Stat(ctx, info.Digest); !plinth.IsCode(err, plinth.ENOTFOUND) {
			t.Fatalf("Stat after Delete error = %v, want not_found", err)
		}
	})

	t.Run("FailedReaderStoresNothing", func(t *testing.T) {
		s := open(t)
		data := []byte("partial upload that breaks")
		_, err := s.Put(ctx, io.MultiReader(bytes.NewReader(data), errReader{}))
		if err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		if _, err := s.Stat(ctx, digestOf(data)); !plinth.IsCode(err, plinth.ENOTFOUND) {
			t.Fatalf("partial blob is visible: Stat error = %v", err)
		}
	})

	t.Run("ConcurrentSamePut", func(t *testing.T) {
		s := open(t)
		data := bytes.Repeat([]byte("concurrent "), 10000)
		var wg sync.WaitGroup
		errs := make([]error, 8)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = s.Put(ctx, bytes.NewReader(data))
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if got := readAll(t, s, digestOf(data)); !bytes.Equal(got, data) {
			t.Fatal("concurrent puts corrupted the blob")
		}
	})

	if corrupt != nil {
		t.Run("CorruptionDetected", func(t *testing.T) {
			s := open(t)
			info, err := s.Put(ctx, strings.NewReader("precious model bytes"))
			if err != nil {
				t.Fatal(err)
			}
			corrupt(t, s, info.Digest)
			rc, err := s.Open(ctx, info.Digest)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if _, err := io.ReadAll(rc); !errors.Is(err, blob.ErrCorrupt) {
				t.Fatalf("reading a corrupted blob: error = %v, want ErrCorrupt", err)
			}
		})
	}
}

func digestOf(b []byte) blob.Digest {
	h := blob.NewHasher()
	h.Write(b)
	return h.Info().Digest
}

func readAll(t *testing.T, s blob.Store, d blob.Digest) []byte {
	t.Helper()
	rc, err := s.Open(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// onlyReader hides any WriterTo/Seeker so implementations see a plain stream.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

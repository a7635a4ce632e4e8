package fsblob_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/blob/blobtest"
	"github.com/plinthml/plinth/blob/fsblob"
)

func TestContract(t *testing.T) {
	open := func(t *testing.T) blob.Store {
		s, err := fsblob.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	corrupt := func(t *testing.T, s blob.Store, d blob.Digest) {
		p := s.(*fsblob.Store).Path(d)
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("tampered"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	blobtest.Run(t, open, corrupt)
}

func TestNoTempFilesLeft(t *testing.T) {
	dir := t.TempDir()
	s, err := fsblob.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := s.Put(t.Context(), strings.NewReader("x")); err != nil {
			t.Fatal(err)
		}
	}
	left, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(left) != 0 {
		t.Fatalf("%d temp files left after successful puts", len(left))
	}
}

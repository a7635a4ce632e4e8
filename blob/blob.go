// Package blob defines plinth's content-addressed artifact storage: model
// files, run artifacts and data snapshots are stored once under the sha256 of
// their bytes, written atomically and checked on every read.
//
// Implementations live in sub-packages named after what they store into
// (fsblob: a local directory; s3blob: S3-compatible object storage) and all
// pass the suite in blobtest.
package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"

	"github.com/plinthml/plinth"
)

// Digest names a blob by its content: "sha256:" followed by 64 lowercase hex
// digits.
type Digest string

const digestPrefix = "sha256:"

// ParseDigest validates s as a Digest.
func ParseDigest(s string) (Digest, error) {
	hexPart, ok := strings.CutPrefix(s, digestPrefix)
	if !ok {
		return "", plinth.Errorf(plinth.EINVALID, "digest %q: must start with %q", truncate(s), digestPrefix)
	}
	if len(hexPart) != sha256.Size*2 {
		return "", plinth.Errorf(plinth.EINVALID, "digest %q: want %d hex digits, have %d", truncate(s), sha256.Size*2, len(hexPart))
	}
	for _, c := range hexPart {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", plinth.Errorf(plinth.EINVALID, "digest %q: %q is not a lowercase hex digit", truncate(s), c)
		}
	}
	return Digest(s), nil
}

// Hex returns the hex part of the digest.
func (d Digest) Hex() string { return strings.TrimPrefix(string(d), digestPrefix) }

func (d Digest) String() string { return string(d) }

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Info describes a stored blob.
type Info struct {
	Digest Digest `json:"digest"`
	Size   int64  `json:"size"`
}

// Store is content-addressed blob storage.
//
// Put streams r into the store and returns its digest and size. Writing the
// same bytes twice stores them once. A blob is visible only once it is
// complete: a crash during Put leaves no partial blob behind.
//
// Open returns a reader over the blob's bytes that verifies them while they
// are read: it returns ErrCorrupt instead of io.EOF if the bytes do not match
// the digest. Open and Stat return an ENOTFOUND *plinth.Error for a missing
// blob.
//
// Delete removes a blob; deleting a missing blob is not an error.
type Store interface {
	Put(ctx context.Context, r io.Reader) (Info, error)
	Open(ctx context.Context, d Digest) (io.ReadCloser, error)
	Stat(ctx context.Context, d Digest) (Info, error)
	Delete(ctx context.Context, d Digest) error
}

// Mover is implemented by stores that can take a local file by moving it
// where Put would copy its bytes: a writer that hashed a large file as it
// wrote it (with a Hasher) hands it over without reading it again.
//
// Move stores the file at path as the blob info names, trusting the digest
// but checking the size. On success the file is gone. An error leaves the
// file in place, to be Put instead: a file on another file system, for
// one, cannot be moved.
type Mover interface {
	Move(ctx context.Context, path string, info Info) error
}

// ErrCorrupt is returned by a reader from Open when the stored bytes no longer
// match their digest.
var ErrCorrupt = errors.New("blob: stored content does not match its digest")

// NotFound returns the error Open and Stat return for a missing blob.
func NotFound(d Digest) error { return plinth.NotFound("blob", string(d)) }

// Hasher computes a Digest and size over the bytes written to it.
type Hasher struct {
	h    hash.Hash
	size int64
}

// NewHasher returns an empty Hasher.
func NewHasher() *Hasher { return &Hasher{h: sha256.New()} }

func (h *Hasher) Write(p []byte) (int, error) {
	h.size += int64(len(p))
	return h.h.Write(p)
}

// Info returns the digest and size of everything written so far.
func (h *Hasher) Info() Info {
	return Info{Digest: Digest(digestPrefix + hex.EncodeToString(h.h.Sum(nil))), Size: h.size}
}

// VerifyReader wraps rc so that reading it to the end checks the bytes
// against want: a mismatch turns the final io.EOF into ErrCorrupt.
func VerifyReader(rc io.ReadCloser, want Digest) io.ReadCloser {
	return &verifyReader{rc: rc, want: want, h: NewHasher()}
}

type verifyReader struct {
	rc   io.ReadCloser
	want Digest
	h    *Hasher
}

func (v *verifyReader) Read(p []byte) (int, error) {
	n, err := v.rc.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := v.h.Info().Digest; got != v.want {
			return n, fmt.Errorf("%w: want %s, read %s", ErrCorrupt, v.want, got)
		}
	}
	return n, err
}

func (v *verifyReader) Close() error { return v.rc.Close() }

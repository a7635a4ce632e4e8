// Package s3blob stores blobs in S3-compatible object storage (AWS S3, MinIO,
// versitygw, Ceph RGW, ...): the blob store for a team that has outgrown one
// machine.
//
// # Key layout
//
//	PREFIX/sha256/ab/abcdef...   the blob whose digest starts with "ab"
//	PREFIX/tmp/<random>          an upload in progress
//
// The two-hex-digit fan-out keeps listings of one directory small on stores
// that map keys to directories (versitygw's posix backend, Ceph) and mirrors
// fsblob, so a bucket can be synced to a directory and served by either.
//
// # Why a temp key and a server-side copy
//
// Put does not know a blob's digest until it has read the last byte, and it
// streams (it holds at most one multipart part, plus a 1 MiB head, in
// memory), so it cannot upload straight to the final key. It uploads to a fresh temp key
// while hashing, then asks the server to copy the temp object to
// PREFIX/sha256/ab/<hex> with ComposeObject (a multipart copy, so it works
// past CopyObject's 5 GiB limit), then deletes the temp object. On S3 an
// object becomes visible only when its PUT or CompleteMultipartUpload
// succeeds, so the final key either does not exist or holds the whole blob: a
// failed or crashed Put leaves at most an aborted multipart upload or an
// object under tmp/, never a partial blob. Open removes tmp/ objects older
// than an hour, as fsblob does; to reclaim the parts of multipart uploads
// abandoned by a crash, give the bucket an AbortIncompleteMultipartUpload
// lifecycle rule.
//
// If the final key already exists with the right size the copy is skipped
// (dedup). Concurrent Puts of the same bytes may both copy; the last one wins
// and both wrote identical bytes.
//
// Reads are verified against the digest as they stream (blob.VerifyReader),
// so bytes damaged in the bucket surface as blob.ErrCorrupt.
package s3blob

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
)

var _ blob.Store = (*Store)(nil)

const (
	// DefaultEndpoint is used when Config.Endpoint is empty.
	DefaultEndpoint = "s3.amazonaws.com"
	// DefaultPartSize is the multipart part size when Config.PartSize is 0.
	// With S3's limit of 10,000 parts it allows blobs up to 160 GiB.
	DefaultPartSize = 16 << 20

	minPartSize = 5 << 20 // S3's minimum for all parts but the last
	maxPartSize = 5 << 30 // S3's maximum part size
	maxPrefix   = 900     // S3 keys are at most 1024 bytes; the blob part takes up to 75

	// Blobs up to this size are read into memory and sent in one PUT;
	// larger ones stream as a multipart upload.
	singlePutMax = 1 << 20

	tmpMaxAge     = time.Hour
	tmpRemoveWait = 30 * time.Second
)

// Config locates a bucket (and a prefix in it) and says how to reach it.
type Config struct {
	// Endpoint is the server as host or host:port, without a scheme;
	// DefaultEndpoint if empty.
	Endpoint string
	// Bucket must already exist.
	Bucket string
	// Prefix is prepended to every key, so several stores can share a bucket.
	// Leading and trailing slashes are ignored.
	Prefix string
	// Region is the bucket's region; if empty the client asks the server.
	Region string
	// Insecure talks plain HTTP instead of HTTPS.
	Insecure bool
	// AccessKey, SecretKey and SessionToken are the credentials. If
	// AccessKey and SecretKey are both empty, Open reads AWS_ACCESS_KEY_ID,
	// AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN from the environment.
	AccessKey    string
	SecretKey    string
	SessionToken string
	// PartSize is the multipart part size in bytes, between 5 MiB and 5 GiB;
	// DefaultPartSize if 0. Each Put in progress holds one part in memory,
	// and a blob can have at most 10,000 parts.
	PartSize int64
}

// Store is a blob.Store over a bucket of S3-compatible object storage. It is
// safe for concurrent use.
type Store struct {
	client   *minio.Client
	bucket   string
	prefix   string // "" or ends with "/"
	partSize uint64
}

// ParseURL parses a store URL into a Config:
//
//	s3://[ACCESS_KEY:SECRET_KEY@]BUCKET[/PREFIX][?endpoint=HOST:PORT&region=REGION&insecure=true&part_size=BYTES]
//
// Without credentials in the URL, Open takes them from the environment.
func ParseURL(raw string) (Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error repeats the whole URL, secret key included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Config{}, plinth.Invalid("url", "cannot parse: %v", err)
	}
	if u.Scheme != "s3" {
		return Config{}, plinth.Invalid("url", "scheme is %q, want s3://bucket/prefix", u.Scheme)
	}
	if u.Opaque != "" {
		return Config{}, plinth.Invalid("url", "want s3://bucket/prefix")
	}
	if u.Port() != "" {
		return Config{}, plinth.Invalid("bucket", "%q has a port: give the server as ?endpoint=%s", u.Host, u.Host)
	}
	cfg := Config{Bucket: u.Hostname(), Prefix: u.Path}
	if u.User != nil {
		cfg.AccessKey = u.User.Username()
		secret, ok := u.User.Password()
		if !ok {
			return Config{}, plinth.Invalid("secret_key", "missing from the URL: give ACCESS_KEY:SECRET_KEY@ or neither")
		}
		cfg.SecretKey = secret
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Config{}, plinth.Invalid("url", "query: %v", err)
	}
	for _, k := range slices.Sorted(maps.Keys(q)) {
		v := q[k][len(q[k])-1]
		switch k {
		case "endpoint":
			cfg.Endpoint = v
		case "region":
			cfg.Region = v
		case "insecure":
			if cfg.Insecure, err = strconv.ParseBool(v); err != nil {
				return Config{}, plinth.Invalid("insecure", "%q is not true or false", v)
			}
		case "part_size":
			if cfg.PartSize, err = strconv.ParseInt(v, 10, 64); err != nil {
				return Config{}, plinth.Invalid("part_size", "%q is not a number of bytes", v)
			}
		default:
			return Config{}, plinth.Invalid("url", "unknown parameter %q (known: endpoint, region, insecure, part_size)", k)
		}
	}
	return cfg, nil
}

// OpenURL parses raw with ParseURL and opens the store it names.
func OpenURL(ctx context.Context, raw string) (*Store, error) {
	cfg, err := ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("open s3 blob store: %w", err)
	}
	return Open(ctx, cfg)
}

// Open validates cfg, checks that the bucket exists, and removes uploads
// left behind under PREFIX/tmp/ by a crash more than an hour ago.
// Configuration errors are EINVALID *plinth.Error values naming the field.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, fmt.Errorf("open s3 blob store: %w", err)
	}
	client, err := minio.New(cfg.Endpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure: !cfg.Insecure,
		Region: cfg.Region,
	})
	if err != nil {
		return nil, fmt.Errorf("open s3 blob store: %w", plinth.Invalid("endpoint", "%v", err))
	}
	s := &Store{client: client, bucket: cfg.Bucket, prefix: cfg.Prefix, partSize: uint64(cfg.PartSize)}
	ok, err := client.BucketExists(ctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("open s3 blob store %s/%s: %w", cfg.Endpoint, cfg.Bucket, err)
	}
	if !ok {
		return nil, fmt.Errorf("open s3 blob store: %w",
			plinth.Invalid("bucket", "bucket %q does not exist on %s", cfg.Bucket, cfg.Endpoint))
	}
	s.sweepTmp(ctx, tmpMaxAge)
	return s, nil
}

// normalize fills in defaults and validates the config.
func (c Config) normalize() (Config, error) {
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if err := checkEndpoint(c.Endpoint); err != nil {
		return c, err
	}
	if c.Bucket == "" {
		return c, plinth.Invalid("bucket", "is required")
	}
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		return c, plinth.Invalid("bucket", "%q: %v", c.Bucket, err)
	}
	prefix, err := normalizePrefix(c.Prefix)
	if err != nil {
		return c, err
	}
	c.Prefix = prefix
	switch {
	case c.PartSize == 0:
		c.PartSize = DefaultPartSize
	case c.PartSize < minPartSize || c.PartSize > maxPartSize:
		return c, plinth.Invalid("part_size", "%d bytes: must be between 5 MiB (%d) and 5 GiB (%d)", c.PartSize, minPartSize, maxPartSize)
	}
	if c.AccessKey == "" && c.SecretKey == "" {
		c.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
		c.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
		c.SessionToken = os.Getenv("AWS_SESSION_TOKEN")
		if c.AccessKey == "" && c.SecretKey == "" {
			return c, plinth.Invalid("access_key", "no credentials: give ACCESS_KEY:SECRET_KEY@ in the URL or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
		}
	}
	if c.AccessKey == "" {
		return c, plinth.Invalid("access_key", "is empty but a secret key is set")
	}
	if c.SecretKey == "" {
		return c, plinth.Invalid("secret_key", "is empty but an access key is set")
	}
	return c, nil
}

func checkEndpoint(e string) error {
	if strings.Contains(e, "://") {
		return plinth.Invalid("endpoint", "%q: want host[:port] without a scheme (use insecure=true for plain HTTP)", e)
	}
	if strings.ContainsAny(e, "/?#@ ") {
		return plinth.Invalid("endpoint", "%q: want host[:port] without a path", e)
	}
	host := e
	if strings.Contains(e, ":") && !(strings.HasPrefix(e, "[") && strings.HasSuffix(e, "]")) {
		h, port, err := net.SplitHostPort(e)
		if err != nil {
			return plinth.Invalid("endpoint", "%q: want host[:port]: %v", e, err)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return plinth.Invalid("endpoint", "%q: port %q is not a number from 1 to 65535", e, port)
		}
		host = h
	}
	if strings.Trim(host, "[]") == "" {
		return plinth.Invalid("endpoint", "%q: host is empty", e)
	}
	return nil
}

func normalizePrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	if len(p) > maxPrefix {
		return "", plinth.Invalid("prefix", "is %d bytes long, at most %d allowed", len(p), maxPrefix)
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case "":
			return "", plinth.Invalid("prefix", "%q has an empty path segment", p)
		case ".", "..":
			return "", plinth.Invalid("prefix", "%q has a %q path segment", p, seg)
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return "", plinth.Invalid("prefix", "%q has a control character", p)
		}
	}
	return p + "/", nil
}

// Bucket returns the bucket the store writes to.
func (s *Store) Bucket() string { return s.bucket }

// Key returns the object key that holds d, for readers that go to the bucket
// directly (DuckDB over s3://, presigned URLs). They must not write to it. d
// must be a valid digest.
func (s *Store) Key(d blob.Digest) string {
	h := d.Hex()
	return s.prefix + "sha256/" + h[:2] + "/" + h
}

func (s *Store) tmpPrefix() string { return s.prefix + "tmp/" }

// Put streams r to a temp key while hashing it, then copies it server-side to
// its content address and deletes the temp key.
func (s *Store) Put(ctx context.Context, r io.Reader) (blob.Info, error) {
	h := blob.NewHasher()
	src := io.TeeReader(r, h)

	// Read up to singlePutMax+1 bytes: if the stream ends within that, send
	// it in one request; otherwise stream it as a multipart upload of
	// unknown size, which holds one part in memory at a time.
	var head bytes.Buffer
	n, err := io.CopyN(&head, src, singlePutMax+1)
	var body io.Reader
	size := int64(-1)
	switch {
	case err == io.EOF:
		body, size = bytes.NewReader(head.Bytes()), n
	case err != nil:
		return blob.Info{}, fmt.Errorf("put blob: %w", err)
	default:
		body = io.MultiReader(&head, src)
	}

	tmp := s.tmpPrefix() + rand.Text()
	up, err := s.client.PutObject(ctx, s.bucket, tmp, body, size, minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    s.partSize,
	})
	if err != nil {
		// minio-go aborts a failed multipart upload, and a failed single
		// PUT stores nothing: there is no temp object to remove.
		return blob.Info{}, fmt.Errorf("put blob: upload: %w", err)
	}
	defer s.removeTmp(ctx, tmp)

	info := h.Info()
	if up.Size != info.Size {
		return blob.Info{}, fmt.Errorf("put blob: server stored %d bytes, read %d", up.Size, info.Size)
	}
	if err := s.commit(ctx, tmp, info); err != nil {
		return blob.Info{}, fmt.Errorf("put blob %s: %w", info.Digest, err)
	}
	return info, nil
}

// commit copies the uploaded temp object to info's content address, unless
// an object of the right size is already there.
func (s *Store) commit(ctx context.Context, tmp string, info blob.Info) error {
	dst := s.Key(info.Digest)
	st, err := s.client.StatObject(ctx, s.bucket, dst, minio.StatObjectOptions{})
	switch {
	case err == nil && st.Size == info.Size:
		return nil // already stored
	case err == nil:
		// A blob of the wrong size under this digest is damaged; the copy
		// below replaces it with the bytes just verified.
	case !isNotFound(err):
		return fmt.Errorf("stat %s: %w", dst, err)
	}
	_, err = s.client.ComposeObject(ctx,
		minio.CopyDestOptions{Bucket: s.bucket, Object: dst},
		minio.CopySrcOptions{Bucket: s.bucket, Object: tmp})
	if err != nil {
		return fmt.Errorf("copy to %s: %w", dst, err)
	}
	return nil
}

// removeTmp deletes a temp object, even if ctx is already cancelled. A
// failure is not reported: the blob is stored, and Open sweeps tmp/.
func (s *Store) removeTmp(ctx context.Context, key string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tmpRemoveWait)
	defer cancel()
	_ = s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{})
}

// sweepTmp removes temp objects older than age, best effort. Younger ones may
// belong to a Put running in another process.
func (s *Store) sweepTmp(ctx context.Context, age time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, tmpRemoveWait)
	defer cancel()
	opts := minio.ListObjectsOptions{Prefix: s.tmpPrefix(), Recursive: true}
	for obj := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
		if obj.Err != nil {
			return
		}
		if time.Since(obj.LastModified) > age {
			_ = s.client.RemoveObject(ctx, s.bucket, obj.Key, minio.RemoveObjectOptions{})
		}
	}
}

// Open returns a reader over the blob that verifies its bytes as they stream.
func (s *Store) Open(ctx context.Context, d blob.Digest) (io.ReadCloser, error) {
	if _, err := blob.ParseDigest(string(d)); err != nil {
		return nil, err
	}
	body, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, s.Key(d), minio.GetObjectOptions{})
	if isNotFound(err) {
		return nil, blob.NotFound(d)
	}
	if err != nil {
		return nil, fmt.Errorf("open blob %s: %w", d, err)
	}
	return blob.VerifyReader(body, d), nil
}

// Stat returns the blob's size from the object's metadata.
func (s *Store) Stat(ctx context.Context, d blob.Digest) (blob.Info, error) {
	if _, err := blob.ParseDigest(string(d)); err != nil {
		return blob.Info{}, err
	}
	st, err := s.client.StatObject(ctx, s.bucket, s.Key(d), minio.StatObjectOptions{})
	if isNotFound(err) {
		return blob.Info{}, blob.NotFound(d)
	}
	if err != nil {
		return blob.Info{}, fmt.Errorf("stat blob %s: %w", d, err)
	}
	return blob.Info{Digest: d, Size: st.Size}, nil
}

// Delete removes the blob if it exists.
func (s *Store) Delete(ctx context.Context, d blob.Digest) error {
	if _, err := blob.ParseDigest(string(d)); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.Key(d), minio.RemoveObjectOptions{})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("delete blob %s: %w", d, err)
	}
	return nil
}

// isNotFound reports whether err is S3's answer for a missing key. minio-go
// also reports a HEAD that found nothing (no body to carry a code) as
// NoSuchKey. A missing bucket (NoSuchBucket) is not a missing blob.
func isNotFound(err error) bool {
	var e minio.ErrorResponse
	return errors.As(err, &e) && e.Code == minio.NoSuchKey
}

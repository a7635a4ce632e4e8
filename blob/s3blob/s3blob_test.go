package s3blob_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
	"github.com/plinthml/plinth/blob/blobtest"
	"github.com/plinthml/plinth/blob/s3blob"
	"github.com/plinthml/plinth/blob/s3blob/s3test"
)

// The tests run against a real S3 server: versitygw with its posix backend
// on a temp directory, started once per test binary (see s3test).
const (
	testAccessKey = s3test.AccessKey
	testSecretKey = s3test.SecretKey
	testBucket    = s3test.Bucket
)

func TestMain(m *testing.M) {
	code := m.Run()
	s3test.Stop()
	os.Exit(code)
}

type server = s3test.Server

func gateway(t *testing.T) *server { return s3test.Gateway(t) }

func TestContract(t *testing.T) {
	srv := gateway(t)
	open := func(t *testing.T) blob.Store { return openStore(t, srv) }
	corrupt := func(t *testing.T, s blob.Store, d blob.Digest) {
		srv.PutObject(t, s.(*s3blob.Store).Key(d), []byte("tampered"))
	}
	blobtest.Run(t, open, corrupt)
}

func TestKeyLayout(t *testing.T) {
	srv := gateway(t)
	prefix := storePrefix()
	s := openStoreAt(t, srv, prefix)
	data := []byte("where does it go")
	info, err := s.Put(t.Context(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	hex := info.Digest.Hex()
	want := prefix + "sha256/" + hex[:2] + "/" + hex
	if got := s.Key(info.Digest); got != want {
		t.Fatalf("Key(%s) = %q, want %q", info.Digest, got, want)
	}
	st, err := srv.Admin.StatObject(t.Context(), testBucket, want, minio.StatObjectOptions{})
	if err != nil {
		t.Fatalf("blob not at its content address: %v", err)
	}
	if st.Size != int64(len(data)) {
		t.Fatalf("stored object has %d bytes, want %d", st.Size, len(data))
	}
}

// After successful, deduplicated and failed Puts, in both the single-PUT and
// the multipart path, nothing is left under tmp/: no temp objects and no
// incomplete multipart uploads.
func TestNoTempObjectsLeft(t *testing.T) {
	srv := gateway(t)
	prefix := storePrefix()
	s := openStoreAt(t, srv, prefix)
	ctx := t.Context()
	big := make([]byte, 2<<20+7) // above the single-PUT limit: multipart
	rand.Read(big)
	for _, r := range []io.Reader{
		strings.NewReader("x"),
		strings.NewReader("x"),
		bytes.NewReader(big),
		bytes.NewReader(big),
	} {
		if _, err := s.Put(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range []io.Reader{
		io.MultiReader(strings.NewReader("small"), failingReader{}),
		io.MultiReader(bytes.NewReader(big), failingReader{}),
	} {
		if _, err := s.Put(ctx, r); err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
	}

	tmp := prefix + "tmp/"
	for obj := range srv.Admin.ListObjectsIter(ctx, testBucket, minio.ListObjectsOptions{Prefix: tmp, Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		t.Errorf("temp object left behind: %s", obj.Key)
	}
	for up := range srv.Admin.ListIncompleteUploads(ctx, testBucket, tmp, true) {
		if up.Err != nil {
			t.Fatal(up.Err)
		}
		t.Errorf("incomplete multipart upload left behind: %s (%s)", up.Key, up.UploadID)
	}
}

// A stored object of the wrong size under a digest is damaged; putting the
// right bytes again replaces it instead of deduplicating against it.
func TestPutRepairsTruncatedBlob(t *testing.T) {
	srv := gateway(t)
	s := openStore(t, srv)
	data := []byte("model weights, all of them")
	info, err := s.Put(t.Context(), bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	srv.PutObject(t, s.Key(info.Digest), data[:5])
	if _, err := s.Put(t.Context(), bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, s, info.Digest); !bytes.Equal(got, data) {
		t.Fatalf("read %q after repair, want %q", got, data)
	}
}

func TestOpenURL(t *testing.T) {
	srv := gateway(t)
	ctx := t.Context()
	prefix := storePrefix()

	withKeys := fmt.Sprintf("s3://%s:%s@%s/%s?endpoint=%s&insecure=true&region=us-east-1",
		testAccessKey, testSecretKey, testBucket, prefix, srv.Endpoint)
	s, err := s3blob.OpenURL(ctx, withKeys)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Put(ctx, strings.NewReader("via url"))
	if err != nil {
		t.Fatal(err)
	}
	if want := prefix + "sha256/"; !strings.HasPrefix(s.Key(info.Digest), want) {
		t.Fatalf("Key = %q, want prefix %q", s.Key(info.Digest), want)
	}

	// Without keys in the URL, the standard environment variables apply.
	t.Setenv("AWS_ACCESS_KEY_ID", testAccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", testSecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	s2, err := s3blob.OpenURL(ctx, fmt.Sprintf("s3://%s/%s?endpoint=%s&insecure=true", testBucket, prefix, srv.Endpoint))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Stat(ctx, info.Digest); err != nil {
		t.Fatalf("store opened with env credentials cannot see the blob: %v", err)
	}
}

func TestOpenFails(t *testing.T) {
	srv := gateway(t)
	ctx := t.Context()

	_, err := s3blob.Open(ctx, s3blob.Config{
		Endpoint: srv.Endpoint, Bucket: "no-such-bucket", Insecure: true,
		AccessKey: testAccessKey, SecretKey: testSecretKey,
	})
	wantField(t, err, "bucket")

	_, err = s3blob.Open(ctx, s3blob.Config{
		Endpoint: srv.Endpoint, Bucket: testBucket, Insecure: true,
		AccessKey: testAccessKey, SecretKey: "wrong-secret",
	})
	if err == nil {
		t.Fatal("Open with a wrong secret key succeeded")
	}
}

func TestParseURL(t *testing.T) {
	good := []struct {
		url  string
		want s3blob.Config
	}{
		{"s3://bkt", s3blob.Config{Bucket: "bkt"}},
		{"s3://bkt/a/b/", s3blob.Config{Bucket: "bkt", Prefix: "/a/b/"}},
		{"s3://ak:sk@bkt/p?endpoint=localhost:7070&region=eu-west-1&insecure=true&part_size=67108864",
			s3blob.Config{Bucket: "bkt", Prefix: "/p", Endpoint: "localhost:7070", Region: "eu-west-1",
				Insecure: true, AccessKey: "ak", SecretKey: "sk", PartSize: 64 << 20}},
		{"s3://ak:s%2Fk@bkt", s3blob.Config{Bucket: "bkt", AccessKey: "ak", SecretKey: "s/k"}},
	}
	for _, tc := range good {
		got, err := s3blob.ParseURL(tc.url)
		if err != nil {
			t.Errorf("ParseURL(%q): %v", tc.url, err)
			continue
		}
		if got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, want %+v", tc.url, got, tc.want)
		}
	}

	bad := []struct {
		name, url, field string
	}{
		{"wrong scheme", "https://bkt/p", "url"},
		{"opaque", "s3:bkt", "url"},
		{"port on bucket", "s3://bkt:9000/p", "bucket"},
		{"key without secret", "s3://ak@bkt", "secret_key"},
		{"unknown parameter", "s3://bkt?regoin=x", "url"},
		{"insecure not bool", "s3://bkt?insecure=maybe", "insecure"},
		{"part size not number", "s3://bkt?part_size=16MiB", "part_size"},
		{"unparsable", "s3://ak:TOPSECRET@bkt/%zz", "url"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s3blob.ParseURL(tc.url)
			wantField(t, err, tc.field)
		})
	}

	// Errors never repeat the secret key.
	for _, u := range []string{"s3://ak:TOPSECRET@bkt/%zz", "s3://ak:TOPSECRET@bkt?bogus=1"} {
		if _, err := s3blob.ParseURL(u); err == nil || strings.Contains(err.Error(), "TOPSECRET") {
			t.Errorf("ParseURL(%q) error = %v, want an error without the secret", u, err)
		}
	}
}

// Open validates the whole config before it touches the network.
func TestConfigValidation(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	ok := s3blob.Config{Endpoint: "127.0.0.1:1", Bucket: "bkt", AccessKey: "ak", SecretKey: "sk"}
	cases := []struct {
		name  string
		edit  func(*s3blob.Config)
		field string
	}{
		{"no bucket", func(c *s3blob.Config) { c.Bucket = "" }, "bucket"},
		{"bad bucket", func(c *s3blob.Config) { c.Bucket = "Has_Upper" }, "bucket"},
		{"endpoint with scheme", func(c *s3blob.Config) { c.Endpoint = "http://localhost:7070" }, "endpoint"},
		{"endpoint with path", func(c *s3blob.Config) { c.Endpoint = "localhost:7070/s3" }, "endpoint"},
		{"endpoint bad port", func(c *s3blob.Config) { c.Endpoint = "localhost:http" }, "endpoint"},
		{"endpoint no host", func(c *s3blob.Config) { c.Endpoint = ":7070" }, "endpoint"},
		{"prefix empty segment", func(c *s3blob.Config) { c.Prefix = "a//b" }, "prefix"},
		{"prefix dot dot", func(c *s3blob.Config) { c.Prefix = "a/../b" }, "prefix"},
		{"prefix too long", func(c *s3blob.Config) { c.Prefix = strings.Repeat("p", 901) }, "prefix"},
		{"part size too small", func(c *s3blob.Config) { c.PartSize = 1 << 20 }, "part_size"},
		{"part size too large", func(c *s3blob.Config) { c.PartSize = 6 << 30 }, "part_size"},
		{"no credentials", func(c *s3blob.Config) { c.AccessKey, c.SecretKey = "", "" }, "access_key"},
		{"no access key", func(c *s3blob.Config) { c.AccessKey = "" }, "access_key"},
		{"no secret key", func(c *s3blob.Config) { c.SecretKey = "" }, "secret_key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ok
			tc.edit(&cfg)
			_, err := s3blob.Open(t.Context(), cfg)
			wantField(t, err, tc.field)
		})
	}
}

func wantField(t *testing.T, err error, field string) {
	t.Helper()
	var e *plinth.Error
	if !errors.As(err, &e) || e.Code != plinth.EINVALID || e.Field != field {
		t.Fatalf("error = %v, want %s error on field %q", err, plinth.EINVALID, field)
	}
}

// openStore returns a store on a fresh prefix of the test bucket: empty, and
// unseen by any other test.
func openStore(t *testing.T, srv *server) *s3blob.Store {
	t.Helper()
	return openStoreAt(t, srv, storePrefix())
}

func openStoreAt(t *testing.T, srv *server, prefix string) *s3blob.Store {
	t.Helper()
	s, err := s3blob.Open(t.Context(), s3blob.Config{
		Endpoint:  srv.Endpoint,
		Bucket:    testBucket,
		Prefix:    prefix,
		Insecure:  true,
		AccessKey: testAccessKey,
		SecretKey: testSecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func storePrefix() string { return "t/" + strings.ToLower(rand.Text()) + "/" }

func readAll(t *testing.T, s blob.Store, d blob.Digest) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), d)
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

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("connection reset") }

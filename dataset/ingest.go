package dataset

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/blob"
)

// Ingester turns batches into dataset versions and quarantines.
type Ingester struct {
	Store   Store
	Blobs   blob.Store
	Checker Checker
	// WorkDir holds the files of batches being checked; they are removed
	// once stored.
	WorkDir string
	Now     func() time.Time
}

func (in *Ingester) now() time.Time {
	if in.Now != nil {
		return in.Now().UTC()
	}
	return time.Now().UTC()
}

// Ingest checks the batch in file input against spec and stores what
// passes as the dataset's next version and what fails as a quarantine.
// Blobs are written before the metadata that points at them, so a crash
// leaves at most an unreferenced blob, never a version without its data.
func (in *Ingester) Ingest(ctx context.Context, spec Spec, input string) (*Version, *Quarantine, error) {
	return in.ingest(ctx, spec, input, input, "")
}

// IngestCopy is Ingest of a local copy of a batch, such as an upload
// spooled to a temporary file: source says where the batch came from,
// which the copy's name would not.
func (in *Ingester) IngestCopy(ctx context.Context, spec Spec, file, source string) (*Version, *Quarantine, error) {
	return in.ingest(ctx, spec, file, source, "")
}

// Replay checks a quarantine's rows again — after the data was fixed
// upstream or the spec was corrected — and stores those that now pass as a
// new version; those that still fail form a new quarantine. A quarantine is
// replayed at most once.
func (in *Ingester) Replay(ctx context.Context, spec Spec, quarantineID string) (*Version, *Quarantine, error) {
	q, err := in.Store.Quarantine(ctx, quarantineID)
	if err != nil {
		return nil, nil, err
	}
	if q.Dataset != spec.Name {
		return nil, nil, plinth.Invalid("quarantine", "quarantine %s belongs to dataset %q, not %q", q.ID, q.Dataset, spec.Name)
	}
	if q.ReplayedAs != 0 {
		return nil, nil, plinth.Errorf(plinth.ECONFLICT, "quarantine %s was already replayed as version %d", q.ID, q.ReplayedAs)
	}
	local, cleanup, err := in.fetch(ctx, q.Digest)
	if err != nil {
		return nil, nil, err
	}
	defer cleanup()
	return in.ingest(ctx, spec, local, "replay of quarantine "+q.ID, q.ID)
}

// Inspect returns up to limit rows of a quarantine, with their reasons.
func (in *Ingester) Inspect(ctx context.Context, quarantineID string, limit int) (*Sample, error) {
	q, err := in.Store.Quarantine(ctx, quarantineID)
	if err != nil {
		return nil, err
	}
	local, cleanup, err := in.fetch(ctx, q.Digest)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	return in.Checker.Sample(ctx, local, limit)
}

func (in *Ingester) ingest(ctx context.Context, spec Spec, input, source, replayOf string) (*Version, *Quarantine, error) {
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(in.WorkDir, "ingest-")
	if err != nil {
		return nil, nil, fmt.Errorf("ingest %s: %w", spec.Name, err)
	}
	defer os.RemoveAll(dir)
	at := in.now()
	good, bad := filepath.Join(dir, "good.parquet"), filepath.Join(dir, "bad.parquet")
	report, err := in.Checker.Check(ctx, spec, input, at, good, bad)
	if err != nil {
		return nil, nil, err
	}
	if replayOf != "" && (report.WholeBatch || report.Good == 0) {
		// Nothing would change but a copy of the quarantine: refuse.
		return nil, nil, plinth.Errorf(plinth.ECONFLICT, "none of the %d quarantined rows passes the current spec; fix the data or the spec first", report.Rows)
	}

	var v *Version
	var q *Quarantine
	if report.Bad > 0 {
		info, err := in.putFile(ctx, bad)
		if err != nil {
			return nil, nil, err
		}
		q = &Quarantine{ID: newID(), Dataset: spec.Name, Digest: info.Digest.String(), Rows: report.Bad,
			WholeBatch: report.WholeBatch, Reasons: report.Reasons, Source: source, CreatedAt: at, CreatedBy: plinth.PrincipalFrom(ctx)}
	}
	if !report.WholeBatch && report.Good > 0 {
		info, err := in.putFile(ctx, good)
		if err != nil {
			return nil, nil, err
		}
		v = &Version{Dataset: spec.Name, Digest: info.Digest.String(), Rows: report.Good, Bytes: info.Size,
			Schema: report.Schema, Source: source, IngestedAt: at, IngestedBy: plinth.PrincipalFrom(ctx), MinEvent: report.MinEvent, MaxEvent: report.MaxEvent,
			Quarantined: report.Bad, ReplayOf: replayOf}
	}
	if v == nil && q == nil {
		return nil, nil, plinth.Invalid("input", "%s holds no rows", source)
	}
	if err := in.Store.RecordIngest(ctx, v, q); err != nil {
		return nil, nil, err
	}
	return v, q, nil
}

// Written is a Parquet file plinth produced itself — typed, and with every
// row's IngestedAt column no later than At — such as a batch of its
// prediction log.
type Written struct {
	File               string
	Rows               int64
	Schema             []Field
	At                 time.Time
	MinEvent, MaxEvent *time.Time
	// Info, when set, is the file's digest and size as its writer hashed
	// them; a blob store that can (blob.Mover) then takes the file by
	// renaming it instead of reading and copying it.
	Info *blob.Info
}

// Record stores a file plinth wrote itself as the dataset's next version.
// It skips the checks a batch from outside goes through: its writer
// guarantees the schema, and reading the file back would cost more than
// writing it. As with Ingest, the blob is stored before the version that
// points at it.
func (in *Ingester) Record(ctx context.Context, spec Spec, w Written, source string) (*Version, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if w.Rows == 0 {
		return nil, plinth.Invalid("input", "%s holds no rows", source)
	}
	info, err := in.putWritten(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", spec.Name, err)
	}
	v := &Version{Dataset: spec.Name, Digest: info.Digest.String(), Rows: w.Rows, Bytes: info.Size, Schema: w.Schema,
		Source: source, IngestedAt: w.At.UTC(), IngestedBy: plinth.System, MinEvent: w.MinEvent, MaxEvent: w.MaxEvent}
	if err := in.Store.RecordIngest(ctx, v, nil); err != nil {
		return nil, err
	}
	return v, nil
}

// putWritten stores a written file, by moving it when the store can; a
// move that fails (another file system) falls back to a copy.
func (in *Ingester) putWritten(ctx context.Context, w Written) (blob.Info, error) {
	if m, ok := in.Blobs.(blob.Mover); ok && w.Info != nil {
		if err := m.Move(ctx, w.File, *w.Info); err == nil {
			return *w.Info, nil
		}
	}
	return in.putFile(ctx, w.File)
}

func (in *Ingester) putFile(ctx context.Context, path string) (blob.Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return blob.Info{}, err
	}
	defer f.Close()
	return in.Blobs.Put(ctx, f)
}

// fetch copies a blob to a local file for the engine to read.
func (in *Ingester) fetch(ctx context.Context, digest string) (string, func(), error) {
	d, err := blob.ParseDigest(digest)
	if err != nil {
		return "", nil, err
	}
	rc, err := in.Blobs.Open(ctx, d)
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	f, err := os.CreateTemp(in.WorkDir, "fetch-*.parquet")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.Remove(f.Name()) }
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		cleanup()
		return "", nil, fmt.Errorf("fetch %s: %w", digest, err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}

func newID() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

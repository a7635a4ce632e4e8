package dataset

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/plinthml/plinth/blob"
)

// Snapshots gives engines local files of a dataset's versions. Blob stores
// that keep files on this machine hand out their paths; others are copied
// once into CacheDir, named by digest, so a cached file is never stale.
type Snapshots struct {
	Store    Store
	Blobs    blob.Store
	CacheDir string
}

// localPaths is implemented by blob stores whose blobs are local files.
type localPaths interface {
	Path(d blob.Digest) string
}

// Files returns the snapshot files of the versions ingested by asOf (all
// when nil), oldest first.
func (s *Snapshots) Files(ctx context.Context, name string, asOf *time.Time) ([]string, error) {
	versions, err := s.Store.DatasetVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	var files []string
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		if asOf != nil && v.IngestedAt.After(*asOf) {
			continue
		}
		path, err := s.local(ctx, v.Digest)
		if err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}

// UpTo returns the snapshot files of the versions numbered up to version,
// oldest first: a dataset pinned to the version a run read.
func (s *Snapshots) UpTo(ctx context.Context, name string, version int) ([]string, error) {
	versions, err := s.Store.DatasetVersions(ctx, name)
	if err != nil {
		return nil, err
	}
	var files []string
	for i := len(versions) - 1; i >= 0; i-- {
		if versions[i].Version > version {
			continue
		}
		path, err := s.local(ctx, versions[i].Digest)
		if err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}

// Since returns the snapshot files of the versions numbered after after,
// oldest first, and the newest version number (after, when there is none).
func (s *Snapshots) Since(ctx context.Context, name string, after int) ([]string, int, error) {
	versions, err := s.Store.DatasetVersions(ctx, name)
	if err != nil {
		return nil, after, err
	}
	last := after
	var files []string
	for i := len(versions) - 1; i >= 0; i-- {
		v := versions[i]
		if v.Version <= after {
			continue
		}
		path, err := s.local(ctx, v.Digest)
		if err != nil {
			return nil, after, err
		}
		files = append(files, path)
		last = max(last, v.Version)
	}
	return files, last, nil
}

func (s *Snapshots) local(ctx context.Context, digest string) (string, error) {
	d, err := blob.ParseDigest(digest)
	if err != nil {
		return "", err
	}
	if lp, ok := s.Blobs.(localPaths); ok {
		return lp.Path(d), nil
	}
	path := filepath.Join(s.CacheDir, d.Hex()+".parquet")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	rc, err := s.Blobs.Open(ctx, d)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	tmp, err := os.CreateTemp(s.CacheDir, "snapshot-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, rc); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/plinthml/plinth/bundle"
	"github.com/plinthml/plinth/client"
	"github.com/plinthml/plinth/feature"
	"github.com/plinthml/plinth/model/formats"
	"github.com/plinthml/plinth/project"
)

// runExport writes a model version as a bundle for embedded inference.
func runExport(ctx context.Context, e *Env, args []string) error {
	f := newFlags(e, "export")
	out := f.String("o", "", "the bundle file to write (default MODEL-VERSION.tar.gz)")
	pos, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("export MODEL@VERSION_OR_ALIAS [-o FILE]")
	}
	c, done, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer done()
	name, ref, _ := strings.Cut(pos[0], "@")
	if ref == "" {
		ref = "latest"
	}
	v, err := c.Version(ctx, name, ref)
	if err != nil {
		return err
	}
	if len(v.Artifacts) == 0 {
		return fmt.Errorf("%s@%d has no model file", name, v.Version)
	}
	rc, err := c.OpenBlob(ctx, v.Artifacts[0].Digest)
	if err != nil {
		return err
	}
	m, _, err := formats.Read(rc, v.Format)
	rc.Close()
	if err != nil {
		return fmt.Errorf("%s@%d: %w", name, v.Version, err)
	}
	man := bundle.Manifest{Model: name, Version: v.Version, ExportedAt: time.Now().UTC(), RunID: v.RunID, Metrics: v.Metrics,
		FeatureService: v.FeatureService, FeatureServiceVersion: v.FeatureServiceVersion}
	if v.FeatureService != "" {
		if man.OnDemand, err = onDemandOf(ctx, c, v.FeatureService); err != nil {
			return err
		}
	}
	path := *out
	if path == "" {
		path = fmt.Sprintf("%s-%d.tar.gz", name, v.Version)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plinth-export-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := bundle.Write(tmp, man, m); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(e.Stdout, "wrote %s: %s@%d, %d features, %d on-demand; score it in Go with bundle.Open(%q)\n",
		path, name, v.Version, m.NumFeatures(), len(man.OnDemand), path)
	return nil
}

// onDemandOf returns the on-demand features a registered feature service
// computes.
func onDemandOf(ctx context.Context, c *client.Client, service string) ([]feature.OnDemand, error) {
	defs, err := c.Definitions(ctx)
	if err != nil {
		return nil, err
	}
	var svc feature.Service
	all := map[string]feature.OnDemand{}
	for _, d := range defs {
		switch {
		case d.Kind == project.KindService && d.Name == service:
			if err := json.Unmarshal(d.Spec, &svc); err != nil {
				return nil, err
			}
		case d.Kind == project.KindOnDemand:
			var od feature.OnDemand
			if err := json.Unmarshal(d.Spec, &od); err != nil {
				return nil, err
			}
			all[od.Name] = od
		}
	}
	var out []feature.OnDemand
	for _, n := range svc.OnDemand {
		if od, ok := all[n]; ok {
			out = append(out, od)
		}
	}
	return out, nil
}

package ui

import (
	"net/http"
	"sort"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/dataset"
	"github.com/plinthml/plinth/feature"
)

type datasetsPage struct {
	Datasets []datasetRow
}

type datasetRow struct {
	Name     string
	Versions int
	Latest   *dataset.Version
	Waiting  int // quarantines not replayed
}

func (s *server) datasets(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	names, err := s.Datasets.Datasets(ctx)
	if err != nil {
		return err
	}
	sort.Strings(names)
	var p datasetsPage
	for _, n := range names {
		row := datasetRow{Name: n}
		vs, err := s.Datasets.DatasetVersions(ctx, n)
		if err != nil {
			return err
		}
		row.Versions = len(vs)
		row.Latest = newest(vs)
		qs, err := s.Datasets.Quarantines(ctx, n)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.ReplayedAs == 0 {
				row.Waiting++
			}
		}
		p.Datasets = append(p.Datasets, row)
	}
	return s.render(w, r, "datasets", "Datasets", "datasets", p)
}

func newest(vs []dataset.Version) *dataset.Version {
	var out *dataset.Version
	for i := range vs {
		if out == nil || vs[i].Version > out.Version {
			out = &vs[i]
		}
	}
	return out
}

type datasetPage struct {
	Name        string
	Spec        *dataset.Spec
	Versions    []dataset.Version
	Latest      *dataset.Version
	Quarantines []quarantineRow
	Views       []feature.View
}

type quarantineRow struct {
	dataset.Quarantine
	Reasons []reasonCount
}

type reasonCount struct {
	Reason string
	Rows   int64
}

func (s *server) dataset(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	name := r.PathValue("dataset")
	p := datasetPage{Name: name}
	spec, err := s.Datasets.Spec(ctx, name)
	switch {
	case err == nil:
		p.Spec = spec
	case !plinth.IsCode(err, plinth.ENOTFOUND):
		return err
	}
	if p.Versions, err = s.Datasets.DatasetVersions(ctx, name); err != nil {
		return err
	}
	qs, err := s.Datasets.Quarantines(ctx, name)
	if err != nil {
		return err
	}
	if p.Spec == nil && len(p.Versions) == 0 && len(qs) == 0 {
		return plinth.NotFound("dataset", name)
	}
	sort.Slice(p.Versions, func(i, j int) bool { return p.Versions[i].Version > p.Versions[j].Version })
	p.Latest = newest(p.Versions)
	sort.Slice(qs, func(i, j int) bool { return qs[i].CreatedAt.After(qs[j].CreatedAt) })
	for _, q := range qs {
		row := quarantineRow{Quarantine: q}
		for reason, n := range q.Reasons {
			row.Reasons = append(row.Reasons, reasonCount{reason, n})
		}
		sort.Slice(row.Reasons, func(i, j int) bool {
			if row.Reasons[i].Rows != row.Reasons[j].Rows {
				return row.Reasons[i].Rows > row.Reasons[j].Rows
			}
			return row.Reasons[i].Reason < row.Reasons[j].Reason
		})
		p.Quarantines = append(p.Quarantines, row)
	}
	// The views built on the dataset: where its rows go next.
	if _, views, err := s.Features.Features(ctx); err == nil {
		for _, v := range views {
			if v.Source == name {
				p.Views = append(p.Views, v)
			}
		}
	}
	return s.render(w, r, "dataset", "Dataset "+name, "datasets", p)
}

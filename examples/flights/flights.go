// Package flights is the flights example project — will a flight from New
// York arrive late? — with its data: plinth.yaml (datasets, features,
// pipelines, a monitor), a Python training script, and a compact copy of
// nycflights13 (data/PROVENANCE.md). The demo runs it end to end; users
// read it as the worked example.
package flights

import "embed"

// Files holds plinth.yaml, train_xgb.py and data/.
//
//go:embed plinth.yaml train_xgb.py data/*.csv.gz data/PROVENANCE.md
var Files embed.FS

package train

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"

	"github.com/plinthml/plinth"
	"github.com/plinthml/plinth/eval"
	"github.com/plinthml/plinth/model"
)

// GBTParams configures gradient-boosted trees. Names in errors and
// comments are XGBoost's, which the meanings follow.
//
// Zero values of Objective, Rounds, LearningRate, MaxDepth, MaxBins,
// Subsample, ColsampleByTree and HuberSlope mean their defaults; the
// penalties (MinChildWeight, Alpha, Lambda, Gamma) are taken as given, so
// start from DefaultGBTParams to get XGBoost's min_child_weight = 1 and
// lambda = 1.
type GBTParams struct {
	// Objective is model.BinaryLogistic (default; labels 0 or 1),
	// model.MultiSoftprob (labels 0..NumClass-1), model.RegSquaredError or
	// model.RegPseudoHuber.
	Objective string
	NumClass  int // classes of multi:softprob

	Rounds       int     // boosting rounds (trees per output); default 100
	LearningRate float64 // eta, the shrinkage of every leaf; default 0.3

	// Growth is "depthwise" (level by level, XGBoost's default) or
	// "lossguide" (best leaf first, LightGBM's way). The default is
	// depthwise, or lossguide when MaxLeaves is set.
	Growth string
	// MaxDepth bounds the splits on a path: default 6 for depthwise growth;
	// for lossguide growth 0 means no bound.
	MaxDepth int
	// MaxLeaves bounds the leaves of a tree; 0 means no bound (lossguide
	// growth then needs MaxDepth).
	MaxLeaves int

	MinChildWeight float64 // least hessian sum in a child (min_child_weight)
	Alpha          float64 // L1 penalty on leaf weights
	Lambda         float64 // L2 penalty on leaf weights
	Gamma          float64 // least loss reduction of a split (min_split_loss)

	Subsample       float64 // fraction of rows drawn for each round; default 1
	ColsampleByTree float64 // fraction of features drawn for each tree; default 1

	// MaxBins is the number of histogram bins per feature, 2..256, missing
	// values included when a feature has them; default 256.
	MaxBins int
	// MaxCatToOneHot: a categorical feature with at most this many
	// categories is split one category against the rest, as its one-hot
	// encoding would be; one with more by the best partition of its
	// categories. Default 4, as in XGBoost and LightGBM (max_cat_to_onehot);
	// a large value makes every categorical split one-vs-rest, what
	// XGBoost does with one-hot encoded data; 1 makes every split a
	// partition.
	MaxCatToOneHot int

	HuberSlope float64 // delta of reg:pseudohubererror; default 1
	// QuantileAlpha is the quantile reg:quantileerror predicts, in (0, 1);
	// default 0.5 (the median).
	QuantileAlpha float64

	// EarlyStoppingRounds stops training when the validation metric has
	// not improved for that many rounds, and keeps the trees of the best
	// round. It needs a validation table; 0 turns it off.
	EarlyStoppingRounds int
	// Metric is the metric reported and used for early stopping: logloss
	// (binary default), auc or error; mlogloss (multiclass default) or
	// merror; rmse (regression default) or mae.
	Metric string

	// Seed drives subsampling and the quantile sample: the same seed and
	// data give the same model file, whatever the number of threads.
	Seed    uint64
	Threads int // goroutines for the heavy passes; 0 means GOMAXPROCS
}

// DefaultGBTParams returns XGBoost's defaults for the binary logistic
// objective, with 100 rounds.
func DefaultGBTParams() GBTParams {
	return GBTParams{
		Objective:       model.BinaryLogistic,
		Rounds:          100,
		LearningRate:    0.3,
		MaxDepth:        6,
		MinChildWeight:  1,
		Lambda:          1,
		Subsample:       1,
		ColsampleByTree: 1,
		MaxBins:         256,
		HuberSlope:      1,
	}
}

// GBTProgress reports one boosting round.
type GBTProgress struct {
	Round     int     // 1-based
	Metric    string  // e.g. "logloss"
	Train     float64 // metric on the training table
	Valid     float64 // metric on the validation table; NaN without one
	BestRound int     // the round of the best Valid so far; 0 without a validation table
}

// check fills in defaults and rejects bad parameters, naming them.
func (p *GBTParams) check(hasValid bool) error {
	if p.Objective == "" {
		p.Objective = model.BinaryLogistic
	}
	if p.Rounds == 0 {
		p.Rounds = 100
	}
	if p.LearningRate == 0 {
		p.LearningRate = 0.3
	}
	if p.Growth == "" {
		p.Growth = "depthwise"
		if p.MaxLeaves > 0 {
			p.Growth = "lossguide"
		}
	}
	if p.MaxDepth == 0 && p.Growth == "depthwise" {
		p.MaxDepth = 6
	}
	if p.MaxBins == 0 {
		p.MaxBins = 256
	}
	if p.MaxCatToOneHot == 0 {
		p.MaxCatToOneHot = 4
	}
	if p.Subsample == 0 {
		p.Subsample = 1
	}
	if p.ColsampleByTree == 0 {
		p.ColsampleByTree = 1
	}
	if p.HuberSlope == 0 {
		p.HuberSlope = 1
	}
	nonNeg := func(name string, v float64) error {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return plinth.Invalid(name, "must be a finite number >= 0, have %v", v)
		}
		return nil
	}
	switch p.Objective {
	case model.BinaryLogistic, model.RegSquaredError, model.RegPseudoHuber, model.RegQuantile:
		if p.NumClass != 0 && p.NumClass != 1 {
			return plinth.Invalid("num_class", "only for %s, not %s", model.MultiSoftprob, p.Objective)
		}
	case model.MultiSoftprob:
		if p.NumClass < 2 || p.NumClass > model.MaxClasses {
			return plinth.Invalid("num_class", "must be in [2, %d] for %s, have %d", model.MaxClasses, p.Objective, p.NumClass)
		}
	default:
		return plinth.Invalid("objective", "unknown objective %q (want %s, %s, %s, %s or %s)", p.Objective,
			model.BinaryLogistic, model.MultiSoftprob, model.RegSquaredError, model.RegPseudoHuber, model.RegQuantile)
	}
	if p.Objective == model.RegQuantile {
		if p.QuantileAlpha == 0 {
			p.QuantileAlpha = 0.5
		}
		if !(p.QuantileAlpha > 0 && p.QuantileAlpha < 1) {
			return plinth.Invalid("quantile_alpha", "must be in (0, 1), have %v", p.QuantileAlpha)
		}
	}
	if p.Rounds < 0 {
		return plinth.Invalid("rounds", "must be > 0, have %d", p.Rounds)
	}
	if math.IsNaN(p.LearningRate) || math.IsInf(p.LearningRate, 0) || p.LearningRate <= 0 {
		return plinth.Invalid("learning_rate", "must be a finite number > 0, have %v", p.LearningRate)
	}
	switch p.Growth {
	case "depthwise", "lossguide":
	default:
		return plinth.Invalid("growth", "unknown growth %q (want depthwise or lossguide)", p.Growth)
	}
	if p.MaxDepth < 0 || p.MaxDepth > model.MaxDepth {
		return plinth.Invalid("max_depth", "must be in [0, %d], have %d", model.MaxDepth, p.MaxDepth)
	}
	if p.MaxLeaves < 0 || p.MaxLeaves == 1 {
		return plinth.Invalid("max_leaves", "must be 0 (no bound) or >= 2, have %d", p.MaxLeaves)
	}
	if p.Growth == "lossguide" && p.MaxLeaves == 0 && p.MaxDepth == 0 {
		return plinth.Invalid("max_leaves", "lossguide growth needs max_leaves or max_depth")
	}
	for _, c := range []struct {
		name string
		v    float64
	}{{"min_child_weight", p.MinChildWeight}, {"alpha", p.Alpha}, {"lambda", p.Lambda}, {"gamma", p.Gamma}, {"huber_slope", p.HuberSlope}} {
		if err := nonNeg(c.name, c.v); err != nil {
			return err
		}
	}
	if !(p.Subsample > 0 && p.Subsample <= 1) {
		return plinth.Invalid("subsample", "must be in (0, 1], have %v", p.Subsample)
	}
	if !(p.ColsampleByTree > 0 && p.ColsampleByTree <= 1) {
		return plinth.Invalid("colsample_bytree", "must be in (0, 1], have %v", p.ColsampleByTree)
	}
	if p.MaxBins < 2 || p.MaxBins > 256 {
		return plinth.Invalid("max_bins", "must be in [2, 256], have %d", p.MaxBins)
	}
	if p.MaxCatToOneHot < 0 {
		return plinth.Invalid("max_cat_to_onehot", "must be >= 0, have %d", p.MaxCatToOneHot)
	}
	if p.EarlyStoppingRounds < 0 {
		return plinth.Invalid("early_stopping_rounds", "must be >= 0, have %d", p.EarlyStoppingRounds)
	}
	if p.EarlyStoppingRounds > 0 && !hasValid {
		return plinth.Invalid("early_stopping_rounds", "needs a validation table")
	}
	if p.Threads < 0 {
		return plinth.Invalid("threads", "must be >= 0, have %d", p.Threads)
	}
	metrics := map[string][]string{
		model.BinaryLogistic:  {"logloss", "auc", "error"},
		model.MultiSoftprob:   {"mlogloss", "merror"},
		model.RegSquaredError: {"rmse", "mae"},
		model.RegPseudoHuber:  {"rmse", "mae"},
		model.RegQuantile:     {"quantile", "mae", "rmse"},
	}[p.Objective]
	if p.Metric == "" {
		p.Metric = metrics[0]
	}
	if !slices.Contains(metrics, p.Metric) {
		return plinth.Invalid("metric", "%q does not apply to %s (want one of %v)", p.Metric, p.Objective, metrics)
	}
	return nil
}

func (p *GBTParams) outputs() int {
	if p.Objective == model.MultiSoftprob {
		return p.NumClass
	}
	return 1
}

// GBT trains gradient-boosted trees on histograms: features are quantised
// to at most MaxBins bins, each round fits one tree per output to the
// gradients of the loss, and split finding reads per-node histograms of
// gradient and hessian sums, built for the smaller child and subtracted
// from the parent for the larger. Missing values go the way learned per
// split; categorical columns are split natively into two sets of
// categories. valid, if not nil, must have the training table's columns; it
// feeds report and early stopping. report, if not nil, is called after
// every round.
func GBT(trainT, valid *Table, p GBTParams, report func(GBTProgress)) (*model.Model, error) {
	m, _, err := trainGBT(trainT, valid, p, report)
	return m, err
}

// gbtState is what training knows at the end, for tests: the training
// margins (row-major, one per output) of the model before any truncation
// by early stopping.
type gbtState struct {
	margin    []float64
	truncated bool
}

func trainGBT(trainT, valid *Table, p GBTParams, report func(GBTProgress)) (*model.Model, *gbtState, error) {
	hasValid := valid != nil && valid.Len() > 0
	if err := p.check(hasValid); err != nil {
		return nil, nil, err
	}
	n := trainT.Len()
	if n == 0 {
		return nil, nil, plinth.Invalid("train", "the training table has no rows")
	}
	if len(trainT.Columns) == 0 {
		return nil, nil, plinth.Invalid("train", "the training table has no feature columns")
	}
	if err := checkColumns("train", trainT); err != nil {
		return nil, nil, err
	}
	K := p.outputs()
	if err := checkLabels("label", trainT.Label, p); err != nil {
		return nil, nil, err
	}
	threads := p.Threads
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	sig := trainT.Signature()
	var vcols [][]float64
	if hasValid {
		if err := checkColumns("valid", valid); err != nil {
			return nil, nil, err
		}
		if len(valid.Columns) != len(trainT.Columns) {
			return nil, nil, plinth.Invalid("valid", "has %d columns, the training table %d", len(valid.Columns), len(trainT.Columns))
		}
		for j, c := range valid.Columns {
			if tc := trainT.Columns[j]; c.Name != tc.Name || c.Type != tc.Type {
				return nil, nil, plinth.Invalid("valid", "column %d is %s (%s), the training table's is %s (%s)", j, c.Name, c.Type, tc.Name, tc.Type)
			}
		}
		if err := checkLabels("valid.label", valid.Label, p); err != nil {
			return nil, nil, err
		}
		vcols = encodeColumns(valid, sig)
	}
	b := newBinned(encodeColumns(trainT, sig), sig, n, p.MaxBins, p.Seed, threads)

	base := baseScore(trainT.Label, p)
	margin := make([]float64, n*K)
	for r := range n {
		copy(margin[r*K:(r+1)*K], base)
	}
	var vmargin []float64
	needValid := hasValid && (report != nil || p.EarlyStoppingRounds > 0)
	if needValid {
		vmargin = make([]float64, valid.Len()*K)
		for r := range valid.Len() {
			copy(vmargin[r*K:(r+1)*K], base)
		}
	}
	gh := make([][]float32, K)
	for k := range gh {
		gh[k] = make([]float32, 2*n)
	}
	gr := &grower{
		b:         b,
		threads:   threads,
		maxDepth:  p.MaxDepth,
		maxLeaves: p.MaxLeaves,
		lossguide: p.Growth == "lossguide",
		mcw:       p.MinChildWeight,
		alpha:     p.Alpha,
		lambda:    p.Lambda,
		gamma:     p.Gamma,
		oneHot:    p.MaxCatToOneHot,
		eta:       p.LearningRate,
		tmp:       make([]int32, n),
		tmp2:      make([]int32, n),
	}
	rng := rand.New(rand.NewPCG(p.Seed, 0x706c696e74686762))
	all := make([]int32, n)
	for i := range all {
		all[i] = int32(i)
	}
	sampled := all
	rows := make([]int32, n)
	nfeat := max(1, int(math.Round(p.ColsampleByTree*float64(b.nf))))
	perm := make([]int, b.nf)
	higherBetter := p.Metric == "auc"
	best, bestRound := math.NaN(), 0
	var trees []model.Tree
	for round := 1; round <= p.Rounds; round++ {
		gradients(margin, trainT.Label, gh, p, threads)
		if p.Subsample < 1 {
			sampled = sampled[:0:0]
			for i := range n {
				if rng.Float64() < p.Subsample {
					sampled = append(sampled, int32(i))
				}
			}
		}
		for k := range K {
			gr.feats = gr.feats[:0]
			if nfeat < b.nf {
				for i := range perm {
					perm[i] = i
				}
				for i := range nfeat {
					j := i + rng.IntN(b.nf-i)
					perm[i], perm[j] = perm[j], perm[i]
				}
				gr.feats = append(gr.feats, perm[:nfeat]...)
				slices.Sort(gr.feats)
			} else {
				for f := range b.nf {
					gr.feats = append(gr.feats, f)
				}
			}
			gr.all = len(gr.feats) == b.nf
			gr.gh = gh[k]
			gr.rows = rows[:len(sampled)]
			copy(gr.rows, sampled)
			gr.grow()
			if p.Objective == model.RegQuantile {
				gr.refitQuantile(margin, trainT.Label, p.QuantileAlpha, K, k)
			}
			tree := gr.tree(k)
			if len(sampled) == n {
				gr.addLeaves(margin, K, k)
			} else {
				gr.addAll(margin, K, k)
			}
			if needValid {
				rt := newRawTree(&tree)
				vn := valid.Len()
				parallelFor(threads, (vn+rowBlock-1)/rowBlock, func(blk int) {
					for r := blk * rowBlock; r < min(vn, (blk+1)*rowBlock); r++ {
						vmargin[r*K+k] += rt.leafValue(vcols, r)
					}
				})
			}
			trees = append(trees, tree)
		}
		pr := GBTProgress{Round: round, Metric: p.Metric, Train: math.NaN(), Valid: math.NaN()}
		if needValid {
			pr.Valid = gbtMetric(p.Metric, vmargin, valid.Label, K, threads, p.QuantileAlpha)
			if bestRound == 0 || (higherBetter && pr.Valid > best) || (!higherBetter && pr.Valid < best) {
				best, bestRound = pr.Valid, round
			}
			pr.BestRound = bestRound
		}
		if report != nil {
			pr.Train = gbtMetric(p.Metric, margin, trainT.Label, K, threads, p.QuantileAlpha)
			report(pr)
		}
		if p.EarlyStoppingRounds > 0 && round-bestRound >= p.EarlyStoppingRounds {
			break
		}
	}
	st := &gbtState{margin: margin}
	if p.EarlyStoppingRounds > 0 && bestRound*K < len(trees) {
		trees = trees[:bestRound*K]
		st.truncated = true
	}
	obj := model.Objective{Name: p.Objective}
	if K > 1 {
		obj.NumClass = K
	}
	if p.Objective == model.RegPseudoHuber {
		obj.HuberSlope = p.HuberSlope
	}
	if p.Objective == model.RegQuantile {
		obj.QuantileAlpha = p.QuantileAlpha
	}
	m := &model.Model{
		FormatVersion: model.FormatVersion,
		Signature:     sig,
		Objective:     obj,
		BaseScore:     base,
		Trees:         &model.Trees{Trees: trees},
		Source:        &model.Source{Library: "plinth", Format: "plinth"},
	}
	return m, st, nil
}

// checkColumns checks that every column has one value per row.
func checkColumns(field string, t *Table) error {
	n := t.Len()
	if len(t.Label) != n {
		return plinth.Invalid(field+".label", "has %d values for %d rows", len(t.Label), n)
	}
	for _, c := range t.Columns {
		switch c.Type {
		case model.Categorical:
			if len(c.Cat) != n {
				return plinth.Invalid(field+"."+c.Name, "has %d values for %d rows", len(c.Cat), n)
			}
		case model.Float, model.Int, model.Bool:
			if len(c.Num) != n {
				return plinth.Invalid(field+"."+c.Name, "has %d values for %d rows", len(c.Num), n)
			}
		default:
			return plinth.Invalid(field+"."+c.Name, "unknown column type %q", c.Type)
		}
	}
	return nil
}

// checkLabels checks that labels suit the objective.
func checkLabels(field string, y []float64, p GBTParams) error {
	for i, v := range y {
		var ok bool
		switch p.Objective {
		case model.BinaryLogistic:
			ok = v == 0 || v == 1
		case model.MultiSoftprob:
			ok = v >= 0 && v < float64(p.NumClass) && v == math.Trunc(v)
		default:
			ok = !math.IsNaN(v) && !math.IsInf(v, 0)
		}
		if !ok {
			want := map[string]string{
				model.BinaryLogistic: "0 or 1",
				model.MultiSoftprob:  fmt.Sprintf("a class in 0..%d", p.NumClass-1),
			}[p.Objective]
			if want == "" {
				want = "a finite number"
			}
			return plinth.Invalid(field, "row %d: label %v is not %s", i, v, want)
		}
	}
	return nil
}

// baseScore is the starting margin per output: the log-odds of the mean
// label (binary), the mean (squared error), the median (pseudo-Huber), and
// 0 for multiclass.
func baseScore(y []float64, p GBTParams) []float64 {
	switch p.Objective {
	case model.MultiSoftprob:
		return make([]float64, p.NumClass)
	case model.BinaryLogistic:
		var sum float64
		for _, v := range y {
			sum += v
		}
		mean := min(max(sum/float64(len(y)), 1e-6), 1-1e-6)
		return []float64{math.Log(mean / (1 - mean))}
	case model.RegPseudoHuber:
		s := slices.Clone(y)
		slices.Sort(s)
		return []float64{s[len(s)/2]}
	case model.RegQuantile:
		s := slices.Clone(y)
		slices.Sort(s)
		return []float64{s[min(len(s)-1, int(p.QuantileAlpha*float64(len(s))))]}
	default:
		var sum float64
		for _, v := range y {
			sum += v
		}
		return []float64{sum / float64(len(y))}
	}
}

// gbtSigmoid is the model's sigmoid, so that training computes what
// serving does.
func gbtSigmoid(m float64) float64 { return 1 / (1 + math.Exp(-m)) }

// hessFloor keeps hessians positive (XGBoost's kRtEps-like floor), which
// also keeps every node's cover positive for TreeSHAP.
const hessFloor = 1e-16

// gradients computes the gradient and hessian of every row for every
// output from the current margins.
func gradients(margin, y []float64, gh [][]float32, p GBTParams, threads int) {
	n := len(y)
	K := len(gh)
	parallelFor(threads, (n+rowBlock-1)/rowBlock, func(blk int) {
		lo, hi := blk*rowBlock, min(n, (blk+1)*rowBlock)
		switch p.Objective {
		case model.BinaryLogistic:
			m, yb := margin[lo:hi], y[lo:hi]
			g := gh[0][2*lo : 2*hi]
			g = g[:2*len(m)] // lets the compiler drop the bounds checks
			for i, z := range m {
				pr := 1 / (1 + fastExp(-z))
				g[2*i] = float32(pr - yb[i])
				g[2*i+1] = float32(max(pr*(1-pr), hessFloor))
			}
		case model.MultiSoftprob:
			prob := make([]float64, K)
			for r := lo; r < hi; r++ {
				gbtSoftmax(margin[r*K:(r+1)*K], prob)
				label := int(y[r])
				for k := range K {
					pk := prob[k]
					t := 0.0
					if k == label {
						t = 1
					}
					gh[k][2*r] = float32(pk - t)
					gh[k][2*r+1] = float32(max(2*pk*(1-pk), hessFloor))
				}
			}
		case model.RegSquaredError:
			g := gh[0]
			for r := lo; r < hi; r++ {
				g[2*r] = float32(margin[r] - y[r])
				g[2*r+1] = 1
			}
		case model.RegQuantile:
			// The pinball loss: its gradient is -alpha below the label
			// and 1-alpha above; its hessian is 0, so each row counts 1
			// (XGBoost does the same) and a leaf moves by the share of
			// rows on each side.
			g := gh[0]
			a := p.QuantileAlpha
			for r := lo; r < hi; r++ {
				if margin[r] < y[r] {
					g[2*r] = float32(-a)
				} else {
					g[2*r] = float32(1 - a)
				}
				g[2*r+1] = 1
			}
		case model.RegPseudoHuber:
			g := gh[0]
			d := p.HuberSlope
			for r := lo; r < hi; r++ {
				z := margin[r] - y[r]
				s := 1 + (z/d)*(z/d)
				sq := math.Sqrt(s)
				g[2*r] = float32(z / sq)
				g[2*r+1] = float32(max(1/(s*sq), hessFloor))
			}
		}
	})
}

// fastExp is exp(x) to about 1e-9 relative error, several times faster than
// math.Exp: enough for gradients, which are stored as float32. Arguments
// beyond ±700 are clamped.
func fastExp(x float64) float64 {
	x = min(max(x, -700), 700)
	// x = k*ln2 + r with |r| <= ln2/2; exp(r) by its Taylor series to
	// degree 10, then scaled by 2^k through the exponent bits.
	// floor by truncating a positive number: math.Floor is a call, not
	// an instruction, on amd64's baseline.
	k := float64(int64(x*math.Log2E+0.5+1024)) - 1024
	r := x - k*math.Ln2
	// Estrin's scheme: the same polynomial as Horner's rule in a
	// shallower chain of dependent operations, which is what bounds the
	// gradient loop.
	r2 := r * r
	r4 := r2 * r2
	q0 := (1 + r) + (1.0/2+r*(1.0/6))*r2
	q1 := (1.0/24 + r*(1.0/120)) + (1.0/720+r*(1.0/5040))*r2
	q2 := (1.0/40320 + r*(1.0/362880)) + (1.0/3628800)*r2
	p := q0 + q1*r4 + q2*(r4*r4)
	return p * math.Float64frombits(uint64(int64(k)+1023)<<52)
}

// gbtSoftmax is the model's softmax (see model.Predictor).
func gbtSoftmax(z, out []float64) {
	hi := math.Inf(-1)
	for _, v := range z {
		hi = max(hi, v)
	}
	var sum float64
	for k, v := range z {
		out[k] = math.Exp(v - hi)
		sum += out[k]
	}
	for k := range out {
		out[k] /= sum
	}
}

// gbtMetric computes a metric from margins (row-major, K per row). Sums run
// over fixed blocks added in order, so the figure does not depend on the
// number of threads.
func gbtMetric(name string, margin, y []float64, K, threads int, alpha float64) float64 {
	n := len(y)
	if name == "auc" {
		prob := make([]float64, n)
		for r := range n {
			prob[r] = gbtSigmoid(margin[r])
		}
		auc, _ := eval.AUC(y, prob)
		return auc
	}
	nblk := (n + rowBlock - 1) / rowBlock
	sums := make([]float64, nblk)
	parallelFor(threads, nblk, func(blk int) {
		var s float64
		prob := make([]float64, K)
		const eps = 1e-15
		for r := blk * rowBlock; r < min(n, (blk+1)*rowBlock); r++ {
			switch name {
			case "logloss":
				q := min(max(gbtSigmoid(margin[r]), eps), 1-eps)
				s -= y[r]*math.Log(q) + (1-y[r])*math.Log(1-q)
			case "error":
				if (margin[r] > 0) != (y[r] > 0.5) {
					s++
				}
			case "mlogloss":
				gbtSoftmax(margin[r*K:(r+1)*K], prob)
				s -= math.Log(min(max(prob[int(y[r])], eps), 1-eps))
			case "merror":
				row := margin[r*K : (r+1)*K]
				if slices.Index(row, slices.Max(row)) != int(y[r]) {
					s++
				}
			case "rmse":
				d := margin[r] - y[r]
				s += d * d
			case "mae":
				s += math.Abs(margin[r] - y[r])
			case "quantile": // the pinball loss
				if d := y[r] - margin[r]; d >= 0 {
					s += alpha * d
				} else {
					s -= (1 - alpha) * d
				}
			}
		}
		sums[blk] = s
	})
	var total float64
	for _, s := range sums {
		total += s
	}
	total /= float64(n)
	if name == "rmse" {
		return math.Sqrt(total)
	}
	return total
}

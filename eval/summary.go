package eval

// Summary is the metrics that fit a model's task: what `plinth model
// evaluate` prints and what pipeline gates read. One of Binary, Multiclass
// and Regression is set.
type Summary struct {
	Rows       int            `json:"rows"`
	Binary     *BinarySummary `json:"binary,omitempty"`
	Multiclass *Multi         `json:"multiclass,omitempty"`
	Regression *Regression    `json:"regression,omitempty"`
}

// BinarySummary is a binary classifier's metrics.
type BinarySummary struct {
	AUC              float64 `json:"auc"`
	LogLoss          float64 `json:"log_loss"`
	AtHalf           Binary  `json:"threshold_0.5"`
	CalibrationError float64 `json:"calibration_error"` // over 10 bins
}

// Summarize measures predictions (outputs per row) against labels: a
// binary classifier's AUC, log loss, metrics at 0.5 and calibration
// error; a multiclass one's (outputs > 1) accuracy, log loss and
// confusion, with labels as class indices; RMSE, MAE and R² otherwise.
func Summarize(labels, preds []float64, outputs int, binary bool) (*Summary, error) {
	s := &Summary{Rows: len(labels)}
	var err error
	switch {
	case outputs > 1:
		m, err := Multiclass(labels, preds, outputs)
		if err != nil {
			return nil, err
		}
		s.Multiclass = &m
	case binary:
		b := &BinarySummary{}
		if b.AUC, err = AUC(labels, preds); err != nil {
			return nil, err
		}
		if b.LogLoss, err = LogLoss(labels, preds); err != nil {
			return nil, err
		}
		if b.AtHalf, err = AtThreshold(labels, preds, 0.5); err != nil {
			return nil, err
		}
		if b.CalibrationError, _, err = Calibration(labels, preds, 10); err != nil {
			return nil, err
		}
		s.Binary = b
	default:
		r, err := Regress(labels, preds)
		if err != nil {
			return nil, err
		}
		s.Regression = &r
	}
	return s, nil
}

// Flat is the summary as named figures: rows; auc, log_loss, accuracy,
// precision, recall, f1 and calibration_error (binary); accuracy and
// log_loss (multiclass); rmse, mae and r2 (regression).
func (s *Summary) Flat() map[string]float64 {
	out := map[string]float64{"rows": float64(s.Rows)}
	switch {
	case s.Multiclass != nil:
		out["accuracy"], out["log_loss"] = s.Multiclass.Accuracy, s.Multiclass.LogLoss
	case s.Binary != nil:
		b := s.Binary
		out["auc"], out["log_loss"], out["calibration_error"] = b.AUC, b.LogLoss, b.CalibrationError
		out["accuracy"], out["precision"], out["recall"], out["f1"] = b.AtHalf.Accuracy, b.AtHalf.Precision, b.AtHalf.Recall, b.AtHalf.F1
	case s.Regression != nil:
		out["rmse"], out["mae"], out["r2"] = s.Regression.RMSE, s.Regression.MAE, s.Regression.R2
	}
	return out
}

#!/usr/bin/env python3
"""A pipeline command step: train XGBoost with scikit-learn's tools, and
leave the model for plinth to serve natively.

The contract (see PIPELINES.md): plinth passes each input's file in
PLINTH_INPUT_<NAME> (here CSV, because the step says `format: csv`), the
step's parameters in PLINTH_PARAM_<NAME>, and an empty output folder in
PLINTH_OUTPUT_DIR. The script reports on stdout with "plinth:metric NAME
VALUE" and "plinth:param NAME VALUE" lines, and leaves model.json — an
XGBoost JSON model — in the output folder. Debian: python3-sklearn,
python3-xgboost.
"""
import csv
import os

import numpy as np
import xgboost as xgb
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.model_selection import train_test_split

label = os.environ.get("PLINTH_PARAM_LABEL", "delayed")
drop = set(os.environ.get("PLINTH_PARAM_DROP", "").split(","))
depth = int(float(os.environ.get("PLINTH_PARAM_MAX_DEPTH", "5")))
rounds = int(float(os.environ.get("PLINTH_PARAM_ROUNDS", "100")))

with open(os.environ["PLINTH_INPUT_TRAIN"], newline="") as f:
    rows = list(csv.DictReader(f))


def number(s):
    if s in ("", "NA", "NULL", "null"):
        return np.nan
    if s in ("true", "false"):
        return float(s == "true")
    return float(s)


# Numeric features only: columns where every value parses as a number.
columns = [c for c in rows[0].keys() if c != label and c not in drop]
features = []
for c in columns:
    try:
        for r in rows[:1000]:
            number(r[c])
        features.append(c)
    except ValueError:
        pass

X = np.array([[number(r[c]) for c in features] for r in rows], dtype=np.float64)
y = np.array([number(r[label]) for r in rows])
# The rows come in time order: validate on the newest fifth.
X_train, X_valid, y_train, y_valid = train_test_split(X, y, test_size=0.2, shuffle=False)

model = xgb.XGBClassifier(n_estimators=rounds, max_depth=depth, learning_rate=0.1, tree_method="hist",
                          early_stopping_rounds=20, eval_metric="logloss")
model.fit(X_train, y_train, eval_set=[(X_valid, y_valid)], verbose=False)
p = model.predict_proba(X_valid)[:, 1]

print(f"plinth:param max_depth {depth}")
print(f"plinth:param features {len(features)}")
print(f"plinth:metric valid_auc {roc_auc_score(y_valid, p):.6f}")
print(f"plinth:metric valid_logloss {log_loss(y_valid, p):.6f}")
print(f"plinth:metric best_iteration {model.best_iteration}")
print(f"trained on {len(y_train)} rows, {len(features)} numeric features")

booster = model.get_booster()
booster.feature_names = features
booster.save_model(os.path.join(os.environ["PLINTH_OUTPUT_DIR"], "model.json"))

#!/usr/bin/python3
"""Side-by-side benchmark of plinth's GBT trainer and XGBoost 1.7 (hist).

Usage (from the repository root):

    /usr/bin/python3 scripts/bench/gbt_vs_xgboost.py [--rows 1000000] [--reps 2]
        [--threads 2] [--dir /tmp/plinth-gbt-bench] [--tasks synth,higgs,covertype,adult,flights]
        [--categorical onehot,native]

It needs Debian's python3-xgboost, python3-sklearn and python3-pandas
(apt-get install -y python3-xgboost python3-sklearn) and Go.

Tasks
  synth      rows x 28 synthetic binary task (generator below, seed 20261122),
             plus 200,000 test rows; 200 rounds, depth 6, eta 0.1, 256 bins.
             Timed --reps times per side, alternating, best time kept.
  higgs      /work/shared/data/lightgbm/binary.{train,test} (HIGGS subset),
             100 rounds, depth 6, eta 0.1.
  covertype  covertype_testing + covertype_validate (100k rows) to train,
             covertype_serving (50k) to test; 7 classes (label Cover_Type-1),
             multi:softprob, 200 rounds, depth 8, eta 0.1; Wilderness_Area and
             Soil_Type categorical.
  adult      demo/data/adult_{train,test}.csv.gz, income >50K; 200 rounds,
             depth 6, eta 0.1; eight categorical columns.
  flights    nycflights13: arrival delay > 15 minutes from month, day, hour,
             carrier, origin, dest, distance and departure delay; trained on
             January-June, tested on July-September (cancelled flights
             dropped); 200 rounds, depth 6, eta 0.1; carrier, origin and dest
             categorical.

Tasks with categorical columns run once per --categorical mode: onehot
(XGBoost gets one-hot columns; plinth splits every category one-vs-rest,
max_cat_to_onehot unbounded, which is the same search) and native (XGBoost
with enable_categorical and plinth, both at max_cat_to_onehot 4, partition
the categories of larger features).

Both sides get the same data in memory (the synthetic table is written once
to a float32 file that both read) and the same parameters: min_child_weight
1, lambda 1, gamma 0, no subsampling. Times cover data-in-memory to trained
model (XGBoost: DMatrix construction + train; plinth: train.GBT, which bins
its input itself). Prints a Markdown table.

XGBoost's OpenMP threads spin while they wait by default; on a machine shared
with other work that costs XGBoost a lot. Run once more with
OMP_WAIT_POLICY=passive in the environment to see XGBoost at its best there.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import xgboost as xgb
from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SHARED = "/work/shared/data"
NCOL = 28
TEST_ROWS = 200_000


def synth(n, seed=20261122):
    """n rows of the synthetic HIGGS-like task: label, then 28 features.

    21 "low-level" features: standard normals, a few of them made heavy
    tailed, discrete or correlated; 7 "high-level" features derived from
    them non-linearly with noise. The label is Bernoulli(sigmoid(f(x))) with
    f a mix of linear, threshold, interaction and periodic terms, so the
    Bayes AUC is well below 1.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, NCOL)).astype(np.float64)
    x[:, 3] = np.abs(x[:, 3]) ** 1.5                       # skewed, positive
    x[:, 5] = rng.integers(0, 3, n) * 1.1                  # b-tag like: 0, 1.1, 2.2
    x[:, 9] = x[:, 0] * 0.6 + x[:, 9] * 0.8                # correlated with x0
    x[:, 12] = rng.exponential(1.0, n)
    for j in range(7):                                      # "invariant masses"
        a, b = x[:, 2 * j], x[:, 2 * j + 1]
        x[:, 21 + j] = np.sqrt(a * a + b * b + 0.5) + 0.1 * rng.standard_normal(n)
    f = (0.8 * x[:, 0] - 0.6 * x[:, 1] * x[:, 2] + np.sin(1.5 * x[:, 3])
         + 0.5 * (x[:, 4] > 0.5) * x[:, 6] + 0.4 * x[:, 5] - 0.5 * np.abs(x[:, 7])
         + 0.3 * x[:, 21] - 0.4 * (x[:, 22] > 1.5) + 0.25 * x[:, 8] * x[:, 10]
         - 0.3 * x[:, 12] + 0.2 * np.cos(2 * x[:, 13]) + 0.3 * x[:, 24] * (x[:, 15] > 0))
    y = (rng.random(n) < 1 / (1 + np.exp(-f))).astype(np.float64)
    out = np.empty((n, NCOL + 1), dtype="<f4")
    out[:, 0] = y
    out[:, 1:] = x
    return out


def synth_file(d, rows):
    path = os.path.join(d, f"synth_{rows}.f32")
    if not os.path.exists(path):
        data = synth(rows + TEST_ROWS)
        tmp = path + ".tmp"
        data.tofile(tmp)
        os.rename(tmp, path)
    return path


def xgb_train(params, X, y, rounds):
    t0 = time.perf_counter()
    d = xgb.DMatrix(X, label=y, nthread=params["nthread"], enable_categorical=isinstance(X, pd.DataFrame))
    bst = xgb.train(params, d, rounds)
    return bst, time.perf_counter() - t0


def base_params(threads, **kw):
    p = {"tree_method": "hist", "max_bin": 256, "nthread": threads, "min_child_weight": 1,
         "lambda": 1, "gamma": 0, "seed": 1, "verbosity": 0}
    p.update(kw)
    return p


def run_xgb(task, d, rows, threads, mode="onehot"):
    if task == "synth":
        data = np.fromfile(synth_file(d, rows), dtype="<f4").reshape(-1, NCOL + 1)
        tr, te = data[:rows], data[rows:]
        p = base_params(threads, objective="binary:logistic", max_depth=6, eta=0.1)
        bst, sec = xgb_train(p, tr[:, 1:], tr[:, 0], 200)
        pred = bst.predict(xgb.DMatrix(te[:, 1:], nthread=threads))
        return {"seconds": sec, "auc": roc_auc_score(te[:, 0], pred), "logloss": log_loss(te[:, 0], pred)}
    if task == "higgs":
        tr = np.loadtxt(f"{SHARED}/lightgbm/binary.train")
        te = np.loadtxt(f"{SHARED}/lightgbm/binary.test")
        p = base_params(threads, objective="binary:logistic", max_depth=6, eta=0.1)
        bst, sec = xgb_train(p, tr[:, 1:], tr[:, 0], 100)
        pred = bst.predict(xgb.DMatrix(te[:, 1:]))
        return {"seconds": sec, "auc": roc_auc_score(te[:, 0], pred), "logloss": log_loss(te[:, 0], pred)}
    if task == "covertype":
        cv = f"{SHARED}/covertype/covertype_%s.csv.gz"
        tr = pd.concat([pd.read_csv(cv % "testing"), pd.read_csv(cv % "validate")])
        te = pd.read_csv(cv % "serving")
        X, Xt = encode(tr.drop(columns="Cover_Type"), te.drop(columns="Cover_Type"),
                       ["Wilderness_Area", "Soil_Type"], mode)
        p = base_params(threads, objective="multi:softprob", num_class=7, max_depth=8, eta=0.1)
        bst, sec = xgb_train(p, X, tr["Cover_Type"].values - 1, 200)
        prob = bst.predict(dmatrix(Xt)).reshape(-1, 7)
        y = te["Cover_Type"].values - 1
        return {"seconds": sec, "accuracy": accuracy_score(y, prob.argmax(1)),
                "mlogloss": log_loss(y, prob, labels=list(range(7)))}
    if task == "adult":
        cats = ["workclass", "education", "marital_status", "occupation", "relationship",
                "race", "sex", "native_country"]
        tr = pd.read_csv(f"{ROOT}/demo/data/adult_train.csv.gz", na_values=["?", "NA", ""], skipinitialspace=True)
        te = pd.read_csv(f"{ROOT}/demo/data/adult_test.csv.gz", na_values=["?", "NA", ""], skipinitialspace=True)
        X, Xt = encode(tr.drop(columns="income"), te.drop(columns="income"), cats, mode)
        y, yt = (tr["income"] == ">50K").values, (te["income"] == ">50K").values
        p = base_params(threads, objective="binary:logistic", max_depth=6, eta=0.1)
        bst, sec = xgb_train(p, X, y, 200)
        pred = bst.predict(dmatrix(Xt))
        return {"seconds": sec, "auc": roc_auc_score(yt, pred), "logloss": log_loss(yt, pred)}
    if task == "flights":
        tr, te = flights_frames(d)
        cats = ["carrier", "origin", "dest"]
        X, Xt = encode(tr.drop(columns="late"), te.drop(columns="late"), cats, mode)
        p = base_params(threads, objective="binary:logistic", max_depth=6, eta=0.1)
        bst, sec = xgb_train(p, X, tr["late"].values, 200)
        pred = bst.predict(dmatrix(Xt))
        return {"seconds": sec, "auc": roc_auc_score(te["late"].values, pred), "logloss": log_loss(te["late"].values, pred)}
    raise ValueError(task)


def flights_frames(d):
    """The flights task's train and test frames, also written to d as the
    gzipped CSVs the Go side reads."""
    f = pd.read_csv(f"{SHARED}/nycflights13/flights.csv.gz")
    f = f.dropna(subset=["arr_delay", "dep_delay"])
    f["late"] = (f["arr_delay"] > 15).astype(int)
    cols = ["month", "day", "hour", "carrier", "origin", "dest", "distance", "dep_delay", "late"]
    tr, te = f[f["month"] <= 6][cols], f[(f["month"] >= 7) & (f["month"] <= 9)][cols]
    os.makedirs(d, exist_ok=True)
    tr.to_csv(os.path.join(d, "flights_train.csv.gz"), index=False)
    te.to_csv(os.path.join(d, "flights_test.csv.gz"), index=False)
    return tr, te


def encode(tr, te, cats, mode):
    """The categorical columns one-hot encoded, or (native) as pandas
    categories for XGBoost's own categorical splits."""
    if mode == "native":
        both = pd.concat([tr, te]).astype({c: "category" for c in cats})
        return both.iloc[: len(tr)], both.iloc[len(tr):]
    return onehot(tr, te, cats)


def dmatrix(X):
    return xgb.DMatrix(X, enable_categorical=isinstance(X, pd.DataFrame))


def onehot(tr, te, cats):
    both = pd.get_dummies(pd.concat([tr, te]).astype({c: "category" for c in cats}), columns=cats, dtype=np.float32)
    X = both.iloc[: len(tr)].to_numpy(np.float32)
    Xt = both.iloc[len(tr):].to_numpy(np.float32)
    return X, Xt


def run_plinth(task, d, rows, threads, binary, mode="onehot"):
    env = dict(os.environ, PLINTH_GBT_BENCH_TASK=task, PLINTH_GBT_BENCH_DIR=d,
               PLINTH_GBT_BENCH_ROWS=str(rows), PLINTH_GBT_BENCH_ROOT=ROOT, GOMAXPROCS=str(threads),
               PLINTH_GBT_BENCH_CATEGORICAL=mode)
    out = subprocess.run([binary, "-test.run", "^TestGBTBench$", "-test.v", "-test.timeout", "60m"],
                         env=env, capture_output=True, text=True, cwd=os.path.join(ROOT, "train"))
    for line in out.stdout.splitlines():
        if "GBTBENCH " in line:
            return json.loads(line.split("GBTBENCH ", 1)[1])
    sys.exit(f"plinth {task} failed:\n{out.stdout}\n{out.stderr}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--dir", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "plinth-gbt-bench"))
    ap.add_argument("--tasks", default="synth,higgs,covertype,adult,flights")
    ap.add_argument("--categorical", default="onehot,native",
                    help="how the tasks with categorical columns are run: onehot (XGBoost gets one-hot "
                         "columns, plinth splits every category one-vs-rest) and/or native (both split "
                         "categories by their own partitions, max_cat_to_onehot 4)")
    a = ap.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    binary = os.path.join(a.dir, "train.test")
    subprocess.run(["go", "test", "-c", "-o", binary, "./train/"], cwd=ROOT, check=True)
    print(f"xgboost {xgb.__version__}, numpy {np.__version__}, threads {a.threads}, "
          f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}, load {os.getloadavg()}", flush=True)
    rows = []
    runs = []
    for task in a.tasks.split(","):
        if task in ("covertype", "adult", "flights"):
            runs += [(task, mode) for mode in a.categorical.split(",")]
        else:
            runs.append((task, "onehot"))
    for task, mode in runs:
        if task == "synth":
            synth_file(a.dir, a.rows)
        reps = a.reps if task == "synth" else 1
        best = {}
        for rep in range(reps):
            for side, fn in (("xgboost", lambda: run_xgb(task, a.dir, a.rows, a.threads, mode)),
                             ("plinth", lambda: run_plinth(task, a.dir, a.rows, a.threads, binary, mode))):
                r = fn()
                print(f"  {task} ({mode}) rep {rep + 1} {side}: {json.dumps(r)}", flush=True)
                if side not in best or r["seconds"] < best[side]["seconds"]:
                    best[side] = r
        label = task if task in ("synth", "higgs") else f"{task} ({mode})"
        rows.append((label, best))
    print()
    print("| task | metric | XGBoost | plinth | time XGBoost | time plinth | ratio plinth/XGBoost |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for task, best in rows:
        x, p = best["xgboost"], best["plinth"]
        for m in ("auc", "logloss", "accuracy", "mlogloss"):
            if m in x:
                print(f"| {task} | test {m} | {x[m]:.4f} | {p[m]:.4f} | {x['seconds']:.2f} s | "
                      f"{p['seconds']:.2f} s | {p['seconds'] / x['seconds']:.2f} |")


if __name__ == "__main__":
    main()

"""Choosing tabular defaults without the benchmarks' test folds: the inner protocol.

Inside each of a benchmark's five training folds (``StratifiedKFold(5, shuffle=True,
random_state=0)``, the benchmarks' own splits), an inner ``StratifiedKFold(5, shuffle=True,
random_state=1)`` gives out-of-fold scores for every candidate and for the cross-fitted
ensemble, as ``tailorkit run`` computes them. Reported: the pooled AUC over each training
fold's inner out-of-fold scores, averaged over the five training folds. The benchmark's test
folds are never scored. Size-dependent defaults are settled on the training fold's size.

    .venv/bin/python benchmarks/tabular_settings_choice.py --dataset german
    .venv/bin/python benchmarks/tabular_settings_choice.py --dataset german \
        --param lightgbm.n_bags=1

Each candidate's inner scores are cached (``--cache``) by data set, family and parameters,
so a run that changes one candidate's parameters refits only that one.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from credit import SHARED, load_german, load_taiwan  # noqa: E402
from diagnosis import load_cleveland, load_wdbc  # noqa: E402

from tailorkit.models import make_model, sized_params  # noqa: E402
from tailorkit.training.crossval import cross_fitted_blend  # noqa: E402


def load_ai4i() -> tuple[pd.DataFrame, str]:
    """AI4I 2020 (10,000 rows): machine failure from the process readings; the failure-mode
    flags (which make up the target) and the ids are dropped."""
    frame = pd.read_csv(SHARED / "ai4i2020" / "ai4i2020.csv", encoding="utf-8-sig")
    return frame.drop(columns=["UDI", "Product ID", "TWF", "HDF", "PWF", "OSF", "RNF"]), (
        "Machine failure"
    )


LOADERS = {
    "german": load_german,
    "taiwan": load_taiwan,
    "cleveland": load_cleveland,
    "wdbc": load_wdbc,
    "ai4i": load_ai4i,
}
FAMILIES = ("logistic", "lightgbm", "ft_transformer")


def inner_scores(family: str, params: dict, X, y, cache: Path, dataset: str) -> list[np.ndarray]:
    """Per training fold: the candidate's inner out-of-fold scores (cached)."""
    key = hashlib.sha1(json.dumps([dataset, family, params], sort_keys=True).encode())
    path = cache / f"{dataset}-{family}-{key.hexdigest()[:10]}.json"
    if path.exists():
        return [np.array(s) for s in json.loads(path.read_text())]
    started, folds = time.perf_counter(), []
    for train, _ in StratifiedKFold(5, shuffle=True, random_state=0).split(X, y):
        Xo, yo = X.iloc[train].reset_index(drop=True), y[train]
        settled = sized_params(family, {"random_state": 0, **params}, len(yo))
        scores = np.zeros(len(yo))
        for a, b in StratifiedKFold(5, shuffle=True, random_state=1).split(Xo, yo):
            model = make_model(family, **settled).fit(Xo.iloc[a], yo[a])
            scores[b] = model.predict_proba(Xo.iloc[b])[:, 1]
        folds.append(scores)
    print(f"  {family} {params}: {time.perf_counter() - started:.0f} s", flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([s.tolist() for s in folds]))
    return folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=list(LOADERS), default="german")
    parser.add_argument("--models", nargs="+", default=list(FAMILIES), choices=FAMILIES)
    parser.add_argument("--param", action="append", default=[], help="family.name=value")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/tailorkit-inner"))
    args = parser.parse_args()
    params: dict[str, dict] = {f: {} for f in args.models}
    for item in args.param:
        name, value = item.split("=", 1)
        family, key = name.split(".", 1)
        params[family][key] = ast.literal_eval(value)
    frame, target = LOADERS[args.dataset]()
    y = frame[target].to_numpy().astype(int)
    X = frame.drop(columns=[target])
    scores = {f: inner_scores(f, params[f], X, y, args.cache, args.dataset) for f in args.models}
    outer = list(StratifiedKFold(5, shuffle=True, random_state=0).split(X, y))
    pooled: dict[str, list[float]] = {name: [] for name in [*args.models, "ensemble"]}
    for k, (train, _) in enumerate(outer):
        yo = y[train]
        oof = {f: scores[f][k] for f in args.models}
        inner = list(StratifiedKFold(5, shuffle=True, random_state=1).split(yo, yo))
        oof["ensemble"] = cross_fitted_blend(oof, yo, inner, seed=0)
        for name, values in oof.items():
            pooled[name].append(roc_auc_score(yo, values))
    print(f"{args.dataset}, {params}")
    for name, values in pooled.items():
        print(
            f"  {name:15s} inner pooled AUC {np.mean(values):.4f}  per fold "
            + " ".join(f"{v:.4f}" for v in values)
        )


if __name__ == "__main__":
    main()

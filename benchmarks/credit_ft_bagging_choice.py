"""How the FT-Transformer's small-table default (a bag of networks) was chosen, on German
credit's *training* folds only: inside each of the benchmark's five training folds, an inner
``StratifiedKFold(5, shuffle=True, random_state=1)``; the pooled AUC over each training fold's
inner out-of-fold scores, averaged over the five. The benchmark's test folds are never scored.

    .venv/bin/python benchmarks/credit_ft_bagging_choice.py --bags 1
    .venv/bin/python benchmarks/credit_ft_bagging_choice.py --bags 3
    .venv/bin/python benchmarks/credit_ft_bagging_choice.py --bags 1 --mc 10
    .venv/bin/python benchmarks/credit_ft_bagging_choice.py --bags 1 --param patience=20

Columns: ``pooled`` (the criterion), ``shift`` (each model's logits shifted so its mean
predicted probability on its own training rows equals their base rate), ``fold mean``.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parent))
from credit import load_german  # noqa: E402

from tailorkit.models.ft_transformer import FTTransformer  # noqa: E402


def logits(model: FTTransformer, X, mc: int) -> np.ndarray:
    """The model's logits; with ``mc`` > 0 the mean of that many passes with dropout on."""
    if not mc:
        p = np.clip(model.predict_proba(X)[:, 1], 1e-7, 1 - 1e-7)
        return logit(p)
    numeric, categorical = model._encode(X)
    model.network_.train()
    with torch.no_grad():
        out = torch.stack([model.network_(numeric, categorical) for _ in range(mc)]).mean(0)
    model.network_.eval()
    return out.numpy().astype(float)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bags", type=int, default=1)
    parser.add_argument("--mc", type=int, default=0, help="Monte Carlo dropout passes")
    parser.add_argument("--param", action="append", default=[], help="name=value, repeatable")
    args = parser.parse_args()
    params = {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in args.param)}
    frame, target = load_german()
    y = frame[target].to_numpy().astype(int)
    X = frame.drop(columns=[target])
    outer = StratifiedKFold(5, shuffle=True, random_state=0).split(X, y)
    scores: dict[str, list[float]] = {"pooled": [], "shift": [], "fold mean": []}
    for fold, (train, _) in enumerate(outer):
        Xo, yo = X.iloc[train].reset_index(drop=True), y[train]
        raw, shifted, fold_aucs = np.zeros(len(yo)), np.zeros(len(yo)), []
        inner = StratifiedKFold(5, shuffle=True, random_state=1).split(Xo, yo)
        for a, b in inner:
            model = FTTransformer(n_bags=args.bags, n_threads=1, time_limit=None, **params)
            model.fit(Xo.iloc[a], yo[a])
            own, held = logits(model, Xo.iloc[a], args.mc), logits(model, Xo.iloc[b], args.mc)
            rate = yo[a].mean()
            shift = brentq(lambda s, own=own, rate=rate: expit(own + s).mean() - rate, -10, 10)
            raw[b], shifted[b] = held, held + shift
            fold_aucs.append(roc_auc_score(yo[b], held))
        scores["pooled"].append(roc_auc_score(yo, raw))
        scores["shift"].append(roc_auc_score(yo, shifted))
        scores["fold mean"].append(float(np.mean(fold_aucs)))
        print(f"training fold {fold}: " + ", ".join(f"{k} {v[-1]:.4f}" for k, v in scores.items()))
    print(
        f"bags {args.bags}, mc {args.mc}, {params}: "
        + ", ".join(f"{k} {np.mean(v):.4f}" for k, v in scores.items())
    )


if __name__ == "__main__":
    main()

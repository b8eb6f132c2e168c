"""Compare SASRec settings on ml-latest-small without touching its validation or test items.

The benchmark's 610 validation cases are too few to choose between settings (NDCG@10 moves
by +-0.005 from one epoch to the next). This script builds an *inner* protocol from the
training sequences alone (each user's sequence minus its validation and test items): the
last ``--cases`` items of each sequence become next-item cases (history = everything
before), the item before them is the inner validation case for early stopping, the rest is
inner training. About five times as many cases as the benchmark's test, same full ranking
with seen items excluded.

``--seeds 0 1 2`` fits one model per seed (two at a time, one thread each) and reports each
seed and the ensembles of its first 2, 3, ... seeds (their log-softmax scores averaged): one
seed's NDCG@10 moves by about 0.003-0.005 with the seed, as much as most settings do.

    .venv/bin/python benchmarks/recommendation_settings_choice.py --param max_len=50
    .venv/bin/python benchmarks/recommendation_settings_choice.py --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import ast
import json
import multiprocessing
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recommendation as bench  # noqa: E402


def inner_protocol(cases: int, text: bool) -> dict:
    """Inner training sequences, early-stopping cases and next-item cases (training only)."""
    data = bench.load_movielens()
    sequences, times = data.sequences()
    split = bench.leave_one_out(sequences, times)
    vectors = bench.text_vectors("ml-latest-small", data) if text else None
    train, train_times, valid_h, valid_t, test_h, test_t = [], [], [], [], [], []
    for seq, ts in zip(split.train, split.train_times, strict=True):
        if len(seq) < cases + 3:  # too short to lend cases: training only
            train.append(seq)
            train_times.append(ts)
            continue
        cut = len(seq) - cases - 1
        train.append(seq[:cut])
        train_times.append(ts[:cut])
        valid_h.append(seq[:cut])
        valid_t.append(seq[cut])
        for position in range(cut + 1, len(seq)):
            test_h.append(seq[:position])
            test_t.append(seq[position])
    return {
        "n_items": data.n_items,
        "train": bench.TrainingSequences(train, data.n_items, train_times, item_vectors=vectors),
        "valid": bench.Validation(valid_h, np.asarray(valid_t)),
        "histories": test_h,
        "targets": np.asarray(test_t),
    }


def fit_and_score(params: dict, seed: int, cases: int, text: bool, budget_s: float) -> dict:
    """One seed: fit on the inner training sequences; log-softmax scores of every case."""
    inner = inner_protocol(cases, text)
    model = bench.make_model(
        "sasrec", n_threads=1, time_limit=budget_s, random_state=seed, **{"n_seeds": 1, **params}
    )
    started = time.perf_counter()
    model.fit(inner["train"], inner["valid"])
    fit_s = time.perf_counter() - started
    histories = inner["histories"]
    scores = np.concatenate(
        [model.score(histories[i : i + 512]) for i in range(0, len(histories), 512)]
    ).astype(np.float32)
    scores -= scores.max(1, keepdims=True)
    scores -= np.log(np.exp(scores).sum(1, keepdims=True))
    return {"seed": seed, "scores": scores, "best_epoch": model.best_epoch_, "fit_s": fit_s}


def report(name: str, scores: np.ndarray, inner: dict) -> dict:
    batches = iter(range(0, len(scores), 512))
    ranks, _ = bench.evaluate_scorer(
        lambda h: scores[next(batches) :][: len(h)],  # called batch by batch, in order
        inner["histories"],
        inner["targets"],
        inner["n_items"],
    )
    metrics = bench.ranking_metrics(ranks)
    low, high = bench.bootstrap_interval(ranks, "ndcg@10", 1000, seed=0)
    return {
        "model": name,
        "inner_cases": len(ranks),
        "inner_ndcg@10": round(metrics["ndcg@10"], 4),
        "ci": [round(low, 4), round(high, 4)],
        "inner_hr@10": round(metrics["hr@10"], 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--param", action="append", default=[], help="name=value, repeatable")
    parser.add_argument("--no-text", action="store_true")
    parser.add_argument("--cases", type=int, default=5, help="inner cases per user")
    parser.add_argument("--budget-min", type=float, default=None, help="opt-in time cap")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--workers", type=int, default=2, help="seeds fitted at once")
    args = parser.parse_args()
    params = {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in args.param)}
    fit = partial(
        fit_and_score,
        params,
        cases=args.cases,
        text=not args.no_text,
        budget_s=args.budget_min * 60 if args.budget_min else None,
    )
    if len(args.seeds) == 1:
        fits = [fit(args.seeds[0])]
    else:
        context = multiprocessing.get_context("spawn")
        workers = min(args.workers, len(args.seeds))
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            fits = list(pool.map(fit, args.seeds))
    inner = inner_protocol(args.cases, not args.no_text)
    common = {"params": params, "text": not args.no_text}
    for one in fits:
        row = report(f"seed {one['seed']}", one["scores"], inner)
        print(
            json.dumps(
                {**common, **row, "best_epoch": one["best_epoch"], "fit_s": round(one["fit_s"])}
            ),
            flush=True,
        )
    for size in range(2, len(fits) + 1):  # every prefix: what one more seed adds
        mean = np.mean([one["scores"] for one in fits[:size]], axis=0)
        row = report(f"ensemble of seeds {args.seeds[:size]}", mean, inner)
        print(json.dumps({**common, **row}), flush=True)


if __name__ == "__main__":
    main()

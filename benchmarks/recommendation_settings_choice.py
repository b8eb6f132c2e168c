"""Compare SASRec settings on ml-latest-small without touching its validation or test items.

The benchmark's 610 validation cases are too few to choose between settings (NDCG@10 moves
by +-0.005 from one epoch to the next). This script builds an *inner* protocol from the
training sequences alone (each user's sequence minus its validation and test items): the
last ``--cases`` items of each sequence become next-item cases (history = everything
before), the item before them is the inner validation case for early stopping, the rest is
inner training. About five times as many cases as the benchmark's test, same full ranking
with seen items excluded.

    .venv/bin/python benchmarks/recommendation_settings_choice.py --param max_len=50
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import recommendation as bench  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--param", action="append", default=[], help="name=value, repeatable")
    parser.add_argument("--no-text", action="store_true")
    parser.add_argument("--cases", type=int, default=5, help="inner cases per user")
    parser.add_argument("--budget-min", type=float, default=25.0)
    args = parser.parse_args()
    params = {k: ast.literal_eval(v) for k, v in (p.split("=", 1) for p in args.param)}
    data = bench.load_movielens()
    sequences, times = data.sequences()
    split = bench.leave_one_out(sequences, times)
    vectors = None if args.no_text else bench.text_vectors("ml-latest-small", data)
    k = args.cases
    train, train_times, valid_h, valid_t, test_h, test_t = [], [], [], [], [], []
    for seq, ts in zip(split.train, split.train_times, strict=True):
        if len(seq) < k + 3:  # too short to lend cases: training only
            train.append(seq)
            train_times.append(ts)
            continue
        cut = len(seq) - k - 1
        train.append(seq[:cut])
        train_times.append(ts[:cut])
        valid_h.append(seq[:cut])
        valid_t.append(seq[cut])
        for position in range(cut + 1, len(seq)):
            test_h.append(seq[:position])
            test_t.append(seq[position])
    model = bench.make_recommender(
        "sasrec", threads=1, time_budget_s=args.budget_min * 60, **params
    )
    started = time.perf_counter()
    model.fit(
        bench.TrainingSequences(train, data.n_items, train_times, item_vectors=vectors),
        bench.Validation(valid_h, np.asarray(valid_t)),
    )
    ranks, _ = bench.evaluate_scorer(model.score, test_h, np.asarray(test_t), data.n_items)
    metrics = bench.ranking_metrics(ranks)
    low, high = bench.bootstrap_interval(ranks, "ndcg@10", 1000, seed=0)
    print(
        json.dumps(
            {
                "params": params,
                "text": not args.no_text,
                "inner_cases": len(test_t),
                "inner_ndcg@10": round(metrics["ndcg@10"], 4),
                "ci": [round(low, 4), round(high, 4)],
                "inner_hr@10": round(metrics["hr@10"], 4),
                "best_epoch": model.best_epoch_,
                "fit_s": round(time.perf_counter() - started),
            }
        )
    )


if __name__ == "__main__":
    main()

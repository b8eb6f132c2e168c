"""The recommendation run's report content: protocol, counts, leaderboard, ablation."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ABLATION_SUFFIX = " (no pretraining)"


def rank_by_validation(rows: list[dict], metric: str) -> list[dict]:
    """Best first by the validation cases' ``metric`` (the champion), rows without one last;
    ties keep the candidates' order. The pretraining ablation competes like any candidate,
    so a transformer keeps its pretraining only where pretraining helps on validation."""
    key = f"valid_{metric}"
    return sorted(rows, key=lambda r: -r[key] if r.get(key) is not None else math.inf)


def result_document(spec, data, split, rows, blocked) -> dict[str, Any]:
    """The run's report content: protocol, data counts, leaderboard, pretraining ablation."""
    ablation = None
    by = {r["model"]: r for r in rows}
    for name, row in by.items():
        twin = by.get(name + ABLATION_SUFFIX)
        if twin:
            chooses = f"valid_{spec.evaluation.metric}"
            keep = (chooses, "hr@10", "ndcg@10", "ndcg@10_ci", "fit_seconds", "best_epoch")
            ranked = rank_by_validation([row, twin], spec.evaluation.metric)
            ablation = {
                "model": name,
                "with": {k: row.get(k) for k in keep},
                "without": {k: twin.get(k) for k in keep},
                "delta_ndcg@10": row["ndcg@10"] - twin["ndcg@10"],
                "kept": "with" if ranked[0] is row else "without",
                "chosen_by": chooses,
            }
    seen = (
        "items the user had before the target are excluded"
        if spec.recommend.exclude_seen
        else "seen items are kept"
    )
    protocol = (
        f"{split.description} Every item in the catalogue is ranked (no sampled negatives); "
        f"{seen}; bootstrap 95% intervals over test users ({spec.evaluation.bootstrap} "
        f"resamples). The champion is the candidate with the best {spec.evaluation.metric} on "
        "the validation cases (early stopping uses them too); the test cases choose nothing."
    )
    return {
        "protocol": {
            "kind": split.protocol,
            "title": f"{split.protocol}, full ranking, seen excluded, {len(split.test)} test users",
            "seed": spec.evaluation.seed,
            "description": protocol,
            "cold_items_fraction": spec.evaluation.cold_items_fraction,
        },
        "data": {**data.counts, **split.counts, "blocked_by_rules": int(np.sum(blocked))},
        "leaderboard": rows,
        "ablation": {"pretraining": ablation} if ablation else {},
        "warnings": data.warnings,
    }

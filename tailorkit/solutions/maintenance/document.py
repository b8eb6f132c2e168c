"""The maintenance run's report content: protocol, data, tasks, leaderboard, ablation."""

from __future__ import annotations

from typing import Any

import numpy as np

ABLATION_SUFFIX = " (no pretraining)"


def result_document(spec, fleet, normalizer, split, rows) -> dict[str, Any]:
    """The run's report content: protocol, data, tasks, leaderboard, pretraining ablation."""
    evaluation = spec.evaluation
    n_valid = len(np.unique(split.assets[split.windows.end][~split.train]))
    description = (
        f"Grouped holdout by asset: {n_valid} validation asset(s) (seed {evaluation.seed}, "
        f"{evaluation.validation_fraction:.0%} of the assets with failures); no asset has "
        "windows on both sides; the normalizer and every model are fitted on the training "
        f"assets only. rmse, mae and phm08_score follow the C-MAPSS protocol: each validation "
        f"life is cut at {evaluation.cuts_per_asset} random cycle(s) and predicted once at "
        "the cut, against the capped target the models learn (RUL capped at "
        f"{spec.tasks.rul_cap:g}; rmse_uncapped: against the true remaining life); "
        "rmse_all_windows scores every validation window against the capped target. "
        "Classification: failure within "
        f"{spec.tasks.horizon:g} time steps, F1 at the alert threshold "
        f"{spec.alerts.failure_probability_above:g}."
    )
    return {
        "protocol": {
            "kind": "grouped holdout",
            "title": f"grouped holdout by asset ({n_valid} validation assets), seed "
            f"{evaluation.seed}",
            "folds": 1,
            "seed": evaluation.seed,
            "description": description,
        },
        "data": {
            **fleet.summary(),
            **normalizer.describe(),
            "life_context": spec.tasks.life_context,
        },
        "tasks": spec.tasks.model_dump(),
        "leaderboard": rows,
        "ablation": _ablation(rows),
    }


def _ablation(rows: list[dict]) -> list[dict]:
    by_name = {r["model"]: r for r in rows}
    out = []
    for name, row in by_name.items():
        twin = by_name.get(name + ABLATION_SUFFIX)
        if twin:
            out.append(
                {
                    "model": name,
                    "rmse_with_pretraining": row["rmse"],
                    "rmse_without": twin["rmse"],
                    "phm08_with": row["phm08_score"],
                    "phm08_without": twin["phm08_score"],
                    "rmse_all_windows_with": row["rmse_all_windows"],
                    "rmse_all_windows_without": twin["rmse_all_windows"],
                }
            )
    return out

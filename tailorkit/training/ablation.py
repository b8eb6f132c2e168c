"""Pretraining ablation twins: a candidate trained again with pretraining flipped, reported
beside it and never chosen (the report's "does pretraining help here?" table)."""

from __future__ import annotations

from typing import Any

ABLATION_SUFFIXES = {False: " (no pretraining)", True: " (with pretraining)"}


def is_ablation(name: str) -> bool:
    return name.endswith(tuple(ABLATION_SUFFIXES.values()))


def pretraining_twin(
    name: str, params: dict[str, Any], unlabeled: bool
) -> tuple[str, dict[str, Any]]:
    """An FT-Transformer candidate's ablation twin: its name and params with pretraining
    flipped (``pretrain`` unset means on only when ``unlabeled`` rows are given)."""
    main = params.get("pretrain")
    main = unlabeled if main is None else bool(main)
    return name + ABLATION_SUFFIXES[not main], {**params, "pretrain": not main}


def pretraining_ablation(rows: list[dict], auc: str = "auc") -> dict[str, Any] | None:
    """The first candidate with a pretraining twin: AUC (the rows' key ``auc``), its
    interval, fold spread and fit time with and without pretraining."""
    by_name = {r["model"]: r for r in rows}
    keep = {
        "auc": auc,
        "auc_ci": f"{auc}_ci",
        "fold_auc_mean": "fold_auc_mean",
        "fold_auc_std": "fold_auc_std",
        "fit_seconds": "fit_seconds",
    }
    for name, row in by_name.items():
        for twin_pretrains, suffix in ABLATION_SUFFIXES.items():
            twin = by_name.get(name + suffix)
            if twin:
                pretrained, plain = (twin, row) if twin_pretrains else (row, twin)
                return {
                    "model": name,
                    "with": {k: pretrained.get(v) for k, v in keep.items()},
                    "without": {k: plain.get(v) for k, v in keep.items()},
                    "delta_auc": pretrained[auc] - plain[auc],
                }
    return None

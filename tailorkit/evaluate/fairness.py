"""Group fairness audit of one protected column: per-group rates, AUC and the gaps between groups.

Numeric columns with many values are banded first (age bands for an age column, four
quantile bands otherwise); missing values form their own group, ``"missing"``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame, demographic_parity_difference

from tailorkit.evaluate.metrics import as_binary_arrays, roc_auc

MISSING = "missing"
MAX_CATEGORIES = 10
AGE_BANDS = ((25, "<25"), (35, "25-34"), (50, "35-49"), (np.inf, "50+"))
_AGE_NAME = re.compile(r"(^|[^a-z])age([^a-z]|$)", re.IGNORECASE)


def _format_value(value: Any) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:g}"
    return str(value)


def _is_age(name: str, values: pd.Series) -> bool:
    return bool(_AGE_NAME.search(name)) and values.between(0, 130).all()


def _age_bands(values: pd.Series) -> pd.Series:
    edges = [-np.inf] + [upper for upper, _ in AGE_BANDS]
    labels = [label for _, label in AGE_BANDS]
    return pd.cut(values, bins=edges, labels=labels, right=False).astype(str)


def _quantile_bands(values: pd.Series, n_bands: int = 4) -> pd.Series:
    bands, edges = pd.qcut(values, q=n_bands, retbins=True, duplicates="drop")
    labels = [
        f"{'[' if i == 0 else '('}{low:g}, {high:g}]"
        for i, (low, high) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    ]
    return bands.cat.rename_categories(labels).astype(str)


def band_groups(groups: Any, max_categories: int = MAX_CATEGORIES) -> tuple[pd.Series, str | None]:
    """String group labels for ``groups`` and how they were banded (None, "age", "quantile")."""
    series = pd.Series(groups).reset_index(drop=True)
    name = "" if series.name is None else str(series.name)
    present = series.notna()
    labels = pd.Series(MISSING, index=series.index, dtype=object)
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    values = series[present]
    if numeric and values.nunique() > max_categories:
        kind = "age" if _is_age(name, values) else "quantile"
        banded = _age_bands(values) if kind == "age" else _quantile_bands(values)
        labels[present] = banded.to_numpy()
        return labels, kind
    labels[present] = [_format_value(v) for v in values]
    return labels, None


def _group_order(labels: pd.Series, banding: str | None) -> list[str]:
    """Bands in their natural order, categories sorted, "missing" last."""
    present = [g for g in pd.unique(labels) if g != MISSING]
    if banding == "age":
        present = [label for _, label in AGE_BANDS if label in present]
    elif banding == "quantile":
        present.sort(key=lambda label: float(label[1:].split(",")[0]))
    else:
        present.sort()
    return present + ([MISSING] if (labels == MISSING).any() else [])


def _rate(mask: np.ndarray, among: np.ndarray) -> float:
    """Share of ``among`` rows where ``mask`` holds; NaN when there are no such rows."""
    return float(mask[among].mean()) if among.any() else float("nan")


def _per_group_metrics(threshold: float) -> dict[str, Any]:
    """fairlearn metric functions over (y, score); undefined rates are NaN, not 0, so a
    group without positives does not count as a TPR of 0 in the gaps."""
    return {
        "n": lambda y, p: float(y.size),
        "positive_rate": lambda y, p: float(np.mean(y)),
        "selection_rate": lambda y, p: float(np.mean(p > threshold)),
        "tpr": lambda y, p: _rate(np.asarray(p) > threshold, np.asarray(y) == 1),
        "fpr": lambda y, p: _rate(np.asarray(p) > threshold, np.asarray(y) == 0),
        "auc": lambda y, p: np.nan if (a := roc_auc(np.asarray(y), np.asarray(p))) is None else a,
    }


def _plain(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _spread(values: pd.Series) -> float | None:
    """max - min over the defined values; None with fewer than two."""
    defined = values.dropna()
    return float(defined.max() - defined.min()) if defined.size >= 2 else None


def group_fairness(
    y: Any, p: Any, groups: Any, threshold: float, min_group_size: int = 1
) -> dict[str, Any]:
    """Per-group selection rate, TPR, FPR and AUC at ``threshold`` and the largest gaps.

    Groups with fewer than ``min_group_size`` rows are listed but left out of the gaps.
    ``equalized_odds_difference`` is the larger of the TPR and FPR gaps (fairlearn's
    worst-case definition) over the groups where each rate is defined.
    """
    y_arr, p_arr = as_binary_arrays(y, p)
    series = pd.Series(groups)
    if len(series) != y_arr.size:
        raise ValueError(f"groups has {len(series)} rows but y has {y_arr.size}")
    column = "group" if series.name is None else str(series.name)
    labels, banding = band_groups(series)
    frame = MetricFrame(
        metrics=_per_group_metrics(threshold),
        y_true=y_arr,
        y_pred=p_arr,
        sensitive_features=labels.to_numpy(),
    ).by_group
    order = _group_order(labels, banding)
    frame = frame.loc[order]
    included = frame["n"] >= min_group_size
    gaps = frame[included]
    in_gaps = labels.isin(gaps.index).to_numpy()
    dp = (
        demographic_parity_difference(
            y_arr[in_gaps], p_arr[in_gaps] > threshold, sensitive_features=labels[in_gaps]
        )
        if in_gaps.any()
        else None
    )
    tpr_gap, fpr_gap = _spread(gaps["tpr"]), _spread(gaps["fpr"])
    odds = [gap for gap in (tpr_gap, fpr_gap) if gap is not None]
    return {
        "column": column,
        "threshold": float(threshold),
        "banding": banding,
        "groups": [
            {
                "group": str(group),
                "n": int(row["n"]),
                "positive_rate": _plain(row["positive_rate"]),
                "selection_rate": _plain(row["selection_rate"]),
                "tpr": _plain(row["tpr"]),
                "fpr": _plain(row["fpr"]),
                "auc": _plain(row["auc"]),
                "included_in_gaps": bool(included[group]),
            }
            for group, row in frame.iterrows()
        ],
        "demographic_parity_difference": None if dp is None else float(dp),
        "equalized_odds_difference": max(odds) if odds else (0.0 if len(gaps) == 1 else None),
        "auc_gap": _spread(gaps["auc"]),
    }

"""The target column's profile: its kind, classes, event label and class-balance findings."""

from __future__ import annotations

from typing import Any

import pandas as pd

from tailorkit.data.column_values import count_unique, numeric_summary, plain_number
from tailorkit.data.findings import issue

IMBALANCE_WARN_RATE = 0.1
IMBALANCE_HIGH_RATE = 0.01
EVENT_LABELS = ("1", "true", "yes", "y", "bad", "default", "defaulted", "fraud", "positive")


def summarize_target(frame: pd.DataFrame, target: str) -> tuple[dict | None, list[dict]]:
    """The target's classes (or numeric summary) and balance findings."""
    if target not in frame.columns:
        message = f"target column '{target}' is not in the data"
        return None, [issue(target, "target_missing", "high", message)]
    values = frame[target]
    present = values.dropna()
    summary: dict[str, Any] = {"column": target, "missing": int(values.isna().sum())}
    found = []
    if summary["missing"]:
        found.append(
            issue(
                target,
                "target_missing_values",
                "low",
                f"{summary['missing']} rows have no '{target}' value; they cannot be used "
                "for supervised training",
            )
        )
    levels = count_unique(present)
    if levels < 2:
        summary["kind"] = "constant"
        message = f"target '{target}' has {levels} distinct value(s); a model needs two or more"
        return summary, found + [issue(target, "constant_target", "high", message)]
    is_numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if levels > 20 and is_numeric:
        summary["kind"] = "continuous"
        summary.update(numeric_summary(present.to_numpy(dtype=float), "target"))
        return summary, found
    summary["kind"] = "binary" if levels == 2 else "multiclass" if levels <= 20 else "many_levels"
    counts = present.astype(str).value_counts().head(20)
    summary["classes"] = [
        {"value": str(v), "count": int(c), "fraction": plain_number(c / len(present))}
        for v, c in counts.items()
    ]
    if levels == 2:
        positive = _event_label(present)
        rate = float((present.astype(str) == positive).mean())
        summary.update(positive_label=positive, positive_rate=plain_number(rate))
        found += _balance_issues(target, positive, rate)
    return summary, found


def _event_label(present: pd.Series) -> str:
    """The class that means "the event": 1/True, a known event word, else the rarer class."""
    if pd.api.types.is_numeric_dtype(present) or pd.api.types.is_bool_dtype(present):
        return str(present.max())
    labels = present.astype(str)
    known = [v for v in labels.unique() if v.strip().lower() in EVENT_LABELS]
    if len(known) == 1:
        return known[0]
    return str(labels.value_counts().index[-1])


def _balance_issues(target: str, positive: str, rate: float) -> list[dict]:
    minority = min(rate, 1 - rate)
    if minority >= IMBALANCE_WARN_RATE:
        return []
    severity = "high" if minority < IMBALANCE_HIGH_RATE else "medium"
    return [
        issue(
            target,
            "class_imbalance",
            severity,
            f"target '{target}' is imbalanced: {rate:.1%} of rows are '{positive}'; judge "
            "models by PR-AUC or cost, not accuracy",
        )
    ]

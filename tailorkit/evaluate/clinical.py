"""Clinical evaluation of a disease-probability model.

Operating point (sensitivity or specificity target, or a cost ratio), sensitivity /
specificity / PPV / NPV at a stated prevalence, AUROC and AUPRC with bootstrap intervals,
calibration (ECE, Brier) and Platt / isotonic recalibration, decision-curve analysis
(Vickers and Elkin 2006), and subgroup tables.

A patient is called positive when ``p >= threshold``: thresholds are taken at observed
scores, so "sensitivity ≥ 0.90" means at least 90% of the diseased patients score at or
above the threshold.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.errors import DataError
from tailorkit.evaluate.metrics import (
    as_binary_arrays,
    bootstrap_ci,
    calibration_error,
    roc_auc,
)

CLINICAL_METRICS = (
    "auroc",
    "auprc",
    "sensitivity",
    "specificity",
    "ppv",
    "npv",
    "accuracy",
    "f1",
    "brier",
    "ece",
    "net_benefit",
)
AGE_BANDS = ((0, 40, "<40"), (40, 50, "40-49"), (50, 60, "50-59"), (60, 70, "60-69"))


# ----------------------------------------------------------- at a threshold
@dataclass(frozen=True)
class Confusion:
    tp: int
    fp: int
    tn: int
    fn: int

    @classmethod
    def at(cls, y: np.ndarray, p: np.ndarray, threshold: float) -> Confusion:
        flagged = p >= threshold
        return cls(
            tp=int(np.sum(flagged & (y == 1))),
            fp=int(np.sum(flagged & (y == 0))),
            tn=int(np.sum(~flagged & (y == 0))),
            fn=int(np.sum(~flagged & (y == 1))),
        )


def _ratio(numerator: float, denominator: float) -> float | None:
    return float(numerator / denominator) if denominator else None


def predictive_values(
    sensitivity: float | None, specificity: float | None, prevalence: float
) -> tuple[float | None, float | None]:
    """PPV and NPV (Bayes' rule) for a test with this sensitivity and specificity used
    where the disease has ``prevalence``."""
    if sensitivity is None or specificity is None:
        return None, None
    true_pos = sensitivity * prevalence
    false_pos = (1 - specificity) * (1 - prevalence)
    true_neg = specificity * (1 - prevalence)
    false_neg = (1 - sensitivity) * prevalence
    return _ratio(true_pos, true_pos + false_pos), _ratio(true_neg, true_neg + false_neg)


def net_benefit(y: np.ndarray, p: np.ndarray, threshold: float) -> float:
    """Decision-curve net benefit: TP/n − FP/n × t/(1−t)."""
    confusion = Confusion.at(y, p, threshold)
    n = len(y)
    return confusion.tp / n - confusion.fp / n * threshold / (1 - threshold)


def metrics_at(
    y: Any, p: Any, threshold: float, prevalence: float | None = None
) -> dict[str, float | None]:
    """Sensitivity, specificity, PPV, NPV (at ``prevalence`` if given, else the sample's),
    accuracy, F1 and the counts, for patients flagged when ``p >= threshold``."""
    y, p = as_binary_arrays(y, p)
    c = Confusion.at(y, p, threshold)
    sensitivity, specificity = _ratio(c.tp, c.tp + c.fn), _ratio(c.tn, c.tn + c.fp)
    if prevalence is None:
        ppv, npv = _ratio(c.tp, c.tp + c.fp), _ratio(c.tn, c.tn + c.fn)
    else:
        ppv, npv = predictive_values(sensitivity, specificity, prevalence)
    return {
        "threshold": float(threshold),
        "sensitivity": sensitivity,
        "specificity": specificity,
        "ppv": ppv,
        "npv": npv,
        "accuracy": _ratio(c.tp + c.tn, len(y)),
        "f1": _ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn),
        "flagged_rate": _ratio(c.tp + c.fp, len(y)),
        "tp": c.tp,
        "fp": c.fp,
        "tn": c.tn,
        "fn": c.fn,
    }


# --------------------------------------------------------- operating point
@dataclass(frozen=True)
class OperatingPolicy:
    """How the decision threshold is chosen: a sensitivity or specificity target (with an
    optional floor on the other), or a cost ratio (a missed case costs ``cost_ratio`` false
    alarms; optional floors on both rates)."""

    sensitivity: float | None = None
    specificity: float | None = None
    min_specificity: float | None = None
    min_sensitivity: float | None = None
    cost_ratio: float | None = None

    def describe(self) -> str:
        if self.sensitivity is not None:
            target = f"sensitivity ≥ {self.sensitivity:g}"
        elif self.specificity is not None:
            target = f"specificity ≥ {self.specificity:g}"
        else:
            target = f"minimum cost, a missed case costing {self.cost_ratio:g} false alarms"
        floors = [
            f"{name} ≥ {value:g}"
            for name, value in (
                ("sensitivity", self.min_sensitivity),
                ("specificity", self.min_specificity),
            )
            if value
        ]
        return ", ".join([target, *floors])


def choose_threshold(y: Any, p: Any, policy: OperatingPolicy, model: str = "the model") -> float:
    """The threshold meeting ``policy`` on these (out-of-fold) predictions.

    Sensitivity target: the highest threshold whose sensitivity reaches it (so specificity
    is as high as it can be); specificity target: the lowest threshold whose specificity
    reaches it; cost ratio: the cheapest threshold among those keeping the floors
    (``min_sensitivity``, ``min_specificity``). An operating point that only "flags every
    patient" or "flags nobody" can reach, or that breaks a floor, is a ``DataError``.
    """
    y, p = as_binary_arrays(y, p)
    if y.min() == y.max():
        raise DataError("an operating point needs both diseased and healthy patients")
    candidates = np.unique(p)  # ascending
    positives, negatives = np.sort(p[y == 1]), np.sort(p[y == 0])
    sensitivity = 1 - np.searchsorted(positives, candidates, side="left") / positives.size
    specificity = np.searchsorted(negatives, candidates, side="left") / negatives.size
    if policy.cost_ratio is not None:
        cost = (
            policy.cost_ratio * (1 - sensitivity) * positives.size
            + (1 - specificity) * negatives.size
        )
        floors = (sensitivity >= (policy.min_sensitivity or 0) - 1e-12) & (
            specificity >= (policy.min_specificity or 0) - 1e-12
        )
        if not floors.any():
            raise DataError(
                f"operating point {policy.describe()} cannot be reached by {model}: no "
                "threshold meets every floor; lower a floor or improve the model"
            )
        return float(candidates[int(np.argmin(np.where(floors, cost, np.inf)))])
    if policy.sensitivity is not None:
        meets = np.flatnonzero(sensitivity >= policy.sensitivity - 1e-12)
        index = int(meets.max())  # candidates ascend: the highest threshold that meets it
        floor_name, floor, achieved = "specificity", policy.min_specificity, specificity[index]
        target = f"sensitivity ≥ {policy.sensitivity:g}"
    else:
        meets = np.flatnonzero(specificity >= policy.specificity - 1e-12)
        if not meets.size:
            meets = np.array([len(candidates)])
        index = int(meets.min())
        floor_name, floor = "sensitivity", policy.min_sensitivity
        achieved = sensitivity[index] if index < len(candidates) else 0.0
        target = f"specificity ≥ {policy.specificity:g}"
    if index >= len(candidates) or achieved <= 0.0:
        other = "specificity" if policy.sensitivity is not None else "sensitivity"
        raise DataError(
            f"operating point {target} cannot be reached by {model}: it leaves {other} at 0 "
            "(every patient flagged or none); lower the target or improve the model"
        )
    if floor is not None and achieved < floor:
        raise DataError(
            f"operating point {target} with {floor_name} ≥ {floor:g} cannot be reached by "
            f"{model}: at {target} its {floor_name} is {achieved:.3f}; lower one of the "
            "targets or improve the model"
        )
    return float(candidates[index])


def cross_fitted_operating_point(
    y: np.ndarray,
    p: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    policy: OperatingPolicy,
    prevalence: float | None,
) -> dict[str, float | None]:
    """Honest rates at the operating point: each fold's threshold is chosen on the other
    folds' out-of-fold predictions, then the flagged patients are pooled."""
    flagged = np.zeros(len(y), dtype=bool)
    for _, valid in splits:
        others = np.setdiff1d(np.arange(len(y)), valid)
        threshold = choose_threshold(y[others], p[others], policy)
        flagged[valid] = p[valid] >= threshold
    out = metrics_at(y, flagged.astype(float), 0.5, prevalence)
    out.pop("threshold")
    return out


# -------------------------------------------------------------- summaries
def discrimination(
    y: Any, p: Any, *, n_boot: int = 1000, seed: int = 0, groups: Any = None
) -> dict[str, Any]:
    """AUROC and AUPRC with percentile bootstrap 95% intervals (whole patients resampled
    when ``groups`` is given)."""
    from sklearn.metrics import average_precision_score

    y, p = as_binary_arrays(y, p)
    out: dict[str, Any] = {
        "auroc": roc_auc(y, p),
        "auprc": float(average_precision_score(y, p)) if 0 < y.sum() < len(y) else None,
    }
    if n_boot:
        for name, metric in (("auroc", "auc"), ("auprc", "pr_auc")):
            out[f"{name}_ci"] = list(
                bootstrap_ci(y, p, metric, n_boot=n_boot, random_state=seed, groups=groups)
            )
    return out


def calibration(y: Any, p: Any, n_bins: int = 10) -> dict[str, Any]:
    """Brier score, expected calibration error and the reliability-diagram points
    (equal-width bins)."""
    y, p = as_binary_arrays(y, p)
    bins = np.clip((p * n_bins).astype(int), 0, n_bins - 1)
    count = np.bincount(bins, minlength=n_bins)
    used = count > 0
    return {
        "brier": float(np.mean((p - y) ** 2)),
        "ece": calibration_error(y, p, n_bins),
        "reliability": {
            "predicted": (
                np.bincount(bins, weights=p, minlength=n_bins)[used] / count[used]
            ).tolist(),
            "observed": (
                np.bincount(bins, weights=y, minlength=n_bins)[used] / count[used]
            ).tolist(),
            "count": count[used].astype(int).tolist(),
        },
    }


def decision_curve(y: Any, p: Any, thresholds: np.ndarray | None = None) -> dict[str, list]:
    """Net benefit of the model, of treating everyone and of treating no one."""
    y, p = as_binary_arrays(y, p)
    thresholds = np.round(np.arange(0.01, 0.91, 0.01), 2) if thresholds is None else thresholds
    prevalence = y.mean()
    return {
        "threshold": thresholds.tolist(),
        "model": [net_benefit(y, p, t) for t in thresholds],
        "treat_all": [prevalence - (1 - prevalence) * t / (1 - t) for t in thresholds],
        "treat_none": [0.0] * len(thresholds),
    }


def age_band(age: pd.Series) -> pd.Series:
    """Ages in bands (<40, 40-49, 50-59, 60-69, 70+); missing stays missing."""
    values = pd.to_numeric(age, errors="coerce")
    out = pd.Series("70+", index=age.index, dtype=object)
    for low, high, label in AGE_BANDS:
        out[(values >= low) & (values < high)] = label
    out[values.isna()] = None
    return out


def subgroup_table(
    y: np.ndarray, p: np.ndarray, groups: pd.Series, threshold: float, *, min_rows: int = 10
) -> list[dict[str, Any]]:
    """AUROC, sensitivity, specificity and PPV per group at the operating threshold."""
    rows = []
    values = groups.astype(object).where(groups.notna(), "(missing)").to_numpy()
    band_order = {label: i for i, (_, _, label) in enumerate(AGE_BANDS)} | {"70+": len(AGE_BANDS)}
    for group in sorted(set(values.tolist()), key=lambda g: (band_order.get(g, 99), str(g))):
        mask = values == group
        entry: dict[str, Any] = {"group": str(group), "n": int(mask.sum())}
        entry["positive_rate"] = float(y[mask].mean())
        if mask.sum() >= min_rows:
            at = metrics_at(y[mask], p[mask], threshold)
            entry.update(
                auroc=roc_auc(y[mask], p[mask]),
                sensitivity=at["sensitivity"],
                specificity=at["specificity"],
                ppv=at["ppv"],
            )
        rows.append(entry)
    return rows


# ------------------------------------------------------------ recalibration
def fit_recalibration(kind: str, p: Any, y: Any) -> dict[str, Any]:
    """Platt scaling (logistic on the logit) or isotonic regression, as JSON parameters."""
    y, p = as_binary_arrays(y, p)
    if kind == "platt":
        from sklearn.linear_model import LogisticRegression

        fitted = LogisticRegression(C=1e4, max_iter=1000).fit(_logit(p)[:, None], y)
        return {"kind": "platt", "a": float(fitted.coef_[0, 0]), "b": float(fitted.intercept_[0])}
    if kind == "isotonic":
        from sklearn.isotonic import IsotonicRegression

        fitted = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(p, y)
        return {
            "kind": "isotonic",
            "x": fitted.X_thresholds_.tolist(),
            "y": fitted.y_thresholds_.tolist(),
        }
    return {"kind": "none"}


def apply_recalibration(params: dict[str, Any] | None, p: Any) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    kind = (params or {}).get("kind", "none")
    if kind == "platt":
        return 1.0 / (1.0 + np.exp(-(params["a"] * _logit(p) + params["b"])))
    if kind == "isotonic":
        return np.interp(p, params["x"], params["y"])
    return p


def cross_fitted_recalibration(
    kind: str, y: np.ndarray, p: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Recalibrated out-of-fold scores: fold k's calibrator is fitted on the other folds'
    out-of-fold predictions, never on fold k's labels."""
    if kind == "none":
        return p
    out = np.array(p, dtype=float)
    for _, valid in splits:
        others = np.setdiff1d(np.arange(len(y)), valid)
        out[valid] = apply_recalibration(fit_recalibration(kind, p[others], y[others]), p[valid])
    return out


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))

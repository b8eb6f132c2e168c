"""Data-quality profile of a table: per-column statistics, issues, leakage and drift checks.

``profile_table`` returns a plain, JSON-ready dict; ``write_profile_report`` renders it as one
self-contained HTML file plus the same content as JSON.
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tailorkit.data.schema import infer_schema

SEVERITIES = ("high", "medium", "low")
MISSING_WARN_FRACTION = 0.05
MISSING_HIGH_FRACTION = 0.5
MAX_CATEGORICAL_LEVELS = 50
OUTLIER_IQR_FACTOR = 3.0
OUTLIER_WARN_FRACTION = 0.01
IMBALANCE_WARN_RATE = 0.1
IMBALANCE_HIGH_RATE = 0.01
LEAK_AUC = 0.95
LEAK_SAMPLE_ROWS = 50_000
LEAK_FOLDS = 3
LEAK_BINS = 20
LEAK_PURE_LEVEL_ROWS = 10  # a level seen this often only with the positive class is flagged
PSI_ALERT = 0.2
PSI_HIGH = 0.5
PSI_BINS = 10
PSI_MAX_LEVELS = 30
TOP_VALUES = 5
EVENT_LABELS = ("1", "true", "yes", "y", "bad", "default", "defaulted", "fraud", "positive")
MISSING_LEVEL = "(missing)"
OTHER_LEVEL = "(other)"
_ID_NAME = re.compile(r"(^|[_\s-])(id|key|uuid|guid)$", re.IGNORECASE)


def profile_table(
    frame: pd.DataFrame,
    *,
    target: str | None = None,
    schema: dict[str, str] | None = None,
    new_frame: pd.DataFrame | None = None,
    name: str = "data",
) -> dict:
    """Profile ``frame``: statistics per column and a list of data-quality issues.

    ``schema`` overrides inferred column types; ``new_frame`` (e.g. recent production data) is
    compared with ``frame`` for drift. Leakage is checked for binary targets.
    """
    types = infer_schema(frame, overrides=schema)
    issues: list[dict] = []
    column_stats = []
    for column in frame.columns:
        stats = column_statistics(frame[column], types[column])
        column_stats.append(stats)
        if column != target:
            issues += column_issues(stats)
    duplicates = _duplicate_rows(frame)
    issues += _duplicate_issues(duplicates, len(frame))
    target_summary = None
    if target is not None:
        target_summary, target_issues = summarize_target(frame, target)
        issues += target_issues
        if target_summary and target_summary["kind"] == "binary":
            issues += _leakage(frame, target, target_summary, types, column_stats)
    drift = None
    if new_frame is not None:
        drift, drift_issues = compare_frames(frame, new_frame, types, target=target)
        issues += drift_issues
    return {
        "name": name,
        "rows": int(len(frame)),
        "columns": int(frame.shape[1]),
        "duplicate_rows": duplicates,
        "schema": dict(types),
        "target": target_summary,
        "column_stats": column_stats,
        "drift": drift,
        "new_rows": None if new_frame is None else int(len(new_frame)),
        "issues": sort_issues(issues),
    }


def issue(column: str | None, kind: str, severity: str, message: str) -> dict:
    """One data-quality finding; ``severity`` is high, medium or low."""
    return {"column": column, "kind": kind, "severity": severity, "message": message}


def sort_issues(issues: list[dict]) -> list[dict]:
    """High severity first, then by kind and column."""
    return sorted(
        issues,
        key=lambda i: (SEVERITIES.index(i["severity"]), i["kind"], str(i["column"] or "")),
    )


# ---------------------------------------------------------------------------- columns


def column_statistics(series: pd.Series, column_type: str) -> dict:
    """Missing values, distinct values, and numeric summaries or most frequent values."""
    rows = len(series)
    missing = int(series.isna().sum())
    present = series.dropna()
    n_unique = _count_unique(present)
    stats: dict[str, Any] = {
        "column": str(series.name),
        "type": column_type,
        "dtype": str(series.dtype),
        "missing": missing,
        "missing_fraction": _number(missing / rows) if rows else 0.0,
        "n_unique": n_unique,
        "unique_fraction": _number(n_unique / len(present)) if len(present) else 0.0,
        "id_like": False,
    }
    numeric = _numeric_values(present, column_type)
    if numeric is not None and len(numeric):
        stats.update(_numeric_summary(numeric, column_type))
    elif column_type == "datetime":
        stats.update(_datetime_summary(present))
    if column_type != "numeric":
        stats["top_values"] = _top_values(present, rows)
    stats["id_like"] = _looks_like_id(stats, present)
    return stats


def _count_unique(values: pd.Series) -> int:
    try:
        return int(values.nunique())
    except TypeError:
        return int(values.astype(str).nunique())


def _numeric_values(present: pd.Series, column_type: str) -> np.ndarray | None:
    if pd.api.types.is_bool_dtype(present):
        return None
    if pd.api.types.is_numeric_dtype(present):
        return present.to_numpy(dtype=float)
    if column_type == "numeric":
        return pd.to_numeric(present, errors="coerce").dropna().to_numpy(dtype=float)
    return None


def _numeric_summary(values: np.ndarray, column_type: str) -> dict:
    summary = {
        "min": _number(values.min()),
        "max": _number(values.max()),
        "mean": _number(values.mean()),
        "std": _number(values.std(ddof=1)) if len(values) > 1 else 0.0,
        "median": _number(np.median(values)),
    }
    if column_type == "numeric":
        summary["outlier_fraction"] = _number(_outlier_fraction(values))
    return summary


def _outlier_fraction(values: np.ndarray) -> float:
    """Share of values beyond ``OUTLIER_IQR_FACTOR`` interquartile ranges from the quartiles."""
    if len(values) < 20:
        return 0.0
    q1, q3 = np.percentile(values, [25, 75])
    spread = q3 - q1
    if spread <= 0:
        return 0.0
    low, high = q1 - OUTLIER_IQR_FACTOR * spread, q3 + OUTLIER_IQR_FACTOR * spread
    return float(np.mean((values < low) | (values > high)))


def _datetime_summary(present: pd.Series) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        moments = pd.to_datetime(present, errors="coerce", format="mixed").dropna()
    if moments.empty:
        return {}
    return {"min": str(moments.min()), "max": str(moments.max())}


def _top_values(present: pd.Series, rows: int) -> list[dict]:
    counts = present.astype(str).value_counts().head(TOP_VALUES)
    return [
        {"value": _shorten(str(value), 80), "count": int(count), "fraction": _number(count / rows)}
        for value, count in counts.items()
    ]


def _looks_like_id(stats: dict, present: pd.Series) -> bool:
    if stats["type"] == "id":
        return True
    if len(present) < 20 or stats["type"] in ("text", "datetime", "boolean"):
        return False
    all_distinct = stats["unique_fraction"] >= 0.95
    is_float = pd.api.types.is_float_dtype(present)
    textual = not pd.api.types.is_numeric_dtype(present)
    named_like_id = bool(_ID_NAME.search(stats["column"]))
    return all_distinct and not is_float and (textual or named_like_id)


def column_issues(stats: dict) -> list[dict]:
    """Missing, empty, constant, identifier-like, high-cardinality and outlier findings."""
    column = stats["column"]
    fraction = stats["missing_fraction"]
    if stats["n_unique"] == 0:
        return [issue(column, "all_missing", "high", f"column '{column}' is empty in every row")]
    found = []
    if fraction > MISSING_WARN_FRACTION:
        severity = "high" if fraction > MISSING_HIGH_FRACTION else "medium"
        found.append(
            issue(
                column,
                "missing_values",
                severity,
                f"column '{column}' is missing in {fraction:.1%} of rows ({stats['missing']}); "
                "find out why, or the models will rely on imputed values",
            )
        )
    if stats["n_unique"] == 1:
        value = stats.get("top_values", [{}])[0].get("value", stats.get("min"))
        found.append(
            issue(
                column,
                "constant",
                "medium",
                f"column '{column}' has the same value ({value}) in every non-missing row; "
                "it carries no information",
            )
        )
    elif stats["id_like"]:
        found.append(
            issue(
                column,
                "id_like",
                "medium",
                f"column '{column}' looks like an identifier ({stats['n_unique']} distinct "
                "values); keep it out of the features",
            )
        )
    elif _high_cardinality(stats):
        found.append(
            issue(
                column,
                "high_cardinality",
                "low",
                f"categorical column '{column}' has {stats['n_unique']} levels "
                f"({stats['unique_fraction']:.0%} distinct); rare levels are hard to learn",
            )
        )
    outliers = stats.get("outlier_fraction") or 0.0
    if outliers > OUTLIER_WARN_FRACTION:
        found.append(
            issue(
                column,
                "outliers",
                "low",
                f"{outliers:.1%} of values of '{column}' lie beyond {OUTLIER_IQR_FACTOR:g}x the "
                "interquartile range; check units and extreme values",
            )
        )
    return found


def _high_cardinality(stats: dict) -> bool:
    if stats["type"] != "categorical":
        return False
    present = stats["n_unique"] / stats["unique_fraction"] if stats["unique_fraction"] else 0
    many_levels = stats["n_unique"] > MAX_CATEGORICAL_LEVELS
    mostly_distinct = present >= 20 and stats["unique_fraction"] > 0.5
    return many_levels or mostly_distinct


def _duplicate_rows(frame: pd.DataFrame) -> int:
    if frame.empty:
        return 0
    try:
        return int(frame.duplicated().sum())
    except TypeError:
        return int(frame.astype(str).duplicated().sum())


def _duplicate_issues(duplicates: int, rows: int) -> list[dict]:
    if not duplicates:
        return []
    severity = "medium" if duplicates > 0.01 * rows else "low"
    return [
        issue(
            None,
            "duplicate_rows",
            severity,
            f"{duplicates} rows ({duplicates / rows:.1%}) are exact copies of an earlier row; "
            "remove them unless they are real repeated events",
        )
    ]


# ----------------------------------------------------------------------------- target


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
    levels = _count_unique(present)
    if levels < 2:
        summary["kind"] = "constant"
        message = f"target '{target}' has {levels} distinct value(s); a model needs two or more"
        return summary, found + [issue(target, "constant_target", "high", message)]
    is_numeric = pd.api.types.is_numeric_dtype(present) and not pd.api.types.is_bool_dtype(present)
    if levels > 20 and is_numeric:
        summary["kind"] = "continuous"
        summary.update(_numeric_summary(present.to_numpy(dtype=float), "target"))
        return summary, found
    summary["kind"] = "binary" if levels == 2 else "multiclass" if levels <= 20 else "many_levels"
    counts = present.astype(str).value_counts().head(20)
    summary["classes"] = [
        {"value": str(v), "count": int(c), "fraction": _number(c / len(present))}
        for v, c in counts.items()
    ]
    if levels == 2:
        positive = _event_label(present)
        rate = float((present.astype(str) == positive).mean())
        summary.update(positive_label=positive, positive_rate=_number(rate))
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


# ---------------------------------------------------------------------------- leakage


def _leakage(
    frame: pd.DataFrame,
    target: str,
    summary: dict,
    types: dict[str, str],
    column_stats: list[dict],
) -> list[dict]:
    """Flag single features that predict the target almost perfectly (cross-validated)."""
    labeled = frame.loc[frame[target].notna()]
    if len(labeled) > LEAK_SAMPLE_ROWS:
        labeled = labeled.sample(LEAK_SAMPLE_ROWS, random_state=0)
    y = (labeled[target].astype(str) == summary["positive_label"]).to_numpy(int)
    if min(y.sum(), len(y) - y.sum()) < 2 * LEAK_FOLDS:
        return []
    folds = _fold_ids(y)
    found = []
    for stats in column_stats:
        column = stats["column"]
        if column == target or stats["n_unique"] < 2:
            continue
        auc = single_feature_auc(labeled[column], y, folds, types[column])
        stats["target_auc"] = _number(auc)
        pure = _level_implying_positive(labeled[column], y) if stats["n_unique"] <= 10 else None
        if pure is not None and not (auc > LEAK_AUC or auc < 1 - LEAK_AUC):
            level, rows = pure
            found.append(
                issue(
                    column,
                    "leakage",
                    "high",
                    f"column '{column}' = {level} in {rows} rows, every one of them with "
                    f"'{target}' positive; it may be recorded after the outcome (a failure "
                    "mode, a resolution code): drop it unless truly known at prediction time",
                )
            )
        if auc > LEAK_AUC or auc < 1 - LEAK_AUC:
            found.append(
                issue(
                    column,
                    "leakage",
                    "high",
                    f"column '{column}' alone predicts '{target}' with AUC {auc:.3f} "
                    "(cross-validated); it may be recorded after the outcome: drop it unless "
                    "it is truly known at prediction time",
                )
            )
    return found


def _level_implying_positive(values: pd.Series, y: np.ndarray) -> tuple[str, int] | None:
    """A non-majority level of a low-cardinality column that only ever occurs with y = 1."""
    levels = values.astype(str).where(values.notna(), MISSING_LEVEL)
    counts = levels.value_counts()
    if len(counts) > 10 or y.mean() >= 0.5:
        return None
    positives = pd.Series(y, index=levels.index).groupby(levels).sum()
    for level, count in counts.iloc[1:].items():
        if count >= LEAK_PURE_LEVEL_ROWS and positives[level] == count:
            return str(level), int(count)
    return None


def _fold_ids(y: np.ndarray) -> np.ndarray:
    """Stratified fold numbers: each class shuffled, then dealt out round-robin."""
    rng = np.random.default_rng(0)
    folds = np.zeros(len(y), dtype=int)
    for label in (0, 1):
        members = rng.permutation(np.flatnonzero(y == label))
        folds[members] = np.arange(len(members)) % LEAK_FOLDS
    return folds


def single_feature_auc(
    values: pd.Series, y: np.ndarray, folds: np.ndarray, column_type: str
) -> float:
    """Out-of-fold AUC of one feature: the stronger of its rank order and its binned shape.

    Numbers and dates are cut into quantile bins (a shallow tree's view: any shape, not only
    monotone); other columns are grouped by level. Each bin's target mean is learned on the
    training folds only, so identifiers and rare levels cannot fake a signal.
    """
    numeric = _as_number(values, column_type)
    if numeric is None:
        codes = pd.factorize(values.astype(str).where(values.notna(), MISSING_LEVEL))[0]
        return rank_auc(_out_of_fold_bin_means(codes, y, folds), y)
    missing = ~np.isfinite(numeric)
    filled = np.where(missing, np.nanmin(numeric) - 1.0, numeric)
    by_rank = rank_auc(filled, y)
    edges = np.unique(np.quantile(filled[~missing], np.linspace(0, 1, LEAK_BINS + 1)[1:-1]))
    codes = np.where(missing, len(edges) + 1, np.searchsorted(edges, filled, side="right"))
    by_bins = rank_auc(_out_of_fold_bin_means(codes, y, folds), y)
    return by_rank if abs(by_rank - 0.5) >= abs(by_bins - 0.5) else by_bins


def _as_number(values: pd.Series, column_type: str) -> np.ndarray | None:
    if pd.api.types.is_bool_dtype(values):
        return None
    if pd.api.types.is_numeric_dtype(values):
        numeric = values.to_numpy(dtype=float)
    elif column_type == "datetime":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moments = pd.to_datetime(values, errors="coerce", format="mixed")
        numeric = (moments - pd.Timestamp("1970-01-01")).dt.total_seconds().to_numpy(float)
    else:
        return None
    return numeric if np.isfinite(numeric).any() else None


def _out_of_fold_bin_means(
    codes: np.ndarray, y: np.ndarray, folds: np.ndarray, smoothing: float = 10.0
) -> np.ndarray:
    """Each row's smoothed target mean of its bin, learned without the row's own fold."""
    codes = np.asarray(codes, dtype=np.int64)
    n_bins = int(codes.max()) + 1
    scores = np.zeros(len(y))
    for fold in np.unique(folds):
        train, held_out = folds != fold, folds == fold
        prior = y[train].mean()
        sums = np.bincount(codes[train], weights=y[train], minlength=n_bins)
        counts = np.bincount(codes[train], minlength=n_bins)
        means = (sums + smoothing * prior) / (counts + smoothing)
        scores[held_out] = means[codes[held_out]]
    return scores


def rank_auc(scores: np.ndarray, y: np.ndarray) -> float:
    """ROC AUC from ranks (ties count half): the chance a positive outranks a negative."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return 0.5
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[y == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


# ------------------------------------------------------------------------------ drift


def compare_frames(
    reference: pd.DataFrame,
    new: pd.DataFrame,
    types: dict[str, str],
    *,
    target: str | None = None,
) -> tuple[list[dict], list[dict]]:
    """PSI (and KS for numbers) per shared column, plus added and missing columns."""
    rows, found = [], []
    for column in new.columns:
        if column not in reference.columns:
            found.append(
                issue(
                    column,
                    "new_column",
                    "low",
                    f"column '{column}' appears in the new data but not in the training data",
                )
            )
    for column in reference.columns:
        if column not in new.columns:
            if column != target:
                found.append(
                    issue(
                        column,
                        "missing_column",
                        "high",
                        f"column '{column}' is in the training data but missing from the new "
                        "data; models that use it cannot score these rows",
                    )
                )
            continue
        if types[column] in ("id", "text") or new.empty or reference.empty:
            continue
        row = column_drift(reference[column], new[column], types[column])
        rows.append(row)
        if row["psi"] > PSI_ALERT:
            found.append(_drift_issue(row))
    return rows, found


def column_drift(reference: pd.Series, new: pd.Series, column_type: str) -> dict:
    """Population stability index of one column (and KS statistic when numeric)."""
    old_numbers = _as_number(reference, column_type)
    new_numbers = _as_number(new, column_type) if old_numbers is not None else None
    if old_numbers is not None and new_numbers is None:
        new_numbers = pd.to_numeric(new, errors="coerce").to_numpy(dtype=float)
    if old_numbers is not None:
        old_share, new_share = _quantile_shares(old_numbers, new_numbers)
        ks = _ks_statistic(old_numbers, new_numbers)
    else:
        old_share, new_share = _level_shares(reference, new)
        ks = None
    return {
        "column": str(reference.name),
        "type": column_type,
        "psi": _number(population_stability_index(old_share, new_share)),
        "ks": _number(ks) if ks is not None else None,
        "reference_missing": _number(reference.isna().mean()),
        "new_missing": _number(new.isna().mean()),
    }


def population_stability_index(expected: np.ndarray, actual: np.ndarray) -> float:
    """PSI = sum((actual - expected) * ln(actual / expected)) over bins, shares floored."""
    expected = np.clip(expected, 1e-4, None)
    actual = np.clip(actual, 1e-4, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _quantile_shares(old: np.ndarray, new: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares per training-quantile bin, with one extra bin for missing values."""
    finite_old = old[np.isfinite(old)]
    quantiles = np.linspace(0, 1, PSI_BINS + 1)[1:-1]
    edges = np.unique(np.quantile(finite_old, quantiles)) if len(finite_old) else np.array([])

    def shares(values: np.ndarray) -> np.ndarray:
        missing = ~np.isfinite(values)
        bins = np.searchsorted(edges, values[~missing], side="right")
        counts = np.bincount(bins, minlength=len(edges) + 1).astype(float)
        counts = np.append(counts, missing.sum())
        return counts / max(len(values), 1)

    return shares(old), shares(new)


def _level_shares(old: pd.Series, new: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Shares per training level (the most frequent ones), other levels and missing."""
    old_levels = old.astype(str).where(old.notna(), MISSING_LEVEL)
    new_levels = new.astype(str).where(new.notna(), MISSING_LEVEL)
    kept = list(old_levels.value_counts().index[:PSI_MAX_LEVELS])
    categories = kept + [OTHER_LEVEL] if OTHER_LEVEL not in kept else kept

    def shares(levels: pd.Series) -> np.ndarray:
        grouped = levels.where(levels.isin(kept), OTHER_LEVEL)
        counts = grouped.value_counts().reindex(categories, fill_value=0)
        return counts.to_numpy(float) / max(len(levels), 1)

    return shares(old_levels), shares(new_levels)


def _ks_statistic(old: np.ndarray, new: np.ndarray) -> float | None:
    """Largest gap between the two empirical distribution functions."""
    old, new = np.sort(old[np.isfinite(old)]), np.sort(new[np.isfinite(new)])
    if not len(old) or not len(new):
        return None
    grid = np.concatenate([old, new])
    old_cdf = np.searchsorted(old, grid, side="right") / len(old)
    new_cdf = np.searchsorted(new, grid, side="right") / len(new)
    return float(np.max(np.abs(old_cdf - new_cdf)))


def _drift_issue(row: dict) -> dict:
    column, psi = row["column"], row["psi"]
    ks = f", KS {row['ks']:.2f}" if row["ks"] is not None else ""
    return issue(
        column,
        "drift",
        "high" if psi > PSI_HIGH else "medium",
        f"column '{column}' has drifted between training and new data (PSI {psi:.2f}{ks}); "
        "check the source and consider retraining",
    )


# ----------------------------------------------------------------------------- report


def write_profile_report(profile: dict, html_path: Path, json_path: Path) -> None:
    """Write the profile as one self-contained HTML page and as JSON with the same content."""
    html_path, json_path = Path(html_path), Path(json_path)
    json_path.write_text(json.dumps(profile, indent=2, allow_nan=False) + "\n")
    html_path.write_text(render_profile_html(profile), encoding="utf-8")


def render_profile_html(profile: dict) -> str:
    """The profile as an HTML page: overview, issues, columns, plots, drift."""
    from tailorkit.report import html

    issues = profile["issues"]
    column_rows = _column_rows(profile)
    sections = [
        html.section("Overview", html.table(_overview_rows(profile), ["item", "value"])),
        html.section(
            f"Issues ({len(issues)})",
            html.table(issues, ["severity", "column", "kind", "message"]),
        ),
        html.section("Columns", html.table(column_rows)),
        html.section("Plots", f'<div class="grid">{"".join(_plots(profile))}</div>'),
    ]
    if profile.get("drift") is not None:
        sections.append(
            html.section(
                "Drift: training vs new data",
                html.paragraph(
                    f"PSI above {PSI_ALERT} means the column's distribution has shifted; "
                    "KS is the largest gap between the two distribution functions.",
                    note=True,
                ),
                html.table(profile["drift"], ["column", "type", "psi", "ks", "new_missing"]),
            )
        )
    return html.page(f"Data profile: {profile['name']}", sections)


def _overview_rows(profile: dict) -> list[dict]:
    counts = {s: sum(i["severity"] == s for i in profile["issues"]) for s in SEVERITIES}
    rows = [
        {"item": "rows", "value": profile["rows"]},
        {"item": "columns", "value": profile["columns"]},
        {"item": "duplicate rows", "value": profile["duplicate_rows"]},
        {
            "item": "issues (high / medium / low)",
            "value": "{high} / {medium} / {low}".format(**counts),
        },
    ]
    target = profile.get("target")
    if target:
        rows.append({"item": "target", "value": f"{target['column']} ({target['kind']})"})
        if "positive_rate" in target:
            rows.append(
                {
                    "item": f"positive rate ('{target['positive_label']}')",
                    "value": target["positive_rate"],
                }
            )
    if profile.get("new_rows") is not None:
        rows.append({"item": "new rows (drift check)", "value": profile["new_rows"]})
    return rows


def _column_rows(profile: dict) -> list[dict]:
    rows = []
    for stats in profile["column_stats"]:
        top = ", ".join(
            f"{_shorten(t['value'], 30)} ({t['count']})" for t in stats.get("top_values", [])[:3]
        )
        rows.append(
            {
                "column": stats["column"],
                "type": stats["type"],
                "missing %": 100 * stats["missing_fraction"],
                "unique": stats["n_unique"],
                "min": stats.get("min"),
                "max": stats.get("max"),
                "mean": stats.get("mean"),
                "std": stats.get("std"),
                "top values": top,
                "target AUC": stats.get("target_auc"),
            }
        )
    return rows


def _plots(profile: dict) -> list[str]:
    from tailorkit.report.html import figure, plt

    plots = []
    stats = sorted(profile["column_stats"], key=lambda s: -s["missing_fraction"])[:30]
    if stats:
        fig, axis = plt.subplots(figsize=(6, max(2.0, 0.22 * len(stats) + 1)))
        axis.barh([s["column"] for s in stats][::-1], [s["missing_fraction"] for s in stats][::-1])
        axis.axvline(MISSING_WARN_FRACTION, color="#b91c1c", linestyle="--", linewidth=1)
        axis.set_xlabel("missing fraction")
        axis.set_title("Missing values per column")
        plots.append(figure(fig))
    target = profile.get("target") or {}
    if target.get("classes"):
        classes = target["classes"][:20]
        fig, axis = plt.subplots(figsize=(5, 3))
        axis.bar([c["value"] for c in classes], [c["count"] for c in classes], color="#3b82f6")
        axis.set_ylabel("rows")
        axis.set_title(f"Target balance: {target['column']}")
        plots.append(figure(fig))
    if profile.get("drift"):
        drift = sorted(profile["drift"], key=lambda d: -d["psi"])[:30]
        colors = ["#b91c1c" if d["psi"] > PSI_ALERT else "#3b82f6" for d in drift][::-1]
        fig, axis = plt.subplots(figsize=(6, max(2.0, 0.22 * len(drift) + 1)))
        axis.barh([d["column"] for d in drift][::-1], [d["psi"] for d in drift][::-1], color=colors)
        axis.axvline(PSI_ALERT, color="#52606d", linestyle="--", linewidth=1)
        axis.set_xlabel("PSI (training vs new)")
        axis.set_title("Drift per column")
        plots.append(figure(fig))
    return plots


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _number(value: Any) -> float | None:
    """A plain float rounded for reports; NaN and infinity become None (valid JSON)."""
    number = float(value)
    return round(number, 6) if np.isfinite(number) else None

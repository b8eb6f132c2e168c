"""Data-quality profile of a table: per-column statistics, issues, leakage and drift checks.

``profile_table`` returns a plain, JSON-ready dict; ``write_profile_report`` renders it as one
self-contained HTML file plus the same content as JSON. The checks live in their own modules
(``column_profile``, ``target_profile``, ``leakage``, ``drift``); the page is drawn by
``tailorkit.report.profile_report``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from tailorkit.data.column_profile import (
    MISSING_WARN_FRACTION,
    column_issues,
    column_statistics,
    duplicate_issues,
    duplicate_rows,
)
from tailorkit.data.drift import PSI_ALERT, column_drift, compare_frames, population_stability_index
from tailorkit.data.findings import SEVERITIES, issue, sort_issues
from tailorkit.data.leakage import leakage_issues, rank_auc, single_feature_auc
from tailorkit.data.schema import infer_schema
from tailorkit.data.target_profile import summarize_target
from tailorkit.report.profile_report import render_profile_html

__all__ = [
    "SEVERITIES",
    "column_drift",
    "column_issues",
    "column_statistics",
    "compare_frames",
    "issue",
    "population_stability_index",
    "profile_table",
    "rank_auc",
    "render_profile_html",
    "single_feature_auc",
    "sort_issues",
    "summarize_target",
    "write_profile_report",
]


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
    duplicates = duplicate_rows(frame)
    issues += duplicate_issues(duplicates, len(frame))
    target_summary = None
    if target is not None:
        target_summary, target_issues = summarize_target(frame, target)
        issues += target_issues
        if target_summary and target_summary["kind"] == "binary":
            issues += leakage_issues(frame, target, target_summary, types, column_stats)
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


def write_profile_report(profile: dict, html_path: Path, json_path: Path) -> None:
    """Write the profile as one self-contained HTML page and as JSON with the same content."""
    html_path, json_path = Path(html_path), Path(json_path)
    json_path.write_text(json.dumps(profile, indent=2, allow_nan=False) + "\n")
    page = render_profile_html(
        profile, psi_alert=PSI_ALERT, missing_warn_fraction=MISSING_WARN_FRACTION
    )
    html_path.write_text(page, encoding="utf-8")

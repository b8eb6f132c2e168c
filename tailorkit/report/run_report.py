"""The run report: one self-contained HTML page (plots embedded) plus the same content as JSON.

Every key of the run's result document except project, solution, protocol, leaderboard and
best is optional; sections whose data is missing or empty are left out. The sections are drawn
by ``run_sections`` and ``run_explain``, the plots by ``run_plots``.
"""

from __future__ import annotations

import json
from pathlib import Path

from tailorkit.report.html import page
from tailorkit.report.jsonable import to_jsonable
from tailorkit.report.run_explain import (
    _ablation_section,
    _ensemble_section,
    _fairness_section,
    _importance_section,
    _reason_codes_section,
    _scorecard_section,
)
from tailorkit.report.run_sections import (
    _best_model_section,
    _curves_section,
    _data_section,
    _headline,
    _leaderboard_section,
    _protocol_section,
    _requirements_section,
    _threshold_section,
    _warnings_section,
)

__all__ = ["render_run_report", "to_jsonable", "write_run_report"]


def write_run_report(result: dict, html_path: Path, json_path: Path) -> None:
    """Write the run's result document as a self-contained HTML report and as JSON."""
    document = to_jsonable(result)
    html_path, json_path = Path(html_path), Path(json_path)
    for folder in {html_path.parent, json_path.parent}:
        folder.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, indent=1, allow_nan=False), encoding="utf-8")
    html_path.write_text(render_run_report(document), encoding="utf-8")


def render_run_report(result: dict) -> str:
    """The whole HTML page for an already JSON-plain result document."""
    title = f"Run report: {result['project']} ({result['solution']})"
    parts = [
        _headline(result),
        _protocol_section(result),
        _data_section(result),
        _requirements_section(result),
        _leaderboard_section(result),
        _curves_section(result),
        _best_model_section(result),
        _threshold_section(result),
        _importance_section(result),
        _reason_codes_section(result),
        _scorecard_section(result),
        _fairness_section(result),
        _ensemble_section(result),
        _ablation_section(result),
        _warnings_section(result),
    ]
    return page(title, [part for part in parts if part])

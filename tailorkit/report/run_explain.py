"""The run report's sections on what drives the model and how it behaves: feature importance,
reason-code examples, scorecard, fairness by protected group, ensemble weights, ablations."""

from __future__ import annotations

from typing import Any

from tailorkit.report.html import escape, paragraph, section, table
from tailorkit.report.run_format import (
    MISSING,
    _grid,
    _interval,
    _number,
    _plain_row,
    _yes_no,
)
from tailorkit.report.run_plots import GROUP_HEADERS, TOP_FEATURES, _fairness_plot, _importance_plot

SCORECARD_ROWS = 60


def _importance_section(result: dict) -> str:
    importance = result.get("importance") or {}
    if not importance:
        return ""
    return section(
        "What drives the score",
        paragraph(
            f"Global feature importance of {result['best']} (top {TOP_FEATURES}).", note=True
        ),
        _grid(_importance_plot(importance)),
    )


def _reason_codes_section(result: dict) -> str:
    examples = result.get("reason_code_examples") or []
    if not examples:
        return ""
    rows = [
        {
            "row": example.get("row"),
            "score": _number(example.get("score")),
            "top reasons (contribution)": "; ".join(
                f"{reason.get('feature')} = {_number(reason.get('value'))} "
                f"({_signed(reason.get('contribution'))})"
                for reason in example.get("reasons") or []
            )
            or MISSING,
        }
        for example in examples
    ]
    return section(
        "Reason codes: examples",
        paragraph(
            "For a few rows, the features that pushed the score up the most; this is what an "
            "applicant would be told as the main reasons for the decision.",
            note=True,
        ),
        table(rows),
    )


def _signed(value: Any) -> str:
    return f"{value:+.3f}" if isinstance(value, (int, float)) else MISSING


def _scorecard_section(result: dict) -> str:
    scorecard = result.get("scorecard") or []
    if not scorecard:
        return ""
    shown = [_plain_row(row, digits=1) for row in scorecard[:SCORECARD_ROWS]]
    note = (
        f"Showing the first {SCORECARD_ROWS} of {len(scorecard)} rows; the JSON has them all."
        if len(scorecard) > SCORECARD_ROWS
        else "Points per feature bin; an applicant's score is the sum of their bins' points."
    )
    return section("Scorecard", paragraph(note, note=True), table(shown))


def _fairness_section(result: dict) -> str:
    audits = result.get("fairness") or []
    if not audits:
        return ""
    summary = [
        {
            "protected column": audit.get("column"),
            "demographic parity difference": _number(audit.get("demographic_parity_difference")),
            "equalized odds difference": _number(audit.get("equalized_odds_difference")),
            "AUC gap": _number(audit.get("auc_gap")),
        }
        for audit in audits
    ]
    parts = [
        paragraph(
            "Selection rate is the share of a group flagged at the decision threshold; TPR is "
            "the share of actual positives flagged. Demographic parity difference is the largest "
            "gap in selection rate between groups; equalized odds difference the largest gap in "
            "TPR or FPR; AUC gap the largest gap in AUC.",
            note=True,
        ),
        table(summary),
    ]
    for audit in audits:
        groups = audit.get("groups") or []
        if not groups:
            continue
        parts.append(f"<h3>{escape(audit.get('column'))}</h3>")
        parts.append(table([_group_row(group) for group in groups]))
        parts.append(_grid(_fairness_plot(str(audit.get("column")), groups)))
    return section("Fairness", *parts)


def _group_row(group: dict[str, Any]) -> dict[str, Any]:
    """One fairness group with readable headers; unknown keys keep their names."""
    return {
        GROUP_HEADERS.get(key, key): _yes_no(value) if isinstance(value, bool) else _number(value)
        for key, value in group.items()
    }


def _ensemble_section(result: dict) -> str:
    ensemble = result.get("ensemble") or {}
    weights = ensemble.get("weights") or {}
    if not weights:
        return ""
    rows = [
        {"member": name, "weight": _number(weight)}
        for name, weight in sorted(weights.items(), key=lambda item: -(item[1] or 0))
    ]
    method = ensemble.get("method")
    return section(
        "Ensemble",
        paragraph(f"Weights chosen by {method}.", note=True) if method else "",
        table(rows),
    )


def _ablation_section(result: dict) -> str:
    ablations = result.get("ablation") or {}
    parts = [_ablation_table(name, entry) for name, entry in ablations.items() if entry]
    parts = [part for part in parts if part]
    if not parts:
        return ""
    return section("Ablation", *parts)


def _ablation_table(name: str, entry: dict) -> str:
    with_it, without = entry.get("with") or {}, entry.get("without") or {}
    if not with_it and not without:
        return ""
    delta = entry.get("delta_auc")
    if delta is None and with_it.get("auc") is not None and without.get("auc") is not None:
        delta = with_it["auc"] - without["auc"]
    rows = [
        {
            "variant": f"with {name}",
            "AUC": _number(with_it.get("auc")),
            "AUC 95% CI": _interval(with_it.get("auc_ci")),
            "fit s": _number(with_it.get("fit_seconds"), 2),
        },
        {
            "variant": f"without {name}",
            "AUC": _number(without.get("auc")),
            "AUC 95% CI": _interval(without.get("auc_ci")),
            "fit s": _number(without.get("fit_seconds"), 2),
        },
        {"variant": "difference (with − without)", "AUC": _signed(delta)},
    ]
    model = entry.get("model")
    heading = f"{name} ({model})" if model else name
    return (
        f"<h3>{escape(heading)}</h3>"
        + table(rows, ["variant", "AUC", "AUC 95% CI", "fit s"])
        + _overlap_note(with_it.get("auc_ci"), without.get("auc_ci"))
    )


def _overlap_note(first: Any, second: Any) -> str:
    if not (isinstance(first, list) and isinstance(second, list)) or None in first + second:
        return ""
    if len(first) != 2 or len(second) != 2:
        return ""
    overlap = first[0] <= second[1] and second[0] <= first[1]
    text = (
        "The two 95% intervals overlap: the difference is within the measurement noise."
        if overlap
        else "The two 95% intervals do not overlap: the difference is larger than the noise."
    )
    return paragraph(text, note=True)

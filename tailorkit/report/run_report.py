"""The run report: one self-contained HTML page (plots embedded) plus the same content as JSON.

Every key of the run's result document except project, solution, protocol, leaderboard and
best is optional; sections whose data is missing or empty are left out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tailorkit.report.html import escape, figure, page, paragraph, section, table  # noqa: E402

FIGURE_SIZE = (5.4, 3.6)
BEST_COLOR = "#1d4ed8"
OTHER_COLORS = ("#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#64748b", "#ec4899", "#14b8a6")
TOP_FEATURES = 20
SCORECARD_ROWS = 60
MISSING = "–"

# (key, header, decimals) in the order the leaderboard shows them; unknown keys follow.
LEADERBOARD_COLUMNS = (
    ("auc", "AUC", 3),
    ("ks", "KS", 3),
    ("gini", "Gini", 3),
    ("pr_auc", "PR-AUC", 3),
    ("brier", "Brier", 4),
    ("log_loss", "log loss", 3),
    ("accuracy", "accuracy", 3),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
    ("f1", "F1", 3),
    ("cost", "cost / row", 3),
    ("fit_seconds", "fit s", 2),
    ("predict_ms_per_1000", "predict ms / 1000 rows", 2),
    ("p99_latency_ms", "p99 latency ms", 2),
)
GROUP_HEADERS = {
    "group": "group",
    "n": "rows",
    "positive_rate": "positive rate",
    "selection_rate": "selection rate",
    "tpr": "TPR",
    "fpr": "FPR",
    "auc": "AUC",
    "included_in_gaps": "counted in gaps",
}
METRIC_GLOSSARY = (
    "AUC: the chance that a randomly chosen positive case scores above a randomly chosen "
    "negative one (0.5 is a coin flip, 1 is perfect). KS: the largest gap between the score "
    "distributions of the two classes. Gini = 2 × AUC − 1. PR-AUC: average precision. Brier "
    "and log loss measure how accurate the probabilities are (lower is better). Accuracy, "
    "precision, recall, F1 and cost are measured at the decision threshold."
)


def write_run_report(result: dict, html_path: Path, json_path: Path) -> None:
    """Write the run's result document as a self-contained HTML report and as JSON."""
    document = to_jsonable(result)
    html_path, json_path = Path(html_path), Path(json_path)
    for folder in {html_path.parent, json_path.parent}:
        folder.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, indent=1, allow_nan=False), encoding="utf-8")
    html_path.write_text(render_run_report(document), encoding="utf-8")


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars and arrays, tuples and paths converted;
    non-finite floats become None so the file is strict JSON."""
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


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


# ---------------------------------------------------------------- formatting
def _number(value: Any, digits: int = 3) -> str:
    """A number rounded for humans; missing or non-finite values as a dash."""
    if value is None or isinstance(value, bool):
        return MISSING if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return MISSING
        return f"{value:.{digits}f}" if abs(value) < 1e6 else f"{value:.3g}"
    return str(value)


def _interval(ci: Any, digits: int = 3) -> str:
    if not isinstance(ci, list) or len(ci) != 2 or None in ci:
        return MISSING
    return f"{_number(ci[0], digits)} – {_number(ci[1], digits)}"


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else MISSING


def _plain_row(row: dict[str, Any], digits: int = 3) -> dict[str, Any]:
    """Numbers formatted; booleans kept so tables show them as PASS/FAIL."""
    return {
        key: value if isinstance(value, bool) else _number(value, digits)
        for key, value in row.items()
    }


def _key_value_table(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = [{"item": label, "value": value} for label, value in pairs if value not in (None, "")]
    return table(rows, ["item", "value"])


def _bullets(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in items) + "</ul>"


def _grid(*images: str) -> str:
    shown = [image for image in images if image]
    return f'<div class="grid">{"".join(shown)}</div>' if shown else ""


def _best_row(result: dict) -> dict[str, Any]:
    return next((row for row in result["leaderboard"] if row.get("model") == result["best"]), {})


def _threshold_value(result: dict) -> float | None:
    chosen = (result.get("threshold") or {}).get("chosen")
    return chosen if isinstance(chosen, (int, float)) else None


# ---------------------------------------------------------------- headline
def _headline(result: dict) -> str:
    best, row = result["best"], _best_row(result)
    auc = f"AUC {_number(row.get('auc'))}"
    if row.get("auc_ci"):
        auc += f" (95% CI {_interval(row['auc_ci'])})"
    others = [
        f"{label} {_number(row[key])}"
        for key, label in (("ks", "KS"), ("gini", "Gini"), ("pr_auc", "PR-AUC"))
        if row.get(key) is not None
    ]
    lines = [
        f"<p><strong>Best model: {escape(best)}</strong> · {escape(auc)}"
        + "".join(f" · {escape(text)}" for text in others)
        + "</p>",
        f"<p>{_gates_line(result)}</p>",
    ]
    decision = _decision_sentence(result)
    if decision:
        lines.append(f"<p>{escape(decision)}</p>")
    facts = [
        f"project {result['project']}",
        f"solution {result['solution']}",
        *(
            f"{label} {result[key]}"
            for key, label in (
                ("run_id", "run"),
                ("model_version", "model version"),
                ("created_at", "created"),
            )
            if result.get(key) is not None
        ),
    ]
    lines.append(paragraph(" · ".join(facts), note=True))
    return f'<div class="headline">{"".join(lines)}</div>'


def _gates_line(result: dict) -> str:
    requirements = result.get("requirements") or []
    failed = [
        r.get("requirement", r.get("metric", "?")) for r in requirements if not r.get("passed")
    ]
    passed = result.get("gates_passed", not failed)
    verdict = (
        '<span class="pass">GATES PASSED</span>'
        if passed
        else '<span class="fail">GATES FAILED</span>'
    )
    if not requirements:
        return f"{verdict}: no requirements were set."
    detail = f"{len(requirements) - len(failed)} of {len(requirements)} requirements met"
    if failed:
        detail += "; failed: " + ", ".join(failed)
    return f"{verdict}: {escape(detail)}."


def _decision_sentence(result: dict) -> str:
    threshold = result.get("threshold") or {}
    chosen = _threshold_value(result)
    if chosen is None:
        return ""
    data = result.get("data") or {}
    positive = data.get("positive_label")
    target = data.get("target")
    outcome = f"{target} = {positive}" if target and positive is not None else "the positive class"
    sentence = (
        f"Decision: flag cases whose predicted probability of {outcome} is above {chosen:.3f}"
    )
    cost = threshold.get("cost_at_chosen")
    if isinstance(cost, (int, float)):
        sentence += f"; expected cost {cost:.3f} per case"
        flag_all, flag_none = threshold.get("cost_reject_all"), threshold.get("cost_accept_all")
        comparisons = []
        if isinstance(flag_all, (int, float)):
            comparisons.append(f"{flag_all:.3f} if every case is flagged")
        if isinstance(flag_none, (int, float)):
            comparisons.append(f"{flag_none:.3f} if none is")
        if comparisons:
            sentence += " (vs " + ", ".join(comparisons) + ")"
    return sentence + "."


# ---------------------------------------------------------------- sections
def _protocol_section(result: dict) -> str:
    protocol = result["protocol"]
    facts = [
        f"{label}: {value}"
        for label, value in (
            ("protocol", protocol.get("kind")),
            ("folds", protocol.get("folds")),
            ("seed", protocol.get("seed")),
            ("stratified", _yes_no(protocol.get("stratified"))),
        )
        if value is not None
    ]
    return section(
        "How the models were evaluated",
        paragraph(protocol.get("description") or "No protocol description was recorded."),
        paragraph(" · ".join(facts), note=True) if facts else "",
        paragraph(
            "The protocol is the product: every number in this report was measured under it, "
            "and a different protocol would give different numbers.",
            note=True,
        ),
    )


def _yes_no(value: Any) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _data_section(result: dict) -> str:
    data = result.get("data") or {}
    if not data:
        return ""
    joined = {
        key: ", ".join(map(str, data[key])) if data.get(key) else None
        for key in ("dropped_columns", "protected", "excluded_from_model")
    }
    pairs = [
        ("source", data.get("source")),
        ("rows", _number(data.get("rows")) if data.get("rows") is not None else None),
        ("features used", data.get("features")),
        ("target", data.get("target")),
        ("positive label", data.get("positive_label")),
        (
            "positive rate",
            _percent(data["positive_rate"]) if data.get("positive_rate") is not None else None,
        ),
        ("unlabeled rows (pretraining)", data.get("unlabeled_rows") or None),
        ("dropped columns", joined["dropped_columns"]),
        ("protected columns (audited)", joined["protected"]),
        ("excluded from the model", joined["excluded_from_model"]),
    ]
    return section("Data", _key_value_table(pairs))


def _requirements_section(result: dict) -> str:
    requirements = result.get("requirements") or []
    if not requirements:
        return ""
    rows = [
        {
            "requirement": r.get("requirement"),
            "stage": r.get("stage"),
            "measured": _number(r.get("value")),
            "result": bool(r.get("passed")),
            "note": r.get("note") or "",
        }
        for r in requirements
    ]
    return section("Requirements (gates)", table(rows))


def _leaderboard_section(result: dict) -> str:
    leaderboard = result["leaderboard"]
    if not leaderboard:
        return section("Leaderboard", paragraph("No model was scored.", note=True))
    threshold = _threshold_value(result)
    glossary = METRIC_GLOSSARY + (
        f" Decision threshold: {threshold:.3f}." if threshold is not None else ""
    )
    return section(
        "Leaderboard",
        paragraph("Models sorted best first; the best model is marked ★.", note=True),
        table(_leaderboard_rows(leaderboard, result["best"])),
        paragraph(glossary, note=True),
        _grid(_auc_interval_plot(leaderboard, result["best"])),
    )


def _leaderboard_rows(leaderboard: list[dict], best: str) -> list[dict[str, Any]]:
    known = {key for key, _, _ in LEADERBOARD_COLUMNS} | {
        "model",
        "auc_ci",
        "fold_auc_mean",
        "fold_auc_std",
    }
    extra = [key for row in leaderboard for key in row if key not in known]
    extra = list(dict.fromkeys(extra))
    rows = []
    for row in leaderboard:
        name = str(row.get("model"))
        shown: dict[str, Any] = {"model": f"★ {name}" if name == best else name}
        for key, header, digits in LEADERBOARD_COLUMNS:
            if any(key in r for r in leaderboard):
                shown[header] = _number(row.get(key), digits)
            if key == "auc":
                if any("auc_ci" in r for r in leaderboard):
                    shown["AUC 95% CI"] = _interval(row.get("auc_ci"))
                if any("fold_auc_mean" in r for r in leaderboard):
                    shown["fold AUC mean ± sd"] = _mean_sd(
                        row.get("fold_auc_mean"), row.get("fold_auc_std")
                    )
        shown.update({key: _number(row.get(key)) for key in extra})
        rows.append(shown)
    return rows


def _mean_sd(mean: Any, sd: Any) -> str:
    if mean is None:
        return MISSING
    return _number(mean) + (f" ± {_number(sd)}" if sd is not None else "")


def _curves_section(result: dict) -> str:
    curves = _ordered_curves(result)
    if not curves:
        return ""
    positive_rate = (result.get("data") or {}).get("positive_rate")
    images = _grid(
        _roc_plot(curves, result["best"]),
        _precision_recall_plot(curves, result["best"], positive_rate),
    )
    if not images:
        return ""
    return section(
        "Model comparison",
        paragraph(
            "ROC and precision-recall curves of every model on out-of-fold predictions; "
            "the best model is drawn thick and blue.",
            note=True,
        ),
        images,
    )


def _ordered_curves(result: dict) -> dict[str, dict]:
    """Each model's curve data, in leaderboard order."""
    curves = result.get("curves") or {}
    order = [row.get("model") for row in result["leaderboard"]]
    names = [n for n in order if n in curves] + [n for n in curves if n not in order]
    return {name: curves[name] for name in names if curves[name]}


def _best_model_section(result: dict) -> str:
    best_curves = (result.get("curves") or {}).get(result["best"]) or {}
    data = result.get("data") or {}
    images = _grid(
        _calibration_plot(best_curves.get("calibration") or {}, result["best"]),
        _score_distribution_plot(
            best_curves.get("score_hist") or {},
            result["best"],
            data.get("positive_label"),
            _threshold_value(result),
        ),
    )
    if not images:
        return ""
    return section(
        f"Best model: {result['best']}",
        paragraph(
            "Calibration: points on the diagonal mean a predicted 20% really happens about 20% "
            "of the time. Score distribution: the less the two classes overlap, the better the "
            "model separates them.",
            note=True,
        ),
        images,
    )


def _threshold_section(result: dict) -> str:
    threshold = result.get("threshold") or {}
    if not threshold:
        return ""
    costs = threshold.get("cost_matrix") or {}
    pairs = [
        ("chosen threshold", _number(threshold.get("chosen"))),
        ("method", threshold.get("method")),
        *((f"cost of a {name.replace('_', ' ')}", _number(value)) for name, value in costs.items()),
        (
            "expected cost per case at the chosen threshold",
            _number(threshold.get("cost_at_chosen")),
        ),
        ("expected cost if every case is flagged", _number(threshold.get("cost_reject_all"))),
        ("expected cost if no case is flagged", _number(threshold.get("cost_accept_all"))),
        ("best threshold found on the data", _number(threshold.get("empirical_best"))),
        ("expected cost there", _number(threshold.get("cost_at_empirical_best"))),
    ]
    pairs = [(label, value) for label, value in pairs if value not in (None, MISSING)]
    return section(
        "Decision threshold and cost",
        paragraph(_decision_sentence(result)) if _decision_sentence(result) else "",
        _key_value_table(pairs),
        paragraph(
            "The best threshold found on the data is shown for comparison only; choosing it "
            "on the same rows it is scored on would flatter the cost.",
            note=True,
        )
        if threshold.get("empirical_best") is not None
        else "",
        _grid(_cost_curve_plot(threshold)),
    )


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


def _warnings_section(result: dict) -> str:
    warnings = result.get("warnings") or []
    return section("Warnings", _bullets(map(str, warnings))) if warnings else ""


# ---------------------------------------------------------------- plots
def _new_axes(size: tuple[float, float] = FIGURE_SIZE) -> tuple[plt.Figure, plt.Axes]:
    fig, ax = plt.subplots(figsize=size)
    ax.grid(alpha=0.3)
    return fig, ax


def _line_style(name: str, best: str, index: int) -> dict[str, Any]:
    if name == best:
        return {"color": BEST_COLOR, "lw": 2.4, "zorder": 3, "label": f"{name} (best)"}
    color = OTHER_COLORS[index % len(OTHER_COLORS)]
    return {"color": color, "lw": 1.1, "alpha": 0.8, "zorder": 2, "label": name}


def _roc_plot(curves: dict[str, dict], best: str) -> str:
    drawn = {n: c["roc"] for n, c in curves.items() if (c.get("roc") or {}).get("fpr")}
    if not drawn:
        return ""
    fig, ax = _new_axes()
    for index, (name, roc) in enumerate(drawn.items()):
        ax.plot(roc["fpr"], roc["tpr"], **_line_style(name, best, index))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC curves")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=7, loc="lower right")
    return figure(fig)


def _precision_recall_plot(curves: dict[str, dict], best: str, positive_rate: Any) -> str:
    drawn = {n: c["pr"] for n, c in curves.items() if (c.get("pr") or {}).get("recall")}
    if not drawn:
        return ""
    fig, ax = _new_axes()
    for index, (name, pr) in enumerate(drawn.items()):
        ax.plot(pr["recall"], pr["precision"], **_line_style(name, best, index))
    if isinstance(positive_rate, (int, float)):
        ax.axhline(positive_rate, ls="--", color="grey", lw=0.8, label="chance (positive rate)")
    ax.set(xlabel="recall", ylabel="precision", title="Precision-recall curves")
    ax.set(xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(fontsize=7, loc="upper right")
    return figure(fig)


def _calibration_plot(calibration: dict, best: str) -> str:
    predicted, observed = calibration.get("predicted") or [], calibration.get("observed") or []
    if not predicted or len(predicted) != len(observed):
        return ""
    fig, ax = _new_axes((4.2, 3.6))
    top = max(max(predicted), max(observed), 0.05) * 1.05
    ax.plot([0, top], [0, top], ls="--", color="grey", lw=0.8, label="perfectly calibrated")
    ax.plot(predicted, observed, marker="o", color=BEST_COLOR, lw=1.6, label=best)
    ax.set(xlabel="mean predicted probability", ylabel="observed rate")
    ax.set(title="Calibration (reliability diagram)", xlim=(0, top), ylim=(0, top))
    ax.legend(fontsize=7, loc="upper left")
    return figure(fig)


def _score_distribution_plot(
    histogram: dict, best: str, positive_label: Any, threshold: float | None
) -> str:
    edges = histogram.get("edges") or []
    positive, negative = histogram.get("positive") or [], histogram.get("negative") or []
    if len(edges) < 2 or len(positive) != len(edges) - 1 or len(negative) != len(edges) - 1:
        return ""
    left, widths = np.asarray(edges[:-1]), np.diff(edges)
    fig, ax = _new_axes()
    positive_name = "positive" if positive_label is None else str(positive_label)
    for counts, label, color in (
        (negative, "other", "#94a3b8"),
        (positive, positive_name, "#dc2626"),
    ):
        total = max(sum(counts), 1)
        share = np.asarray(counts, dtype=float) / total
        ax.bar(left, share, width=widths, align="edge", alpha=0.55, color=color, label=label)
    if threshold is not None:
        ax.axvline(threshold, color="black", lw=1, ls=":", label=f"threshold {threshold:.3f}")
    ax.set(xlabel="predicted probability", ylabel="share of the class")
    ax.set(title=f"Score distribution by class ({best})")
    ax.legend(fontsize=7)
    return figure(fig)


def _importance_plot(importance: dict[str, Any]) -> str:
    ranked = sorted(
        ((name, float(value)) for name, value in importance.items() if value is not None),
        key=lambda item: -abs(item[1]),
    )[:TOP_FEATURES]
    if not ranked:
        return ""
    names, values = zip(*reversed(ranked), strict=True)
    fig, ax = _new_axes((5.4, 0.26 * len(ranked) + 1.0))
    ax.barh(range(len(values)), values, color=BEST_COLOR)
    ax.set_yticks(range(len(names)), labels=names, fontsize=8)
    ax.set(xlabel="importance", title="Feature importance")
    return figure(fig)


def _fairness_plot(column: str, groups: list[dict]) -> str:
    labels = [str(group.get("group")) for group in groups]
    positions = np.arange(len(labels))
    fig, ax = _new_axes((max(4.2, 0.7 * len(labels) + 2), 3.4))
    for offset, key, color in ((-0.2, "selection_rate", "#0ea5e9"), (0.2, "tpr", "#f97316")):
        values = [group.get(key) for group in groups]
        heights = [np.nan if value is None else value for value in values]
        ax.bar(positions + offset, heights, width=0.4, color=color, label=GROUP_HEADERS[key])
    ax.set_xticks(positions, labels=labels, fontsize=8, rotation=30 if len(labels) > 5 else 0)
    ax.set(ylim=(0, 1.05), ylabel="rate", title=f"Fairness by {column}")
    ax.legend(fontsize=7)
    return figure(fig)


def _auc_interval_plot(leaderboard: list[dict], best: str) -> str:
    rows = [row for row in leaderboard if isinstance(row.get("auc"), (int, float))]
    if not rows:
        return ""
    fig, ax = _new_axes((5.4, 0.35 * len(rows) + 1.2))
    for position, row in enumerate(reversed(rows)):
        auc, ci = row["auc"], row.get("auc_ci")
        has_ci = isinstance(ci, list) and len(ci) == 2 and None not in ci
        error = [[auc - ci[0]], [ci[1] - auc]] if has_ci else None
        color = BEST_COLOR if row.get("model") == best else "#64748b"
        ax.errorbar(auc, position, xerr=error, fmt="o", color=color, capsize=3)
    ax.set_yticks(range(len(rows)), labels=[str(r.get("model")) for r in reversed(rows)])
    ax.set(xlabel="AUC (95% CI)", title="AUC by model")
    return figure(fig)


def _cost_curve_plot(threshold: dict) -> str:
    curve = threshold.get("cost_curve") or {}
    grid, cost = curve.get("threshold") or [], curve.get("cost") or []
    if not grid or len(grid) != len(cost):
        return ""
    fig, ax = _new_axes()
    ax.plot(grid, cost, color=BEST_COLOR, lw=1.6, label="expected cost per case")
    for key, label, color in (
        ("cost_reject_all", "flag everyone", "#dc2626"),
        ("cost_accept_all", "flag no one", "#f59e0b"),
    ):
        if isinstance(threshold.get(key), (int, float)):
            ax.axhline(threshold[key], ls="--", lw=0.8, color=color, label=label)
    if isinstance(threshold.get("chosen"), (int, float)):
        ax.axvline(threshold["chosen"], color="black", lw=1, ls=":", label="chosen threshold")
    ax.set(xlabel="threshold", ylabel="expected cost per case", title="Cost by threshold")
    ax.legend(fontsize=7)
    return figure(fig)

"""The run report's verdict and evaluation sections: headline (best model, gates, decision),
protocol, data, requirements, leaderboard, model comparison curves, best model, decision
threshold and cost, warnings."""

from __future__ import annotations

from typing import Any

from tailorkit.report.html import escape, paragraph, section, table
from tailorkit.report.run_format import (
    MISSING,
    _bullets,
    _grid,
    _interval,
    _key_value_table,
    _number,
    _percent,
    _yes_no,
)
from tailorkit.report.run_plots import (
    _auc_interval_plot,
    _calibration_plot,
    _cost_curve_plot,
    _precision_recall_plot,
    _roc_plot,
    _score_distribution_plot,
)

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


METRIC_GLOSSARY = (
    "AUC: the chance that a randomly chosen positive case scores above a randomly chosen "
    "negative one (0.5 is a coin flip, 1 is perfect). KS: the largest gap between the score "
    "distributions of the two classes. Gini = 2 × AUC − 1. PR-AUC: average precision. Brier "
    "and log loss measure how accurate the probabilities are (lower is better). Accuracy, "
    "precision, recall, F1 and cost are measured at the decision threshold."
)


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


def _best_row(result: dict) -> dict[str, Any]:
    return next((row for row in result["leaderboard"] if row.get("model") == result["best"]), {})


def _threshold_value(result: dict) -> float | None:
    chosen = (result.get("threshold") or {}).get("chosen")
    return chosen if isinstance(chosen, (int, float)) else None


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


def _warnings_section(result: dict) -> str:
    warnings = result.get("warnings") or []
    return section("Warnings", _bullets(map(str, warnings))) if warnings else ""

"""The diagnosis run report: one self-contained HTML page plus the same content as JSON.

Sections: headline and operating point, protocol, data, requirements, leaderboard (with
single-modality vs fusion comparison), pretraining ablation (when asked), ROC / PR curves,
calibration (reliability diagram, ECE, Brier, before and after recalibration), decision
curve, subgroups (sex, age band, protected columns), example factors, warnings.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tailorkit.report.html import escape, figure, page, paragraph, section, table
from tailorkit.report.jsonable import to_jsonable
from tailorkit.report.run_explain import _ablation_section
from tailorkit.report.run_format import (
    _bullets,
    _grid,
    _interval,
    _key_value_table,
    _number,
    _percent,
)
from tailorkit.report.run_plots import BEST_COLOR, _new_axes, _precision_recall_plot, _roc_plot

BOARD = (
    ("modality", "uses", None),
    ("auroc", "AUROC", 3),
    ("auroc_ci", "AUROC 95% CI", 3),
    ("auprc", "AUPRC", 3),
    ("auprc_ci", "AUPRC 95% CI", 3),
    ("sensitivity", "sensitivity", 3),
    ("specificity", "specificity", 3),
    ("ppv", "PPV", 3),
    ("npv", "NPV", 3),
    ("threshold", "threshold", 3),
    ("brier", "Brier", 4),
    ("ece", "ECE", 3),
    ("net_benefit", "net benefit", 4),
    ("fit_seconds", "fit s", 1),
)
GLOSSARY = (
    "AUROC: chance that a diseased patient scores above a healthy one. AUPRC: average "
    "precision. Sensitivity: share of diseased patients flagged; specificity: share of healthy "
    "patients not flagged; PPV / NPV: chance that a flagged / unflagged patient is diseased / "
    "healthy at the stated prevalence. ECE: mean gap between predicted and observed risk; "
    "Brier: mean squared error of the probability. Net benefit: (true positives − false "
    "positives × t/(1−t)) / n at threshold t (Vickers and Elkin 2006)."
)


def write_clinical_report(result: dict, html_path: Path, json_path: Path) -> None:
    document = to_jsonable(result)
    for path in (html_path, json_path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(document, indent=1, allow_nan=False), encoding="utf-8")
    Path(html_path).write_text(render_clinical_report(document), encoding="utf-8")


def render_clinical_report(result: dict) -> str:
    parts = [
        _headline(result),
        section("Protocol", paragraph(result["protocol"]["description"])),
        _data_section(result),
        _requirements_section(result),
        _leaderboard_section(result),
        _ablation_section(result),
        _curves_section(result),
        _calibration_section(result),
        _decision_curve_section(result),
        _subgroup_section(result),
        _explanation_section(result),
        _warnings_section(result),
    ]
    return page(f"Diagnosis report: {result['project']}", [p for p in parts if p])


def _best(result: dict) -> dict[str, Any]:
    return next(r for r in result["leaderboard"] if r["model"] == result["best"])


def _headline(result: dict) -> str:
    row, point = _best(result), result["operating_point"]
    honest = point["cross_fitted"]
    text = (
        f"Best model: {result['best']} ({row['modality']}), AUROC {_number(row.get('auroc'))} "
        f"[{_interval(row.get('auroc_ci'))}]. Operating point ({point['policy']}): threshold "
        f"{_number(point['threshold'])}, sensitivity {_percent(row.get('sensitivity'))}, "
        f"specificity {_percent(row.get('specificity'))}; at a prevalence of "
        f"{_percent(point['prevalence'])} ({point['prevalence_source']}) PPV "
        f"{_percent(row.get('ppv'))}, NPV {_percent(row.get('npv'))}. With the threshold chosen "
        f"on the other folds (honest estimate): sensitivity {_percent(honest.get('sensitivity'))}"
        f", specificity {_percent(honest.get('specificity'))}."
    )
    gates = "all requirements met" if result["gates_passed"] else "a requirement is NOT met"
    return section("Summary", paragraph(text), paragraph(gates))


def _data_section(result: dict) -> str:
    data = result["data"]
    pairs = [
        ("rows", data["rows"]),
        ("patients", data.get("patients")),
        ("table features", data["table_features"]),
        ("modalities", ", ".join(data["modalities"])),
        ("positive rate", _percent(data["positive_rate"])),
        ("positive label", data["positive_label"]),
    ]
    pairs += [(k.replace("_", " "), v) for k, v in (data.get("load_counts") or {}).items()]
    return section("Data", _key_value_table(pairs))


def _requirements_section(result: dict) -> str:
    if not result["requirements"]:
        return ""
    rows = [
        {"requirement": r["requirement"], "value": _number(r["value"]), "passed": r["passed"]}
        for r in result["requirements"]
    ]
    return section("Requirements", table(rows))


def _leaderboard_section(result: dict) -> str:
    rows = []
    for entry in result["leaderboard"]:
        row = {"model": entry["model"] + (" (best)" if entry["model"] == result["best"] else "")}
        for key, header, digits in BOARD:
            value = entry.get(key)
            if key.endswith("_ci"):
                row[header] = _interval(value, digits)
            else:
                row[header] = value if digits is None else _number(value, digits)
        if entry.get("operating_point_error"):
            row["threshold"] = "unreachable"
        rows.append(row)
    comparison = [
        {
            "modality": c["modality"],
            "model": c["model"],
            "AUROC": _number(c["auroc"]),
            "95% CI": _interval(c["auroc_ci"]),
        }
        for c in result.get("modality_comparison") or []
    ]
    parts = [table(rows), paragraph(GLOSSARY, note=True)]
    if len(comparison) > 1:
        parts += ["<h3>Best model per modality</h3>", table(comparison)]
    return section("Leaderboard (out-of-fold)", *parts)


def _curves_section(result: dict) -> str:
    curves, best = result["curves"], result["best"]
    return section(
        "ROC and precision-recall",
        _grid(
            _roc_plot(curves, best),
            _precision_recall_plot(curves, best, result["data"]["positive_rate"]),
        ),
    )


def _reliability_plot(before: dict, after: dict, kind: str) -> str:
    fig, ax = _new_axes((4.4, 3.8))
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8, label="perfectly calibrated")
    shown = [("before recalibration", before, "#f59e0b")] if kind != "none" else []
    shown.append((f"{kind} recalibrated" if kind != "none" else "model", after, BEST_COLOR))
    for label, fitted, color in shown:
        points = fitted["reliability"]
        ax.plot(points["predicted"], points["observed"], marker="o", color=color, label=label)
    ax.set(xlabel="predicted risk", ylabel="observed rate", title="Reliability diagram")
    ax.set(xlim=(0, 1), ylim=(0, 1))
    ax.legend(fontsize=7, loc="upper left")
    return figure(fig)


def _calibration_section(result: dict) -> str:
    fitted = result["calibration"]
    kind = fitted["recalibration"]
    rows = [
        {
            "": "after" if kind != "none" else "model",
            "ECE": _number(fitted["after"]["ece"]),
            "Brier": _number(fitted["after"]["brier"], 4),
        },
    ]
    if kind != "none":
        rows.insert(
            0,
            {
                "": "before",
                "ECE": _number(fitted["before"]["ece"]),
                "Brier": _number(fitted["before"]["brier"], 4),
            },
        )
    return section(
        f"Calibration (recalibration: {kind})",
        _grid(_reliability_plot(fitted["before"], fitted["after"], kind)),
        table(rows),
    )


def _decision_curve_section(result: dict) -> str:
    curve = result["decision_curve"]
    fig, ax = _new_axes()
    ax.plot(curve["threshold"], curve["model"], color=BEST_COLOR, lw=2, label=result["best"])
    ax.plot(curve["threshold"], curve["treat_all"], color="#ef4444", lw=1, label="treat all")
    ax.plot(curve["threshold"], curve["treat_none"], color="grey", lw=1, label="treat none")
    top = max(max(curve["model"]), max(curve["treat_all"]), 0.01)
    ax.set(xlabel="threshold probability", ylabel="net benefit", title="Decision curve")
    ax.set(ylim=(-0.05 * top - 0.01, top * 1.1))
    ax.legend(fontsize=7)
    note = paragraph(
        "The model is worth using at a threshold where its curve lies above both 'treat all' "
        "and 'treat none'.",
        note=True,
    )
    return section("Decision-curve analysis", _grid(figure(fig)), note)


def _subgroup_section(result: dict) -> str:
    parts = []
    for column, groups in (result.get("subgroups") or {}).items():
        rows = [
            {
                column: g["group"],
                "n": g["n"],
                "positive rate": _percent(g["positive_rate"]),
                "AUROC": _number(g.get("auroc")),
                "sensitivity": _number(g.get("sensitivity")),
                "specificity": _number(g.get("specificity")),
                "PPV": _number(g.get("ppv")),
            }
            for g in groups
        ]
        parts.append(table(rows))
    if not parts:
        return ""
    note = paragraph("At the operating threshold; groups under 10 rows show counts only.", True)
    return section("Subgroups", *parts, note)


def _explanation_section(result: dict) -> str:
    rows = [
        {"row": e["row"], "top factors": ", ".join(e["factors"]) or "(none raising the risk)"}
        for e in result.get("explanations") or []
    ]
    return section("Top contributing factors (first rows)", table(rows)) if rows else ""


def _warnings_section(result: dict) -> str:
    warnings = result.get("warnings") or []
    return section("Warnings", _bullets(warnings)) if warnings else ""


__all__ = ["escape", "render_clinical_report", "write_clinical_report"]

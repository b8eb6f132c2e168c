"""The run report's plots (matplotlib, embedded as PNG): ROC and precision-recall curves,
calibration, score distribution, feature importance, fairness, AUC intervals, cost curve."""

from __future__ import annotations

from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tailorkit.report.html import figure  # noqa: E402

FIGURE_SIZE = (5.4, 3.6)
BEST_COLOR = "#1d4ed8"
OTHER_COLORS = ("#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#64748b", "#ec4899", "#14b8a6")
TOP_FEATURES = 20
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

"""The maintenance run report: one self-contained HTML page plus the same content as JSON."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tailorkit.report.html import figure, page, paragraph, section, table  # noqa: E402

LEADERBOARD = (
    "model",
    "rmse",
    "phm08_score",
    "mae",
    "rmse_all_windows",
    "band_coverage",
    "pr_auc",
    "roc_auc",
    "f1",
    "alert_lead_time",
    "failures_alerted",
    "anomaly_auroc",
    "fit_seconds",
    "predict_ms_per_1000",
)
GLOSSARY = (
    "RMSE / MAE: error of the remaining-life prediction in time steps, one prediction per "
    "validation life at a random cut (the C-MAPSS protocol). PHM08: the challenge score, "
    "sum of exp(-d/13)-1 for early and exp(d/10)-1 for late predictions (d = predicted - "
    "true); late is punished more; lower is better. band coverage: share of true values "
    "inside the 10-90% band (0.8 is calibrated). PR-AUC / F1: failure within the horizon. "
    "lead: median time between the first alert and the failure. anomaly AUROC: how well the "
    "reconstruction error separates healthy early-life windows from windows near failure."
)


def write_maintenance_report(document: dict[str, Any], html_path: Path, json_path: Path) -> None:
    json_path.write_text(json.dumps(document, indent=1, default=_plain))
    html_path.write_text(render(document))


def render(document: dict[str, Any]) -> str:
    sections = [
        section("Summary", paragraph(_summary(document))),
        section("Protocol", paragraph(document["protocol"]["description"])),
        section(
            "Leaderboard",
            table(document["leaderboard"], [c for c in LEADERBOARD]),
            paragraph(GLOSSARY, note=True),
        ),
    ]
    if document.get("ablation"):
        sections.append(
            section(
                "Pretraining ablation (masked-segment pretraining vs none)",
                table(document["ablation"]),
            )
        )
    if document.get("requirements"):
        sections.append(section("Requirements", table(document["requirements"])))
    if document.get("policy"):
        sections.append(_policy_section(document["policy"]))
    if document.get("examples"):
        sections.append(section("Forecasts on validation assets", _example_plots(document)))
    sections.append(section("Data", table([_data_rows(document["data"])])))
    if document.get("warnings"):
        sections.append(section("Warnings", "".join(paragraph(w) for w in document["warnings"])))
    return page(f"{document['project']}: maintenance run {document['run_id']}", sections)


def _summary(document: dict[str, Any]) -> str:
    best = document["leaderboard"][0]
    verdict = "all requirements pass" if document.get("gates_passed") else "a requirement fails"
    policy = document.get("policy")
    saving = (
        f" The predictive maintenance policy costs {policy['saving_vs_fixed']:.1%} less than the "
        "best fixed interval."
        if policy
        else ""
    )
    return (
        f"Best model: {document['best']} (RMSE {best['rmse']:.2f}, PHM08 "
        f"{best['phm08_score']:.1f}); {verdict}; registered as version "
        f"{document['model_version']}.{saving}"
    )


def _policy_section(policy: dict[str, Any]) -> str:
    rows = [
        {
            "policy": name,
            "cost per time step": values["cost_rate"],
            f"fleet cost over {policy['horizon']:g} steps": values["fleet_cost_over_horizon"],
            "failures": values["failures"],
            "planned": values["planned"],
            "mean unused life": values["mean_unused_life"],
            "interval": values.get("interval"),
        }
        for name, values in policy["policies"].items()
    ]
    fig, ax = plt.subplots(figsize=(5.4, 3.2))
    ax.bar([r["policy"] for r in rows], [r["cost per time step"] for r in rows],
           color=["#1d4ed8", "#ef4444", "#f59e0b"])  # fmt: skip
    ax.set_ylabel("cost per time step")
    ax.set_title("Maintenance policies")
    text = (
        f"Maintain at the predicted {policy['alpha']:g}-quantile of the failure time minus "
        f"{policy['offset']:g} steps (chosen for the spec's costs: {policy['costs']}). "
        + policy.get("note", "")
    )
    return section("Maintenance policy", paragraph(text), table(rows), figure(fig))


def _example_plots(document: dict[str, Any]) -> str:
    parts = []
    for example in document["examples"]:
        fig, ax = plt.subplots(figsize=(5.4, 3.4))
        time = np.array(example["time"])
        ax.fill_between(time, example["rul_low"], example["rul_high"], alpha=0.25,
                        color="#1d4ed8", label="10-90% band")  # fmt: skip
        ax.plot(time, example["rul"], color="#1d4ed8", label="predicted RUL")
        ax.plot(time, example["true_rul"], color="black", linestyle="--", label="true (capped)")
        ax.set_xlabel("time")
        ax.set_ylabel("remaining life")
        ax.set_title(f"life {example['life']}")
        if not np.isnan(example["anomaly_score"]).all():
            other = ax.twinx()
            other.plot(time, example["anomaly_score"], color="#ef4444", alpha=0.6)
            other.set_ylabel("anomaly score", color="#ef4444")
        ax.legend(loc="upper right", fontsize=7)
        parts.append(figure(fig))
    return f'<div class="grid">{"".join(parts)}</div>'


def _data_rows(data: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "source",
        "rows",
        "assets",
        "lives",
        "failed_lives",
        "sensors",
        "sensors_used",
        "constant_sensors_dropped",
        "operating_conditions",
        "life_length_median",
    )
    return {k: ", ".join(map(str, data[k])) if isinstance(data.get(k), list) else data.get(k)
            for k in keep}  # fmt: skip


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)

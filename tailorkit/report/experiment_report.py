"""The experiment report: one self-contained HTML page (the plot embedded) plus the same
content as JSON: the experiment and its plan, the decision, SRM, units per arm, the metrics,
the primary metric's lift over time with its confidence sequence, and the stored decisions.

Only renders: ``serve.experiment_report_data`` builds the document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

from tailorkit.report.html import escape, figure, page, paragraph, section, table
from tailorkit.report.jsonable import to_jsonable

LIFT_COLOR = "#1d4ed8"
FIXED_COLOR = "#f59e0b"
POINT_COLUMNS = ["units", "at", "lift", "confidence sequence", "fixed-horizon", "decision"]


def write_experiment_report(document: dict, html_path: Path, json_path: Path) -> None:
    """Write the report ``document`` as a self-contained HTML page and as JSON."""
    document = to_jsonable(document)
    html_path, json_path = Path(html_path), Path(json_path)
    for folder in {html_path.parent, json_path.parent}:
        folder.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(document, indent=1, allow_nan=False), encoding="utf-8")
    html_path.write_text(render_experiment_report(document), encoding="utf-8")


def render_experiment_report(document: dict) -> str:
    """The whole HTML page of an already JSON-plain report document."""
    experiment, analysis = document["experiment"], document["analysis"]
    title = f"Experiment {experiment['id']}: {experiment['project']} ({experiment['name']})"
    return page(
        title,
        [
            _decision_section(analysis, document["analysis_options"]["srm_alpha"]),
            _experiment_section(document),
            _units_section(experiment, analysis),
            _metrics_section(analysis),
            _timeline_section(document["timeline"], analysis),
            _decisions_section(document["decisions"]),
            paragraph(f"generated at {document['generated_at']}", note=True),
        ],
    )


def percent(value: Any) -> str:
    """A relative lift as ``+1.23%`` (empty when unknown)."""
    return "" if value is None else f"{value:+.2%}"


def p_value(value: Any) -> str:
    return "" if value is None else f"{value:.3g}"


def moment(text: str) -> str:
    """An ISO time to the second, as people read it."""
    return text[:19].replace("T", " ")


def interval(low: Any, high: Any) -> str:
    return "" if low is None or high is None else f"[{percent(low)}, {percent(high)}]"


def _decision_section(analysis: dict, srm_alpha: float) -> str:
    srm = analysis["srm_p_value"]
    if srm is None:
        srm_text = "SRM: no units yet"
    else:
        verdict = "a mismatch: the assignment is broken" if srm < srm_alpha else "no mismatch"
        srm_text = (
            f"SRM p-value {srm:.3g}: {verdict} (chi-square against the weights, alpha {srm_alpha})"
        )
    decision = escape(analysis["decision"])
    parts = [
        f'<p><strong>decision: <span class="decision">{decision}</span></strong></p>',
        paragraph(f"reason: {analysis['reason']}"),
        paragraph(srm_text),
    ]
    if analysis.get("action"):
        parts.append(paragraph(f"action taken: {analysis['action']}"))
    parts += [paragraph(f"warning: {w}", note=True) for w in analysis.get("warnings", [])]
    return section("Decision", *parts)


def _experiment_section(document: dict) -> str:
    experiment, options = document["experiment"], document["analysis_options"]
    plan = experiment.get("plan")
    rows = [
        {"item": "project", "value": experiment["project"]},
        {"item": "mode", "value": experiment["mode"]},
        {"item": "status", "value": experiment["status"]},
        {"item": "created", "value": experiment["created_at"]},
        {"item": "stopped", "value": experiment["stopped_at"] or "running"},
        {"item": "plan", "value": "stored with the experiment" if plan else "none"},
        {"item": "primary metric", "value": options["primary"]},
        {"item": "guardrails", "value": ", ".join(options["guardrails"]) or "none"},
        {"item": "min units per arm", "value": options["min_units"]},
        {"item": "min duration (s)", "value": f"{options['min_duration_s']:g}"},
        {"item": "auto-promote", "value": "yes" if plan and plan["auto_promote"] else "no"},
        {"item": "inference", "value": options["method"]},
    ]
    return section("Experiment and plan", table(rows, ["item", "value"]))


def _units_section(experiment: dict, analysis: dict) -> str:
    total_weight = sum(arm["weight"] for arm in experiment["arms"]) or 1.0
    total_units = sum(analysis["units"].values()) or 1
    rows = [
        {
            "arm": arm["alias"],
            "weight": f"{arm['weight']:g}",
            "planned share": f"{arm['weight'] / total_weight:.1%}",
            "units": analysis["units"].get(arm["alias"], 0),
            "share": f"{analysis['units'].get(arm['alias'], 0) / total_units:.1%}",
        }
        for arm in experiment["arms"]
    ]
    return section("Arms and units", table(rows))


def _metrics_section(analysis: dict) -> str:
    rows = []
    for m in analysis["metrics"]:
        (champion, control), (challenger, treatment) = m["arm_values"].items()
        rows.append(
            {
                "metric": m["name"],
                "role": m["role"],
                "better": "higher" if m["higher_is_better"] else "lower",
                champion: control,
                challenger: treatment,
                "lift": percent(m["lift"]),
                "interval": interval(m["ci_low"], m["ci_high"]),
                "p": p_value(m["p_value"]),
                "BH p": p_value(m["p_value_bh"]),
                "method": m["method"],
            }
        )
    return section("Metrics", table(rows))


def _timeline_section(timeline: dict, analysis: dict) -> str:
    points = [p for p in timeline["points"] if p["lift"] is not None]
    note = paragraph(
        f"The lift of {timeline['metric']} as the analysis stood after each share of the units "
        "(units first seen and feedback received by then). The band is the confidence "
        "sequence, valid at every look at once; the dashed lines are the fixed-horizon "
        "interval, valid at one look planned in advance only.",
        note=True,
    )
    rows = [
        {
            "units": p["units"],
            "at": moment(p["at"]),
            "lift": percent(p["lift"]),
            "confidence sequence": interval(p["ci_low"], p["ci_high"]),
            "fixed-horizon": interval(p["fixed_ci_low"], p["fixed_ci_high"]),
            "decision": p["decision"],
        }
        for p in timeline["points"]
    ]
    plot = _lift_plot(points, timeline["metric"]) if points else paragraph("(no estimate yet)")
    return section(
        f"Lift of {timeline['metric']} over time", note, plot, table(rows, POINT_COLUMNS)
    )


def _lift_plot(points: list[dict], metric: str) -> str:
    units = [p["units"] for p in points]
    fig = Figure(figsize=(7.2, 3.8))  # no pyplot state: the service draws it in a thread pool
    ax = fig.subplots()
    ax.grid(alpha=0.3)
    low, high = [p["ci_low"] for p in points], [p["ci_high"] for p in points]
    ax.fill_between(units, low, high, color=LIFT_COLOR, alpha=0.18, label="confidence sequence")
    for key, label in (("fixed_ci_low", "fixed-horizon interval"), ("fixed_ci_high", None)):
        values = [p[key] for p in points]
        ax.plot(units, values, ls="--", lw=1, color=FIXED_COLOR, label=label)
    ax.plot(units, [p["lift"] for p in points], marker="o", ms=3, color=LIFT_COLOR, label="lift")
    ax.axhline(0, color="black", lw=0.8)
    shipped = next((p["units"] for p in points if p["decision"] == "ship"), None)
    if shipped is not None:
        ax.axvline(shipped, color="#15803d", lw=1, ls=":", label="first look deciding ship")
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set(xlabel="units assigned", ylabel="relative lift", title=f"Lift of {metric}")
    ax.legend(fontsize=7, loc="best")
    return figure(fig)


def _decisions_section(stored: list[dict]) -> str:
    rows = [
        {
            "at": moment(d["at"]),
            "decision": d["decision"],
            "action": d["action"] or "",
            "actor": d["actor"],
            "lift": percent(d["lift"]),
            "interval": interval(d["ci_low"], d["ci_high"]),
            "reason": d["reason"] or "",
        }
        for d in stored
    ]
    return section(f"Stored decisions ({len(rows)})", table(rows))

"""The data-quality profile as one self-contained HTML page: overview, issues, columns,
plots and drift.

Only renders: ``tailorkit.data.profile`` computes the profile and passes the thresholds the
plots and notes mention.
"""

from __future__ import annotations

from tailorkit.report import html
from tailorkit.report.html import figure, plt

SEVERITIES = ("high", "medium", "low")


def render_profile_html(profile: dict, *, psi_alert: float, missing_warn_fraction: float) -> str:
    """The profile as an HTML page: overview, issues, columns, plots, drift.

    ``psi_alert`` and ``missing_warn_fraction`` are the thresholds drawn on the plots.
    """
    issues = profile["issues"]
    column_rows = _column_rows(profile)
    plots = "".join(_plots(profile, psi_alert, missing_warn_fraction))
    sections = [
        html.section("Overview", html.table(_overview_rows(profile), ["item", "value"])),
        html.section(
            f"Issues ({len(issues)})",
            html.table(issues, ["severity", "column", "kind", "message"]),
        ),
        html.section("Columns", html.table(column_rows)),
        html.section("Plots", f'<div class="grid">{plots}</div>'),
    ]
    if profile.get("drift") is not None:
        sections.append(
            html.section(
                "Drift: training vs new data",
                html.paragraph(
                    f"PSI above {psi_alert} means the column's distribution has shifted; "
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


def _plots(profile: dict, psi_alert: float, missing_warn_fraction: float) -> list[str]:
    plots = []
    stats = sorted(profile["column_stats"], key=lambda s: -s["missing_fraction"])[:30]
    if stats:
        fig, axis = plt.subplots(figsize=(6, max(2.0, 0.22 * len(stats) + 1)))
        axis.barh([s["column"] for s in stats][::-1], [s["missing_fraction"] for s in stats][::-1])
        axis.axvline(missing_warn_fraction, color="#b91c1c", linestyle="--", linewidth=1)
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
        colors = ["#b91c1c" if d["psi"] > psi_alert else "#3b82f6" for d in drift][::-1]
        fig, axis = plt.subplots(figsize=(6, max(2.0, 0.22 * len(drift) + 1)))
        axis.barh([d["column"] for d in drift][::-1], [d["psi"] for d in drift][::-1], color=colors)
        axis.axvline(psi_alert, color="#52606d", linestyle="--", linewidth=1)
        axis.set_xlabel("PSI (training vs new)")
        axis.set_title("Drift per column")
        plots.append(figure(fig))
    return plots


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

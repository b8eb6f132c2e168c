"""The recommendation run report: protocol, leaderboard with intervals, cold start,
pretraining ablation, training curves, coverage against popularity bias, requirements."""

from __future__ import annotations

from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from tailorkit.report.html import figure, page, paragraph, section, table  # noqa: E402

COLUMNS = (
    "model",
    "hr@5",
    "hr@10",
    "hr@10_ci",
    "ndcg@10",
    "ndcg@10_ci",
    "hr@20",
    "ndcg@20",
    "mrr",
    "coverage@10",
    "popularity_bias@10",
    "cold_hr@10",
    "fit_seconds",
    "best_epoch",
    "prior_weight",
)


def render_recommendation_report(result: dict[str, Any]) -> str:
    rows = result["leaderboard"]
    chooses = sorted({c for r in rows for c in r if c.startswith("valid_")})  # the champion's
    columns = [c for c in COLUMNS[:1] + tuple(chooses) + COLUMNS[1:] if any(c in r for r in rows)]
    parts = [
        section(
            "Result",
            paragraph(
                f"Best model on the validation cases: {result['best']} (registered as version "
                f"{result['model_version']}); requirements "
                f"{'all passed' if result['gates_passed'] else 'NOT all passed'}."
            ),
        ),
        section("Protocol", paragraph(result["protocol"]["description"])),
        section("Data", table([{"count": k, "value": v} for k, v in result["data"].items()])),
        section("Requirements", table(result["requirements"])) if result["requirements"] else "",
        section(
            "Leaderboard",
            table(rows, columns),
            paragraph(
                "HR@K: share of test users whose held-out item is in the top K; NDCG@K "
                "discounts by position; MRR: mean reciprocal rank over the full list; "
                "coverage: share of the catalogue in any top-10 list; popularity bias: mean "
                "share of training users who had the recommended items (popularity's is the "
                "ceiling of echoing popularity); cold HR@10: HR@10 on a split whose "
                "withheld items never appear in training; prior weight: the weight validation gave "
                "SASRec's co-occurrence prior (ItemKNN over the last items; 0 = none).",
                note=True,
            ),
        ),
        _coverage_plot(rows),
        _ablation(result.get("ablation", {}).get("pretraining")),
        _new_users(result.get("new_users")),
        _curves(rows),
        section("Warnings", table([{"warning": w} for w in result["warnings"]]))
        if result.get("warnings")
        else "",
    ]
    return page(f"Run report: {result['project']} (recommendation)", [p for p in parts if p])


def _coverage_plot(rows: list[dict]) -> str:
    fig, ax = plt.subplots(figsize=(5.4, 3.6))
    for row in rows:
        ax.scatter(row.get("popularity_bias@10", 0), row.get("ndcg@10", 0))
        ax.annotate(row["model"], (row.get("popularity_bias@10", 0), row.get("ndcg@10", 0)))
    ax.set_xlabel("popularity bias of top-10 (lower = less popularity echo)")
    ax.set_ylabel("NDCG@10")
    return section("Accuracy against popularity bias", figure(fig))


def _ablation(ablation: dict | None) -> str:
    if not ablation:
        return ""
    rows = [
        {"variant": "with masked-item pretraining", **ablation["with"]},
        {"variant": "without pretraining", **ablation["without"]},
    ]
    kept = "kept" if ablation.get("kept", "with") == "with" else "dropped"
    chosen = (
        f" Both variants compete on the validation cases' {ablation['chosen_by'][6:]}: "
        f"here pretraining is {kept}."
        if "chosen_by" in ablation
        else ""
    )
    return section(
        f"Pretraining ablation ({ablation['model']})",
        table(rows),
        paragraph(
            f"Test NDCG@10, with minus without: {ablation['delta_ndcg@10']:+.4f}.{chosen}",
            note=True,
        ),
    )


def _new_users(new_users: dict | None) -> str:
    if not new_users:
        return ""
    kept = "segment popularity" if new_users["kept"] else "global popularity"
    return section(
        "Users without history",
        table(new_users["rows"]),
        paragraph(
            f"The test and validation cases ranked as if their users were new: by the items "
            f"popular with everyone, or with the users who share their "
            f"{', '.join(new_users['columns']) or '(no usable attribute)'} "
            f"({len(new_users['segments'])} segments of at least "
            f"{new_users.get('min_users', 20)} users). On the validation cases' "
            f"{new_users['chosen_by'][6:]}, users without history get {kept}.",
            note=True,
        ),
    )


def validation_curves(epochs: list[dict]) -> list[list[dict]]:
    """The validated epochs of each network (a seed bag logs its members' epochs, tagged)."""
    networks: dict[int, list[dict]] = {}
    for entry in epochs:
        if entry.get("valid_ndcg@10") is not None:
            networks.setdefault(entry.get("member", 0), []).append(entry)
    return [networks[k] for k in sorted(networks)]


def _curves(rows: list[dict]) -> str:
    curves = [r for r in rows if r.get("epochs")]
    if not curves:
        return ""
    fig, ax = plt.subplots(figsize=(5.4, 3.6))
    for colour, row in enumerate(curves):
        networks = validation_curves(row["epochs"])
        for k, points in enumerate(networks):
            label = row["model"] + (f" ({len(networks)} networks)" if len(networks) > 1 else "")
            ax.plot(
                [e["epoch"] for e in points],
                [e["valid_ndcg@10"] for e in points],
                marker="o",
                color=f"C{colour}",
                label=label if k == 0 else None,
            )
    ax.set_xlabel("fine-tuning epoch")
    ax.set_ylabel("validation NDCG@10")
    ax.legend(fontsize=8)
    return section("Training curves (early stopping on validation NDCG@10)", figure(fig))

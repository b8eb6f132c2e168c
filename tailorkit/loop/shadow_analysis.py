"""One analysis of a shadow experiment: the champion and the shadow challenger compared on
the same labelled cases, then the decision rule of A/B experiments (``loop.decision``).

- probability outputs (credit risk, fraud, diagnosis): the primary metric is the difference
  in AUC (DeLong), the guardrail the difference in log loss per row (paired): a challenger
  that ranks better but whose probabilities are worse is not shipped;
- recommendations: the primary metric is NDCG of each shown list per labelled request, the
  guardrail the hit rate per request (both paired).

Every model saw every case, so there is no sample-ratio test (``srm_p_value`` is None) and the
``units`` of both arms are the paired cases: labelled rows, or labelled requests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tailorkit.evaluate.experiment_stats import Estimate, ExperimentDataError, benjamini_hochberg
from tailorkit.evaluate.paired import compare_auc, compare_per_case, log_losses
from tailorkit.evaluate.ranking import list_hit, list_ndcg
from tailorkit.loop.decision import Decision, Guardrail, Rule, decide
from tailorkit.loop.experiment_analysis import MetricSpec, decision_json, metric_json


@dataclass
class ProbabilityPairs:
    """Per labelled row: its 0/1 label and both models' probabilities."""

    labels: np.ndarray
    champion: np.ndarray
    challenger: np.ndarray

    @property
    def cases(self) -> int:
        return len(self.labels)


@dataclass
class RankingPairs:
    """Per labelled request: both models' shown items (in rank order) and the relevant ones."""

    champion: list[list[str]] = field(default_factory=list)
    challenger: list[list[str]] = field(default_factory=list)
    relevant: list[set[str]] = field(default_factory=list)

    @property
    def cases(self) -> int:
        return len(self.relevant)


def analyze_shadow(
    *,
    arms: Sequence[str],
    pairs: ProbabilityPairs | RankingPairs,
    rule: Rule = Rule(),
    duration_s: float = 0.0,
    method: str = "sequential",
    alpha: float = 0.05,
) -> dict:
    """``arms``: the live alias (champion), then the shadow alias (challenger)."""
    names = list(arms)
    n = pairs.cases
    result: dict = {
        "units": dict.fromkeys(names, n),
        "method": method,
        "srm_p_value": None,
        "metrics": [],
    }
    if n < 2:
        reason = f"{n} labelled cases scored by both models; 2 are needed"
        return {**result, **decision_json(Decision("invalid", reason))}
    specs = _metric_specs(pairs)
    estimates: dict[str, Estimate] = {}
    for spec, (control, treatment) in zip(specs, _values(pairs), strict=True):
        try:
            estimates[spec.name] = _compare(spec, pairs, control, treatment, method, alpha, rule)
        except ExperimentDataError as error:
            result.setdefault("warnings", []).append(f"{spec.name}: {error}")
    primary, guardrail = specs
    if primary.name not in estimates:
        reason = result["warnings"][0]
        return {**result, **decision_json(Decision("invalid", reason))}
    (p_bh,) = benjamini_hochberg([estimates[primary.name].p_value])  # one non-guardrail metric
    adjusted = {primary.name: p_bh}
    for spec in specs:
        if spec.name in estimates:
            result["metrics"].append(metric_json(spec, estimates[spec.name], adjusted, names))
    checked = estimates.get(guardrail.name)
    decision = decide(
        estimates[primary.name],
        units=[n, n],
        srm_p_value=None,
        duration_s=duration_s,
        rule=Rule(rule.min_units, rule.min_duration_s, higher_is_better=True),
        guardrails=[Guardrail(checked, higher_is_better=guardrail.higher_is_better)]
        if checked is not None
        else [],
    )
    return {**result, **decision_json(decision)}


def _metric_specs(pairs: ProbabilityPairs | RankingPairs) -> tuple[MetricSpec, MetricSpec]:
    if isinstance(pairs, ProbabilityPairs):
        return MetricSpec("auc"), MetricSpec("log_loss", higher_is_better=False, guardrail=True)
    ks = {len(items) for items in pairs.champion}
    k = str(ks.pop()) if len(ks) == 1 else "k"
    return MetricSpec(f"ndcg@{k}"), MetricSpec(f"hit_rate@{k}", guardrail=True)


def _values(pairs: ProbabilityPairs | RankingPairs) -> list[tuple[np.ndarray, np.ndarray]]:
    """(champion, challenger) per metric: probabilities for the AUC, per-case values else."""
    if isinstance(pairs, ProbabilityPairs):
        losses = [log_losses(pairs.labels, p) for p in (pairs.champion, pairs.challenger)]
        return [(pairs.champion, pairs.challenger), (losses[0], losses[1])]
    per_case = []
    for metric in (list_ndcg, list_hit):
        per_case.append(
            tuple(
                np.array([metric(items, r) for items, r in zip(lists, pairs.relevant, strict=True)])
                for lists in (pairs.champion, pairs.challenger)
            )
        )
    return per_case


def _compare(
    spec: MetricSpec,
    pairs: ProbabilityPairs | RankingPairs,
    control: np.ndarray,
    treatment: np.ndarray,
    method: str,
    alpha: float,
    rule: Rule,
) -> Estimate:
    options = {"method": method, "alpha": alpha, "planned_units": rule.min_units}
    if spec.name == "auc":
        return compare_auc(pairs.labels, control, treatment, **options)
    return compare_per_case(spec.name, control, treatment, **options)

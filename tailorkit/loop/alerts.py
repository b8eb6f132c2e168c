"""Alert rules over one monitoring window: a pure function from the window's result (the
JSON of ``GET /v1/projects/{p}/monitoring``) and the spec's ``monitoring`` rules to alerts.

Rules (one alert per rule at most, naming everything that tripped it):

- ``feature_drift``: a feature's PSI above ``drift_psi``;
- ``dataset_drift``: at least ``dataset_drift_share`` of the features drifted by their
  statistical test (``drifted``, as Evidently counts them);
- ``prediction_drift``: the score's PSI above ``drift_psi``;
- ``metric_drop``: a realised metric worse than its reference by more than ``metric_drop``
  and beyond its interval (the interval's better end is still worse than the reference).

The three drift rules need ``min_rows`` rows in the window; the realised metric has its
interval for that. Storing, the cooldown and delivery belong to the service
(``tailorkit.serve.alerting``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from tailorkit.evaluate.metrics import HIGHER_IS_BETTER
from tailorkit.spec import MonitoringSection

RULES = ("feature_drift", "dataset_drift", "prediction_drift", "metric_drop")
# metrics where a larger value is worse (classification losses, RUL errors, costs)
LOWER_IS_BETTER = frozenset(
    {name for name, higher in HIGHER_IS_BETTER.items() if not higher}
    | {"cost", "rmse", "mae", "phm08_score", "rmse_all_windows", "policy_cost_rate"}
)


@dataclass(frozen=True)
class Alert:
    """One rule that fired on one window."""

    project: str
    rule: str
    severity: str  # "warning" or "critical"
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    model_version: int | None = None
    window: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def alerts(result: Mapping[str, Any], rules: MonitoringSection) -> list[Alert]:
    """The alerts ``rules`` raise on one monitoring ``result`` (empty for an empty window)."""
    found: list[tuple[str, str, str, dict]] = []
    rows = int(result.get("rows") or 0)
    if rows >= rules.min_rows:
        found += _feature_drift(result, rules) + _dataset_drift(result, rules)
        found += _prediction_drift(result, rules)
    found += _metric_drop(result, rules)
    context = {"rows": rows, "reference_rows": result.get("reference_rows")}
    return [
        Alert(
            project=str(result.get("project", "")),
            rule=rule,
            severity=severity,
            message=message,
            details={**details, **context},
            model_version=result.get("model_version"),
            window=result.get("window"),
        )
        for rule, severity, message, details in found
    ]


def _feature_drift(result: Mapping[str, Any], rules: MonitoringSection) -> list[tuple]:
    drifted = [
        feature
        for feature in result.get("features") or []
        if feature.get("psi") is not None and feature["psi"] > rules.drift_psi
    ]
    if not drifted:
        return []
    drifted.sort(key=lambda feature: -feature["psi"])
    named = ", ".join(f"{f['feature']} (PSI {f['psi']:.3f})" for f in drifted[:5])
    more = f" and {len(drifted) - 5} more" if len(drifted) > 5 else ""
    message = f"{len(drifted)} feature(s) drifted past PSI {rules.drift_psi:g}: {named}{more}"
    details = {"threshold": rules.drift_psi, "features": [_feature(f) for f in drifted]}
    return [("feature_drift", "warning", message, details)]


def _feature(entry: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("feature", "psi", "test", "statistic", "p_value", "drifted", "unseen_share")
    return {key: entry[key] for key in keys if key in entry}


def _dataset_drift(result: Mapping[str, Any], rules: MonitoringSection) -> list[tuple]:
    features = result.get("features") or []
    if not features:
        return []
    drifted = [f["feature"] for f in features if f.get("drifted")]
    share = len(drifted) / len(features)
    if share < rules.dataset_drift_share:
        return []
    message = (
        f"dataset drift: {len(drifted)} of {len(features)} features ({share:.0%}) drifted "
        f"(rule: {rules.dataset_drift_share:.0%})"
    )
    details = {"share": share, "threshold": rules.dataset_drift_share, "drifted": drifted}
    return [("dataset_drift", "critical", message, details)]


def _prediction_drift(result: Mapping[str, Any], rules: MonitoringSection) -> list[tuple]:
    psi = (result.get("prediction") or {}).get("psi")
    if psi is None or psi <= rules.drift_psi:
        return []
    message = f"prediction drift: the score's PSI is {psi:.3f} (rule: {rules.drift_psi:g})"
    return [("prediction_drift", "warning", message, {"psi": psi, "threshold": rules.drift_psi})]


def _metric_drop(result: Mapping[str, Any], rules: MonitoringSection) -> list[tuple]:
    dropped = []
    for name, entry in ((result.get("realised") or {}).get("metrics") or {}).items():
        drop = metric_drop(name, entry)
        if drop is not None and drop > rules.metric_drop and _beyond_interval(name, entry):
            dropped.append({"metric": name, **entry, "drop": drop})
    if not dropped:
        return []
    named = ", ".join(
        f"{d['metric']} {d['value']:.4g} vs reference {d['reference']:.4g}" for d in dropped
    )
    message = f"realised performance fell by more than {rules.metric_drop:g}: {named}"
    details = {"threshold": rules.metric_drop, "metrics": dropped}
    return [("metric_drop", "critical", message, details)]


def higher_is_better(name: str, entry: Mapping[str, Any]) -> bool:
    """The metric's direction: the entry's ``higher_is_better`` if it says, else by name."""
    stated = entry.get("higher_is_better")
    return bool(stated) if stated is not None else name not in LOWER_IS_BETTER


def metric_drop(name: str, entry: Mapping[str, Any]) -> float | None:
    """How much worse than its reference a realised metric is (negative: better; None
    without a value or a reference)."""
    value, reference = entry.get("value"), entry.get("reference")
    if value is None or reference is None:
        return None
    return reference - value if higher_is_better(name, entry) else value - reference


def _beyond_interval(name: str, entry: Mapping[str, Any]) -> bool:
    """The interval's better end is still worse than the reference (no interval: True)."""
    better_end = entry.get("ci_high") if higher_is_better(name, entry) else entry.get("ci_low")
    if better_end is None:
        return True
    if higher_is_better(name, entry):
        return better_end < entry["reference"]
    return better_end > entry["reference"]

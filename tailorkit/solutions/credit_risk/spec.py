"""The credit-risk spec: the tabular spec with a ranking metric its leaderboard has, and
the solution's default layer."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from tailorkit.evaluate.metrics import METRIC_NAMES
from tailorkit.gates import MODEL_METRICS
from tailorkit.spec import Spec

METRICS = MODEL_METRICS


class CreditSpec(Spec):
    """The tabular spec, with a ranking metric the credit leaderboard has."""

    @model_validator(mode="after")
    def _metric_ranks(self) -> CreditSpec:
        known = (*METRIC_NAMES, "cost") if self.cost else METRIC_NAMES
        if self.evaluation.metric not in known:
            needs = "" if self.cost else " (cost needs a cost: section)"
            raise ValueError(
                f"evaluation.metric {self.evaluation.metric!r} cannot rank the models; use "
                f"one of {', '.join(known)}{needs}"
            )
        return self


DEFAULTS: dict[str, Any] = {
    "models": ["logistic", "lightgbm", "ft_transformer"],
    "evaluation": {"protocol": "kfold", "folds": 5, "seed": 0, "metric": "auc"},
    "cost": {"false_negative": 5.0, "false_positive": 1.0},
    "ensemble": True,
}

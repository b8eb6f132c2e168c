"""Credit risk: applications in, probability of default, score points and reason codes out.

Defaults: a logistic scorecard, LightGBM and an FT-Transformer with self-supervised
pretraining, blended on out-of-fold predictions; stratified 5-fold CV; AUC as the headline
metric; the classic 5:1 cost of accepting a bad applicant versus rejecting a good one.
"""

from __future__ import annotations

from typing import Any

DEFAULTS: dict[str, Any] = {
    "models": ["logistic", "lightgbm", "ft_transformer"],
    "evaluation": {"protocol": "kfold", "folds": 5, "seed": 0, "metric": "auc"},
    "cost": {"false_negative": 5.0, "false_positive": 1.0},
    "ensemble": True,
}

POSITIVE_LABELS = ("1", "bad", "yes", "true", "default", "defaulted", "y", "fraud")


def init_template(*, name: str, data: str, target: str, protected: list[str]) -> str:
    """A commented ``tailorkit.yaml`` for a credit-risk project."""
    protected_line = f"[{', '.join(protected)}]" if protected else "[]"
    return f"""\
# tailorkit project spec. Check it with `tailorkit validate --show`, train with `tailorkit run`.
name: {name}
solution: credit_risk

data:
  train: {data}              # CSV, Parquet, JSON lines, Excel, or a SQLAlchemy URL
  # table: applications      # with a SQL URL: a table name, or `query: SELECT ...`
  # key: customer_id         # identifier kept out of the model and copied into predictions
  # unlabeled: data/new_applicants.csv   # unlabeled rows help the transformer's pretraining

target: {target}
# positive_label: bad        # the target value that means "defaulted" (default: 1/bad/yes/true)

features:
  protected: {protected_line}    # audited for fairness (per-group metrics, parity gaps)
  exclude_protected: true    # protected columns are audited but not used by the models
  # drop: [column_a]         # columns to ignore
  # types: {{zip_code: categorical}}   # override the inferred type of a column

# models: [logistic, lightgbm, ft_transformer]   # the solution's default candidates
# ensemble: true             # weighted blend chosen on out-of-fold predictions

evaluation:
  protocol: kfold            # or holdout (holdout_fraction: 0.2)
  folds: 5
  seed: 0

cost:                        # cost per decision; the decision threshold minimizes it
  false_negative: 5          # a bad applicant accepted
  false_positive: 1          # a good applicant rejected

requirements:                # checked after every run; `tailorkit run --enforce` fails on any
  - auc >= 0.70
  # - demographic_parity_difference[sex] <= 0.10
  # - predict_ms_per_1000 <= 50
"""

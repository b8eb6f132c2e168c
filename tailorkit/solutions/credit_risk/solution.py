"""The credit-risk solution object: the contract's methods over this package's modules."""

from __future__ import annotations

from pathlib import Path
from typing import IO, Any

from tailorkit.data.dataset import load_training_data, read_training_table
from tailorkit.registry import ModelVersion, Registry
from tailorkit.report.run_report import write_run_report
from tailorkit.solutions.base import Evaluation, ProfileTable, RunContext, Say, Solution
from tailorkit.solutions.credit_risk import compression, templates, train
from tailorkit.solutions.credit_risk.predict import Scorer, score_file
from tailorkit.solutions.credit_risk.serving import ScoringAdapter
from tailorkit.solutions.credit_risk.spec import DEFAULTS, METRICS, CreditSpec


class CreditRisk(Solution):
    name = "credit_risk"
    spec_class = CreditSpec
    defaults = DEFAULTS
    metrics = METRICS
    headline = "auc"
    board_columns = {
        "model": "model",
        "auc": "AUC",
        "auc_ci": "95% CI",
        "ks": "KS",
        "brier": "Brier",
        "cost": "cost",
        "fit_seconds": "fit s",
        "predict_ms_per_1000": "ms/1k rows",
    }
    summary = "applications -> default probability, decision, reason codes, fairness audit"

    def init_template(self, name: str, options: dict[str, Any]) -> str:
        return templates.init_template(name, options)

    def demo_project(self, folder: Path) -> tuple[Path, str]:
        return templates.demo_project(folder)

    def describe_data(self, spec: CreditSpec, base_dir: Path) -> tuple[list[str], str]:
        data = load_training_data(spec, base_dir)
        summary = (
            f"data: {len(data.y)} labeled rows, {data.X.shape[1]} features, "
            f"positive rate {data.y.mean():.3f}"
        )
        return list(data.warnings), summary

    def profile_tables(self, spec: CreditSpec, base_dir: Path) -> list[ProfileTable]:
        section = spec.data
        frame = read_training_table(section, base_dir)
        return [ProfileTable(section.train, frame, target=spec.target, key=section.key)]

    def fit_candidates(self, context: RunContext) -> Evaluation:
        return train.fit_candidates(context)

    def write_report(self, document: dict[str, Any], html_path: Path, json_path: Path) -> None:
        write_run_report(document, html_path, json_path)

    def predict_file(
        self, version: ModelVersion, source: str, handle: IO[str], *, chunk_rows: int, warn: Say
    ) -> int:
        """Probability, decision at the model's threshold and reason codes, streamed as CSV."""
        scorer = Scorer.from_version(version)
        return score_file(scorer, source, handle, chunk_rows=chunk_rows, warn=warn)

    def serving_adapter(self, version: ModelVersion) -> ScoringAdapter:
        return ScoringAdapter(version, self.name)

    def compress(
        self, registry: Registry, version: ModelVersion, spec: CreditSpec, base_dir: Path, **options
    ) -> dict[str, Any]:
        return compression.compress_registered(registry, version, spec, base_dir, **options)

    def export_edge(self, version: ModelVersion, folder: Path) -> Path:
        return compression.export_edge(version, folder)


SOLUTION = CreditRisk()
